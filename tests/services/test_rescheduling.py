"""Moving a parcel to another slot: only slots that really fit, previewed, booked atomically."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lastmile_portal.domain import model as m
from lastmile_portal.domain.errors import (
    ConcurrentUpdate,
    InvalidInput,
    InvalidTransition,
    NotFound,
)
from lastmile_portal.domain.events import Actor
from lastmile_portal.domain.status import DeliveryStatus
from lastmile_portal.services import rescheduling
from tests.builders import make_delivery, make_route, make_world

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


def make_slot(
    world, start: datetime, *, hours: float = 2, capacity: int = 5, booked: int = 0
) -> int:  # type: ignore[no-untyped-def]
    with world.services.uow() as uow:
        slot = m.DeliverySlot(
            depot_id=world.depot_id,
            service_date=start.astimezone(BERLIN).date(),
            starts_at=start,
            ends_at=start + timedelta(hours=hours),
            capacity=capacity,
            booked=booked,
        )
        uow.repo.add(slot)
        uow.commit()
        return slot.id  # type: ignore[return-value]


def _day(world, n=5):  # type: ignore[no-untyped-def]
    """Five parcels out on one van, a current slot, later slots today and tomorrow."""
    now = world.services.clock.now()
    current = make_slot(world, now - timedelta(hours=1), hours=9, capacity=10, booked=5)
    ds = [
        make_delivery(
            world,
            window_hours=(-1, 8),
            slot_id=current,
            lng=13.40 + 0.01 * i,
        )
        for i in range(n)
    ]
    route_id = make_route(world, ds)
    slots = {
        "past": make_slot(world, now - timedelta(hours=3)),
        "later": make_slot(world, now + timedelta(hours=3)),
        "evening": make_slot(world, now + timedelta(hours=5)),
        "full": make_slot(world, now + timedelta(hours=7), capacity=3, booked=3),
        "tomorrow": make_slot(world, now + timedelta(days=1)),
        "current": current,
    }
    return ds, route_id, slots


def _load(services, cls, id):  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        return uow.repo.get(cls, id)


def test_only_slots_ahead_with_room_that_the_plan_can_keep_are_offered(services, world) -> None:
    ds, _route, slots = _day(world)
    now = services.clock.now()
    # A slot starting in a minute and lasting three cannot be reached by a van five stops out.
    slots["too_soon"] = make_slot(world, now + timedelta(minutes=1), hours=0.05)

    page = rescheduling.offered_slots(services, ds[4].tracking_token)

    ids = [o.slot_id for o in page.offered]
    assert ids == [slots["later"], slots["evening"], slots["tomorrow"]]
    later, evening, tomorrow = page.offered
    # Today's are dry runs, timed inside the slot; tomorrow is planned the evening before.
    for offer in (later, evening):
        assert offer.expected is not None
        assert offer.starts_at <= offer.expected[0] <= offer.expected[1] <= offer.ends_at
    assert tomorrow.expected is None and tomorrow.planned_later
    assert sum(o.greenest for o in page.offered) == 1
    greenest = next(o for o in page.offered if o.greenest)
    assert greenest.extra_m == min(o.extra_m for o in page.offered)
    assert page.summary.open and page.summary.closes_at is not None


def test_a_preview_says_the_new_window_and_the_expected_time_and_saves_nothing(
    services, world
) -> None:
    ds, route_id, slots = _day(world)
    before = _load(services, m.Route, route_id).plan_version

    preview = rescheduling.preview_slot(services, ds[4].tracking_token, slots["later"])

    assert preview.slot.slot_id == slots["later"]
    assert preview.slot.expected is not None
    assert preview.slot.starts_at <= preview.slot.expected[0] <= preview.slot.ends_at
    assert _load(services, m.Route, route_id).plan_version == before
    d = _load(services, m.Delivery, ds[4].id)
    assert d.slot_id == slots["current"] and d.reschedules == 0
    assert _load(services, m.DeliverySlot, slots["later"]).booked == 0


def test_a_move_on_the_same_day_books_the_slot_keeps_the_route_and_replans(
    services, world, publisher
) -> None:
    ds, route_id, slots = _day(world)
    before = _load(services, m.Route, route_id).plan_version
    d0 = _load(services, m.Delivery, ds[4].id)

    moved = rescheduling.move_to_slot(services, ds[4].tracking_token, slots["later"], d0.version)

    assert moved.same_day
    d = _load(services, m.Delivery, ds[4].id)
    later = _load(services, m.DeliverySlot, slots["later"])
    assert (d.slot_id, d.window_start, d.window_end) == (later.id, later.starts_at, later.ends_at)
    assert d.reschedules == 1 and d.status is DeliveryStatus.OUT_FOR_DELIVERY
    assert later.booked == 1
    assert _load(services, m.DeliverySlot, slots["current"]).booked == 4
    assert d.stop_id == ds[4].stop_id or d.stop_id is not None
    # The re-plan ran after the commit (inline jobs): a new plan version, the stop in the slot.
    route = _load(services, m.Route, route_id)
    assert route.plan_version == before + 1
    stop = _load(services, m.Stop, d.stop_id)
    assert later.starts_at <= stop.planned_arrival <= later.ends_at
    with services.uow() as uow:
        kinds = [e.kind for e in uow.repo.timeline(d.id)]
        texts = [t for t in uow.repo.outbox_of(d.id) if t.kind == "change_confirmed"]
    assert "DeliveryRescheduled" in kinds
    assert len(texts) == 1 and "Done: your delivery moved" in texts[0].body


def test_a_move_to_another_day_takes_the_stop_off_todays_route(services, world) -> None:
    ds, route_id, slots = _day(world)
    stop_id = _load(services, m.Delivery, ds[4].id).stop_id

    moved = rescheduling.move_to_slot(services, ds[4].tracking_token, slots["tomorrow"])

    assert not moved.same_day
    d = _load(services, m.Delivery, ds[4].id)
    assert d.status is DeliveryStatus.RESCHEDULED and d.stop_id is None
    assert d.service_date == (services.clock.now() + timedelta(days=1)).astimezone(BERLIN).date()
    assert _load(services, m.Stop, stop_id) is None
    with services.uow() as uow:
        assert len(uow.repo.get(m.Route, route_id).stops) == 4
    with services.uow() as uow:
        (event,) = [e for e in uow.repo.timeline(d.id) if e.kind == "DeliveryRescheduled"]
    assert event.data["same_day"] is False and event.data["slot_id"] == slots["tomorrow"]


def test_after_a_failed_attempt_the_next_days_are_offered_and_a_move_reschedules(
    services, world
) -> None:
    ds, _route, slots = _day(world)
    with services.uow() as uow:
        d = uow.repo.get(m.Delivery, ds[1].id)  # near the driver: a failed parcel may still move
        d.mark_failed(at=services.clock.now(), driver_id=world.driver_ids[0], reason="nobody in")
        uow.repo.get(m.Stop, d.stop_id).fail(at=services.clock.now())
        uow.commit()

    page = rescheduling.offered_slots(services, ds[1].tracking_token)
    assert page.summary.open and page.summary.failed
    assert [o.slot_id for o in page.offered] == [slots["tomorrow"]]

    rescheduling.move_to_slot(services, ds[1].tracking_token, slots["tomorrow"])
    d = _load(services, m.Delivery, ds[1].id)
    assert d.status is DeliveryStatus.RESCHEDULED and d.stop_id is None


def _unchanged(services, d_id, slots, booked):  # type: ignore[no-untyped-def]
    d = _load(services, m.Delivery, d_id)
    assert d.reschedules == 0 and d.slot_id == slots["current"]
    assert {k: _load(services, m.DeliverySlot, v).booked for k, v in slots.items()} == booked


@pytest.mark.parametrize(
    ("which", "error", "words"),
    [
        ("past", InvalidInput, "already begun"),
        ("full", InvalidTransition, "filled up"),
        ("unknown", InvalidInput, "not one we offer"),
        ("current", InvalidInput, "already in that slot"),
    ],
)
def test_a_bad_slot_is_refused_and_nothing_changes(services, world, which, error, words) -> None:
    ds, _route, slots = _day(world)
    booked = {k: _load(services, m.DeliverySlot, v).booked for k, v in slots.items()}
    slot_id = 999_999 if which == "unknown" else slots[which]

    with pytest.raises(error, match=words):
        rescheduling.move_to_slot(services, ds[4].tracking_token, slot_id)

    _unchanged(services, ds[4].id, slots, booked)


def test_another_depots_slot_is_not_offered(services, world) -> None:
    ds, _route, slots = _day(world)
    with services.uow() as uow:
        other = m.Depot(code="OTH", name="Other", address="x", lat=52.4, lng=13.3)
        uow.repo.add(other)
        uow.repo.flush()
        start = services.clock.now() + timedelta(hours=4)
        slot = m.DeliverySlot(
            depot_id=other.id,
            service_date=start.astimezone(BERLIN).date(),
            starts_at=start,
            ends_at=start + timedelta(hours=2),
            capacity=5,
        )
        uow.repo.add(slot)
        uow.commit()
        other_slot = slot.id
    with pytest.raises(InvalidInput, match="not one we offer"):
        rescheduling.move_to_slot(services, ds[4].tracking_token, other_slot)


def test_after_the_cut_off_nothing_moves_and_the_reason_is_given(services, world) -> None:
    ds, _route, slots = _day(world)
    booked = {k: _load(services, m.DeliverySlot, v).booked for k, v in slots.items()}

    page = rescheduling.offered_slots(services, ds[1].tracking_token)  # one stop before it
    assert not page.summary.open and page.offered == ()
    assert "2 stops away" in (page.summary.reason or "")
    with pytest.raises(InvalidTransition, match="too late"):
        rescheduling.move_to_slot(services, ds[1].tracking_token, slots["tomorrow"])
    _unchanged(services, ds[1].id, slots, booked)


def test_a_parcel_moves_at_most_max_reschedules_times(services, world) -> None:
    ds, _route, slots = _day(world)
    token = ds[4].tracking_token
    later_tomorrow = make_slot(world, services.clock.now() + timedelta(days=1, hours=2))
    rescheduling.move_to_slot(services, token, slots["tomorrow"])
    rescheduling.move_to_slot(services, token, later_tomorrow)
    with pytest.raises(InvalidTransition, match="moved 2 times"):
        rescheduling.move_to_slot(services, token, slots["tomorrow"])
    assert _load(services, m.Delivery, ds[4].id).reschedules == 2


def test_a_parcel_on_no_route_is_offered_today_only_before_the_vans_leave(services, world) -> None:
    ds, _route, slots = _day(world)  # the van is out with five parcels
    unplanned = make_delivery(world, window_hours=(1, 3))

    offered = [
        o.slot_id for o in rescheduling.offered_slots(services, unplanned.tracking_token).offered
    ]
    assert offered == [slots["tomorrow"]]  # nothing would put it on a route today
    with services.uow() as uow:
        for route in uow.repo.routes_on(world.service_date, world.depot_id):
            uow.repo.delete(route)
        for d in ds:
            uow.repo.get(m.Delivery, d.id).stop_id = None
        uow.commit()
    page = rescheduling.offered_slots(services, unplanned.tracking_token)
    assert [o.slot_id for o in page.offered][:2] == [slots["later"], slots["evening"]]
    assert all(o.planned_later for o in page.offered)


def test_a_stale_form_gets_a_409_and_an_unknown_token_a_404(services, world) -> None:
    ds, _route, slots = _day(world)
    d = _load(services, m.Delivery, ds[4].id)
    with services.uow() as uow:
        fresh = uow.repo.get(m.Delivery, d.id)
        fresh.choose_safe_place("behind the bin", at=services.clock.now(), actor=Actor.CUSTOMER)
        uow.commit()

    with pytest.raises(ConcurrentUpdate):
        rescheduling.move_to_slot(services, ds[4].tracking_token, slots["later"], d.version)
    assert _load(services, m.DeliverySlot, slots["later"]).booked == 0
    with pytest.raises(NotFound):
        rescheduling.move_to_slot(services, "x" * 30, slots["later"])


def test_a_failed_stop_closes_nothing_so_there_is_no_countdown(services, world) -> None:
    ds, _route, _slots = _day(world)
    with services.uow() as uow:
        d = uow.repo.get(m.Delivery, ds[4].id)
        d.mark_failed(at=services.clock.now(), driver_id=world.driver_ids[0], reason="nobody in")
        uow.repo.get(m.Stop, d.stop_id).fail(at=services.clock.now())
        uow.commit()
    summary = rescheduling.offered_slots(services, ds[4].tracking_token).summary
    assert summary.open and summary.failed and summary.closes_at is None
