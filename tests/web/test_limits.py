"""web/limits.py: counting in memory:// without a timer per hit, the same counts as the library."""

from __future__ import annotations

import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter

from lastmile_portal.web import limits as rate_limits


def test_a_timerless_hit_counts_exactly_as_the_storage_itself_would(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    ours, theirs = MemoryStorage(), MemoryStorage()
    item = parse("3 per minute")
    key = item.key_for("token:abc", "driver-pings")
    # This test's hits all take the lean path.
    monkeypatch.setattr(rate_limits, "_next_sweep", time.time() + 3600)

    counts = [rate_limits._memory_incr(ours, key, item.get_expiry()) for _ in range(4)]

    assert counts == [theirs.incr(key, item.get_expiry()) for _ in range(4)] == [1, 2, 3, 4]
    assert abs(ours.expirations[key] - theirs.expirations[key]) < 1.0
    # The library's strategy reads our counts the same way.
    assert not FixedWindowRateLimiter(ours).test(item, "token:abc", "driver-pings")
    assert FixedWindowRateLimiter(ours).get_window_stats(item, "token:abc", "driver-pings")[1] == 0


def test_an_ended_window_starts_again_from_one(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    storage = MemoryStorage()
    monkeypatch.setattr(rate_limits, "_next_sweep", time.time() + 3600)
    assert rate_limits._memory_incr(storage, "k", 60) == 1
    storage.expirations["k"] = time.time() - 1  # the window is over

    assert rate_limits._memory_incr(storage, "k", 60) == 1


def test_one_hit_in_a_while_still_goes_through_the_library_so_its_sweep_runs(  # type: ignore[no-untyped-def]
    monkeypatch,
) -> None:
    storage = MemoryStorage()
    monkeypatch.setattr(rate_limits, "_next_sweep", 0.0)  # due

    assert rate_limits._memory_incr(storage, "k", 60) == 1

    assert rate_limits._next_sweep > time.time()  # the next sweep is a while away
    assert storage.timer.is_alive() or storage.timer.finished.is_set()  # incr started it
