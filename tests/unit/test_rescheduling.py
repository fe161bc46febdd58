"""The slot-offering rules, with plain objects: what is offered, what is greenest."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from lastmile_portal.domain import rescheduling as rules
from lastmile_portal.domain.routing import Point

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def facts(slot_id: int, hours: float, **kw: object) -> rules.SlotFacts:
    start = NOW + timedelta(hours=hours)
    values: dict[str, object] = {
        "slot_id": slot_id,
        "service_date": date(2026, 12, 2) if hours < 12 else date(2026, 12, 3),
        "starts_at": start,
        "ends_at": start + timedelta(hours=2),
        "remaining": 3,
        "on_route_day": hours < 12,
        "extra_m": 500.0,
    }
    values.update(kw)
    return rules.SlotFacts(**values)  # type: ignore[arg-type]


def test_offered_slots_are_ahead_with_room_and_kept_by_the_dry_run_on_the_route_day() -> None:
    offered = rules.offer(
        [
            facts(1, -1),  # begun
            facts(2, 2, remaining=0),  # full
            facts(3, 3, fits=False),  # the plan cannot keep it
            facts(4, 4),
            facts(5, 24, fits=False),  # another day: no dry run decides there
            facts(6, 5),  # the parcel's own slot
        ],
        now=NOW,
        current_slot_id=6,
    )
    assert [o.slot_id for o in offered] == [4, 5]
    assert offered[1].planned_later and offered[1].expected is None


def test_the_greenest_is_the_least_extra_distance_and_a_tie_goes_to_the_earlier() -> None:
    offered = rules.offer(
        [facts(1, 2, extra_m=900.0), facts(2, 4, extra_m=300.2), facts(3, 26, extra_m=299.9)],
        now=NOW,
        current_slot_id=None,
    )
    assert [o.slot_id for o in offered if o.greenest] == [2]  # 300 m each, rounded: earlier
    assert rules.offer([], now=NOW, current_slot_id=None) == ()


def test_a_dry_run_fits_only_inside_the_slot_and_its_eta_reads_inside_it() -> None:
    start, end = NOW, NOW + timedelta(hours=2)
    assert rules.fits(NOW + timedelta(minutes=30), False, start, end)
    assert not rules.fits(NOW + timedelta(minutes=30), True, start, end)
    assert not rules.fits(end + timedelta(seconds=1), False, start, end)
    assert not rules.fits(None, False, start, end)
    eta = (start - timedelta(minutes=8), start + timedelta(minutes=20))
    assert rules.expected_within(eta, start, end) == (start, start + timedelta(minutes=20))


def test_the_detour_estimate_starts_from_the_nearest_parcel_in_the_slot() -> None:
    here, depot = Point(52.52, 13.40), Point(52.50, 13.30)
    alone = rules.detour_m(here, depot, [])
    near = rules.detour_m(here, depot, [Point(52.521, 13.40), Point(52.60, 13.5)])
    assert near < alone
    assert round(near) == round(2 * rules.ROAD_FACTOR * 111.2, -1)


def test_slot_words_by_text() -> None:
    assert rules.asks_for_slots("SLOT") and rules.asks_for_slots("new day?")
    assert rules.asks_for_slots("Reschedule!") and not rules.asks_for_slots("stop")
