"""The demo's day looks like a working day whatever the hour it is started (DEMO_CLOCK)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from lastmile_portal import create_app
from lastmile_portal.adapters.clock import DemoClock, FrozenClock, SystemClock
from lastmile_portal.adapters.migrations import upgrade
from lastmile_portal.adapters.socketio_publisher import RecordingPublisher
from lastmile_portal.config import ConfigError, load_settings
from lastmile_portal.demo import ensure_demo
from lastmile_portal.domain import model as m

BERLIN = ZoneInfo("Europe/Berlin")
# 21:50 in Berlin: where a new user tried the demo and got windows at 23:00-01:00.
EVENING = datetime(2026, 11, 25, 20, 50, tzinfo=UTC)


def _demo_app(config: dict[str, Any], clock: Any) -> Any:
    app = create_app({**config, "DEMO": "true"}, clock=clock, publisher=RecordingPublisher())
    upgrade(app.config["SETTINGS"].database_url)
    return app


def _seed(app: Any) -> bool:
    s = app.config["SETTINGS"]
    return ensure_demo(app.extensions["lastmile"], s.secret_key, "s@example.test", "pw-pw-pw-pw")


def _local(at: datetime) -> time:
    return at.astimezone(BERLIN).time()


def test_a_demo_started_at_2150_plans_a_working_day_and_texts_go_out(config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    real = FrozenClock(EVENING)
    app = _demo_app(config, DemoClock(real, tmp_path / "demo-clock.json", "Europe/Berlin"))
    assert _seed(app)
    services = app.extensions["lastmile"]

    assert services.clock.now().astimezone(BERLIN).replace(tzinfo=None) == datetime(
        2026, 11, 25, 9, 30
    )
    with services.uow() as uow:
        deliveries = uow.repo.all(m.Delivery)
        stops = [s for r in uow.repo.routes_on(services.today()) for s in r.stops]
        texts = uow.repo.all(m.OutboundSms)
        assert len(deliveries) == 80
        for d in deliveries:
            assert d.window_start is not None and d.window_end is not None
            assert time(8) <= _local(d.window_start) and _local(d.window_end) <= time(21)
        assert len(stops) >= 60
        assert all(time(9) <= _local(s.planned_arrival) <= time(21) for s in stops)  # type: ignore[arg-type]
        # Quiet hours (21:00-08:00) hold nothing: the dispatch texts went out at once.
        assert len(texts) >= 75
        assert [t for t in texts if t.status is m.SmsStatus.DEFERRED] == []


def test_a_restart_the_same_day_carries_on_and_the_next_day_starts_again(config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    anchor = tmp_path / "demo-clock.json"
    real = FrozenClock(EVENING)
    first = _demo_app(config, DemoClock(real, anchor, "Europe/Berlin"))
    assert _seed(first)
    seeded_at = first.extensions["lastmile"].clock.now()

    # The process restarts an hour later: the demo's clock goes on from its morning.
    real.advance(hours=1)
    again = _demo_app(config, DemoClock(real, anchor, "Europe/Berlin"))
    assert again.extensions["lastmile"].clock.now() == seeded_at + timedelta(hours=1)
    assert not _seed(again)

    # The next evening, the demo is seeded anew and its day starts at 09:30 again.
    real.advance(hours=23)
    tomorrow = _demo_app(config, DemoClock(real, anchor, "Europe/Berlin"))
    assert _seed(tomorrow)
    now = tomorrow.extensions["lastmile"].clock.now().astimezone(BERLIN)
    assert (now.date(), now.time()) == (datetime(2026, 11, 26).date(), time(9, 30))


def test_another_process_reads_the_same_demo_time(tmp_path: Path) -> None:
    real = FrozenClock(EVENING)
    web = DemoClock(real, tmp_path / "demo-clock.json", "Europe/Berlin")
    worker = DemoClock(real, tmp_path / "demo-clock.json", "Europe/Berlin")
    real.advance(hours=2)
    web.start_day()
    worker._checked = float("-inf")  # as if RELOAD_S had passed
    assert worker.now() == web.now()
    assert _local(web.now()) == time(9, 30)


def test_the_demo_runs_on_the_demo_clock_unless_it_is_off(tmp_path: Path) -> None:
    from lastmile_portal.bootstrap import _clock

    base = {"INSTANCE_DIR": str(tmp_path), "DEMO": "true"}
    assert isinstance(_clock(load_settings(base)), DemoClock)
    assert isinstance(_clock(load_settings({**base, "DEMO_CLOCK": "off"})), SystemClock)
    assert isinstance(_clock(load_settings({"INSTANCE_DIR": str(tmp_path)})), SystemClock)
    with pytest.raises(ConfigError, match="DEMO_CLOCK must be a time of day"):
        load_settings({**base, "DEMO_CLOCK": "half past nine"})
