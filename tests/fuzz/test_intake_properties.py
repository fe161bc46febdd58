"""Hypothesis property tests on the intake parsers: any input gets a verdict, never a crash."""

from __future__ import annotations

import math
import unicodedata
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from lastmile_portal.domain import gps
from lastmile_portal.domain.errors import InvalidInput
from lastmile_portal.domain.sms import parse_reply
from lastmile_portal.domain.text import printable

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
PROPERTY = settings(max_examples=300, derandomize=True, database=None, deadline=None)

# What JSON can carry, and then some: huge integers, non-finite floats, deep nesting.
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=50)
)
json_like = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
far_times = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.timezones()
)
# Around the server's clock, where the age and future limits are decided.
near_times = st.tuples(st.floats(-3 * 86400, 3 * 86400), st.integers(-14 * 60, 14 * 60)).map(
    lambda t: (NOW + timedelta(seconds=t[0])).astimezone(timezone(timedelta(minutes=t[1])))
)
times = (far_times | near_times).map(datetime.isoformat)


def valid_fixes() -> st.SearchStrategy[dict[str, object]]:
    numbers = {
        f.name: st.floats(f.minimum, f.maximum)
        | st.integers(math.ceil(f.minimum), math.floor(f.maximum))
        for f in gps.FIELDS
    }
    ages = st.floats(-gps.MAX_FUTURE_SKEW.total_seconds(), gps.MAX_AGE.total_seconds() - 1)
    return st.fixed_dictionaries(
        {
            "lat": numbers["lat"],
            "lng": numbers["lng"],
            "recorded_at": ages.map(lambda s: (NOW - timedelta(seconds=s)).isoformat()),
        },
        optional={k: numbers[k] for k in ("speed", "heading", "accuracy")},
    )


# A valid fix with one member replaced by anything JSON can carry, numeric text included.
junk = scalars | times | st.floats().map(str) | st.integers().map(str) | json_like
MEMBERS = [f.name for f in gps.FIELDS] + ["recorded_at"]
almost_fixes = st.tuples(valid_fixes(), st.sampled_from(MEMBERS), junk).map(
    lambda t: {**t[0], t[1]: t[2]}
)


@PROPERTY
@given(raw=almost_fixes | json_like)
def test_any_value_is_a_fix_within_the_rules_or_a_clear_rejection(raw) -> None:  # type: ignore[no-untyped-def]
    try:
        fix = gps.parse_fix(raw, NOW)
    except InvalidInput as error:
        assert error.message
        return
    # Only JSON numbers count as numbers: not true/false, not text that looks like one.
    assert all(type(raw.get(f.name)) in (int, float, type(None)) for f in gps.FIELDS)
    for spec in gps.FIELDS:
        value = getattr(fix, spec.name)
        assert value is None or (math.isfinite(value) and spec.minimum <= value <= spec.maximum)
    assert NOW - gps.MAX_AGE <= fix.recorded_at <= NOW
    assert fix.recorded_at.tzinfo is not None


@PROPERTY
@given(fix=valid_fixes())
def test_every_fix_within_the_rules_is_taken(fix) -> None:  # type: ignore[no-untyped-def]
    parsed = gps.parse_fix(fix, NOW)
    assert (parsed.lat, parsed.lng) == (float(fix["lat"]), float(fix["lng"]))


@PROPERTY
@given(fix=valid_fixes(), seconds=st.floats(-10 * 86400, 10 * 86400), offset=st.integers(-840, 840))
def test_a_fix_is_taken_only_within_its_time_window(fix, seconds, offset) -> None:  # type: ignore[no-untyped-def]
    at = (NOW + timedelta(seconds=seconds)).astimezone(timezone(timedelta(minutes=offset)))
    inside = -gps.MAX_AGE.total_seconds() <= seconds <= gps.MAX_FUTURE_SKEW.total_seconds()
    try:
        parsed = gps.parse_fix({**fix, "recorded_at": at.isoformat()}, NOW)
    except InvalidInput:
        assert not inside
    else:
        assert inside
        assert parsed.recorded_at == min(at, NOW)


@PROPERTY
@given(good=st.lists(valid_fixes(), min_size=1, max_size=5), bad=st.lists(json_like, max_size=5))
def test_bad_fixes_never_cost_the_good_ones_in_a_batch(good, bad) -> None:  # type: ignore[no-untyped-def]
    fixes, rejected = gps.parse_batch([*bad, *good], NOW)
    assert len(fixes) + len(rejected) == len(bad) + len(good)
    assert len(fixes) >= len(good)
    assert {f.index for f in fixes} >= set(range(len(bad), len(bad) + len(good)))
    assert [f.recorded_at for f in fixes] == sorted(f.recorded_at for f in fixes)


@PROPERTY
@given(fixes=st.lists(valid_fixes(), min_size=1, max_size=12))
def test_the_track_never_goes_back_in_time_and_every_fix_gets_a_verdict(fixes) -> None:  # type: ignore[no-untyped-def]
    parsed, _ = gps.parse_batch(fixes, NOW)
    track = gps.Track()
    for fix in parsed:
        before = track.position
        verdict, track = gps.follow(track, fix)
        assert verdict in set(gps.Verdict)
        if before is not None and track.position is not None:
            assert track.position[2] >= before[2]
        if verdict is gps.Verdict.ACCEPTED:
            assert track.position == (fix.lat, fix.lng, fix.recorded_at)
        assert len(track.doubts) < gps.CONFIRMING_FIXES


@PROPERTY
@given(text=st.text(max_size=300))
def test_printable_text_has_no_control_characters_and_is_stable(text) -> None:  # type: ignore[no-untyped-def]
    clean = printable(text)
    assert "\x00" not in clean
    assert not any(unicodedata.category(c) in ("Cc", "Cs") for c in clean)
    assert clean == clean.strip() and "  " not in clean
    assert printable(clean) == clean


@PROPERTY
@given(body=st.text(max_size=300))
def test_any_text_message_is_read_as_some_command(body) -> None:  # type: ignore[no-untyped-def]
    command = parse_reply(printable(body))
    assert command.keyword is not None
