"""The track filter over a batch (domain/gps.follow_batch) and the refusal of an unreadable one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lastmile_portal.domain import gps

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def fix(lat: float, seconds: float, index: int = 0) -> gps.Fix:
    return gps.Fix(index=index, lat=lat, lng=13.40, recorded_at=AT + timedelta(seconds=seconds))


def test_a_batch_moves_the_track_and_history_keeps_one_fix_per_five_seconds() -> None:
    fixes = [fix(52.52 + i * 1e-5, i, i) for i in range(7)]  # ~1 m a second

    followed = gps.follow_batch(gps.Track(), None, fixes)

    assert (followed.accepted, followed.flagged, followed.ignored) == (7, 0, 0)
    assert followed.track == gps.Track((fixes[-1].lat, 13.40, fixes[-1].recorded_at))
    assert [(f.index, flagged) for f, flagged in followed.kept] == [(0, False), (5, False)]
    assert followed.last_kept == (fixes[5].lat, 13.40, fixes[5].recorded_at)


def test_old_and_repeated_fixes_are_ignored_and_keep_nothing() -> None:
    here = (52.52, 13.40, AT)
    track = gps.Track(here)

    followed = gps.follow_batch(track, here, [fix(52.53, -30), fix(52.52, 0)])

    assert (followed.accepted, followed.flagged, followed.ignored) == (0, 0, 2)
    assert followed.track == track
    assert followed.kept == ()
    assert followed.last_kept == here


def test_a_jump_is_kept_flagged_and_does_not_move_the_track() -> None:
    here = (52.52, 13.40, AT)

    followed = gps.follow_batch(gps.Track(here), here, [fix(53.52, 1)])  # 111 km in a second

    assert (followed.accepted, followed.flagged, followed.ignored) == (0, 1, 0)
    assert followed.track.position == here
    assert [flagged for _f, flagged in followed.kept] == [True]
    assert followed.last_kept == (53.52, 13.40, AT + timedelta(seconds=1))


def test_three_fixes_that_agree_outvote_the_odd_position_before_them() -> None:
    odd = (53.52, 13.40, AT)
    fixes = [fix(52.52 + i * 1e-5, 1 + i, i) for i in range(3)]

    followed = gps.follow_batch(gps.Track(odd), odd, fixes)

    assert (followed.accepted, followed.flagged) == (1, 2)
    assert followed.track == gps.Track((fixes[-1].lat, 13.40, fixes[-1].recorded_at))


def test_a_refused_batch_names_its_first_three_reasons() -> None:
    one = [gps.Rejected(0, "lat is required.")]
    many = [gps.Rejected(i, f"reason {i}") for i in range(5)]

    assert gps.nothing_taken(one) == "lat is required."
    assert gps.nothing_taken(many) == (
        "None of the 5 positions could be taken: position 0: reason 0; position 1: reason 1; "
        "position 2: reason 2 (and 2 more)"
    )
