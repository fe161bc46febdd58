"""Send a parcel to a locker: nearby options, the dry-run preview, the atomic reservation,
the stop it ends up on, undo until the cut-off, and every refusal changing nothing."""

from __future__ import annotations

import pytest

from lastmile_portal.domain import model as m
from lastmile_portal.domain.errors import ConcurrentUpdate, InvalidInput, InvalidTransition
from lastmile_portal.domain.status import DeliveryStatus
from lastmile_portal.services import lockers
from tests.builders import make_delivery, make_route, make_world


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


def add_locker(  # type: ignore[no-untyped-def]
    world,
    code: str,
    *,
    lat: float = 52.525,
    lng: float = 13.405,
    sizes: str = "SSMML",
    kind: m.LockerKind = m.LockerKind.LOCKER,
    hours: str = "Mo-Su 00:00-24:00",
    depot_id: int | None = None,
    active: bool = True,
) -> int:
    with world.services.uow() as uow:
        locker = m.Locker(
            code=code,
            name=f"Locker {code}",
            kind=kind,
            address=f"{code}weg 1",
            postcode="10115",
            lat=lat,
            lng=lng,
            depot_id=depot_id or world.depot_id,
            opening_hours=hours,
            active=active,
        )
        for i, size in enumerate(sizes):
            locker.compartments.append(
                m.LockerCompartment(locker_id=None, label=f"{i:02d}", size=m.ParcelSize(size))  # type: ignore[arg-type]
            )
        uow.repo.add(locker)
        uow.commit()
        return locker.id  # type: ignore[return-value]


def snapshot(services, delivery_id):  # type: ignore[no-untyped-def]
    """Return what a refused change must leave alone."""
    with services.uow() as uow:
        d = uow.repo.get(m.Delivery, delivery_id)
        comps = sorted(
            (c.id, str(c.status), c.delivery_id) for c in uow.repo.all(m.LockerCompartment)
        )
        texts = len(uow.repo.outbox_of(delivery_id))
        return (d.version, str(d.status), str(d.option), d.locker_id, d.stop_id, comps, texts)


def test_nearby_lists_the_depots_lockers_nearest_first_with_room_of_this_size(
    services, world
) -> None:
    far = add_locker(world, "FAR", lat=52.56, lng=13.45)
    near = add_locker(world, "NEAR", lat=52.5205, lng=13.4005)
    small = add_locker(world, "SMALL", lat=52.521, lng=13.401, sizes="SS")
    add_locker(world, "SHUT", lat=52.5201, lng=13.4001, active=False)
    d = make_delivery(world, lat=52.52, lng=13.40, parcel_size=m.ParcelSize.M)

    offers = lockers.nearby(services, d.id, limit=5)

    # The S-only locker cannot ever take an M parcel; the inactive one is not offered.
    assert [o.locker_id for o in offers] == [near, far]
    assert offers[0].free == 3 and offers[0].distance_m < 100
    assert offers[0].hours == "Open 24 hours, every day" and offers[0].open_now is True
    assert small not in [o.locker_id for o in offers]


def test_the_preview_of_a_parcel_on_no_route_is_the_promise(services, world) -> None:
    locker_id = add_locker(world, "KOT")
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED)

    preview = lockers.preview_locker(services, d.tracking_token, locker_id)

    assert preview.by == d.window_end and not preview.replanned
    assert preview.locker.name == "Locker KOT"


def test_the_preview_on_a_route_is_the_dry_run_and_saves_nothing(services, world) -> None:
    locker_id = add_locker(world, "KOT", lat=52.53, lng=13.41)
    ds = [make_delivery(world, window_hours=(0, 8), lng=13.40 + 0.01 * i) for i in range(5)]
    make_route(world, ds)
    before = snapshot(services, ds[4].id)

    preview = lockers.preview_locker(services, ds[4].tracking_token, locker_id)

    assert preview.replanned and preview.by is not None
    assert preview.by > services.clock.now()
    assert snapshot(services, ds[4].id) == before


def test_choosing_reserves_the_smallest_fitting_compartment_and_moves_the_stop(
    services, world
) -> None:
    locker_id = add_locker(world, "KOT", sizes="LMS")
    ds = [make_delivery(world, window_hours=(0, 8), lng=13.40 + 0.01 * i) for i in range(5)]
    make_route(world, ds)
    d = ds[4]
    with services.uow() as uow:
        version = uow.repo.get(m.Delivery, d.id).version

    done = lockers.choose_locker(services, d.tracking_token, locker_id, version)

    with services.uow() as uow:
        saved = uow.repo.get(m.Delivery, d.id)
        comp = next(c for c in uow.repo.all(m.LockerCompartment) if c.delivery_id == d.id)
        stop = uow.repo.get(m.Stop, saved.stop_id)
        timeline = [e.kind for e in uow.repo.timeline(d.id)]
        texts = [t for t in uow.repo.outbox_of(d.id) if t.kind == "change_confirmed"]
    assert saved.option is m.DeliveryOption.LOCKER and saved.locker_id == locker_id
    assert saved.status is DeliveryStatus.OUT_FOR_DELIVERY  # the driver still brings it
    assert saved.pickup_code and len(saved.pickup_code) == 6
    assert comp.size is m.ParcelSize.M and comp.status is m.CompartmentStatus.RESERVED
    assert comp.reserved_at is not None and done.compartment == comp.label
    # Alone at its door, the stop itself moved to the locker.
    assert stop.kind is m.StopKind.LOCKER and stop.locker_id == locker_id
    assert (stop.lat, stop.lng) == (52.525, 13.405)
    assert "LockerChosen" in timeline and "DeliveryStatusChanged" not in timeline
    assert len(texts) == 1 and "Locker KOT" in texts[0].body


def test_a_route_already_going_to_the_locker_takes_the_parcel_on_that_stop(services, world) -> None:
    locker_id = add_locker(world, "KOT")
    ds = [make_delivery(world, window_hours=(0, 8), lng=13.40 + 0.01 * i) for i in range(5)]
    route_id = make_route(world, ds, dispatched=False)  # still at the depot: no cut-off yet
    lockers.choose_locker(services, ds[3].tracking_token, locker_id)

    lockers.choose_locker(services, ds[4].tracking_token, locker_id)

    with services.uow() as uow:
        a, b = uow.repo.get(m.Delivery, ds[3].id), uow.repo.get(m.Delivery, ds[4].id)
        route = uow.repo.get(m.Route, route_id)
        locker_stops = [s for s in route.stops if s.kind is m.StopKind.LOCKER]
    assert a.stop_id == b.stop_id
    assert len(locker_stops) == 1 and len(route.stops) == 4  # the empty door stop is gone


def test_a_full_locker_says_so_and_names_the_lockers_with_room(services, world) -> None:
    full = add_locker(world, "FULL", sizes="M")
    other = add_locker(world, "ROOM", lat=52.53, lng=13.41, sizes="MM")
    first, second = make_delivery(world), make_delivery(world)
    lockers.choose_locker(services, first.tracking_token, full)
    before = snapshot(services, second.id)

    with pytest.raises(lockers.LockerFull, match="Locker FULL is full") as refused:
        lockers.choose_locker(services, second.tracking_token, full)

    assert [a.locker_id for a in refused.value.alternatives] == [other]
    assert "Locker ROOM" in refused.value.message
    assert snapshot(services, second.id) == before


def test_choosing_another_locker_frees_the_first_compartment(services, world) -> None:
    first = add_locker(world, "ONE", sizes="M")
    second = add_locker(world, "TWO", sizes="M")
    d = make_delivery(world)
    lockers.choose_locker(services, d.tracking_token, first)

    lockers.choose_locker(services, d.tracking_token, second)

    with services.uow() as uow:
        by_locker = {c.locker_id: c for c in uow.repo.all(m.LockerCompartment)}
        assert uow.repo.get(m.Delivery, d.id).locker_id == second
    assert by_locker[first].status is m.CompartmentStatus.FREE
    assert by_locker[first].delivery_id is None
    assert by_locker[second].delivery_id == d.id


def test_undo_sends_it_back_to_the_door_and_frees_the_compartment(services, world) -> None:
    locker_id = add_locker(world, "KOT", lat=52.52, lng=13.52)  # past the last door: still last
    ds = [make_delivery(world, window_hours=(0, 8), lng=13.40 + 0.01 * i) for i in range(12)]
    make_route(world, ds)
    d = ds[11]
    lockers.choose_locker(services, d.tracking_token, locker_id)
    with services.uow() as uow:
        version = uow.repo.get(m.Delivery, d.id).version

    lockers.undo_locker(services, d.tracking_token, version)

    with services.uow() as uow:
        saved = uow.repo.get(m.Delivery, d.id)
        stop = uow.repo.get(m.Stop, saved.stop_id)
        comps = uow.repo.all(m.LockerCompartment)
        timeline = [e.kind for e in uow.repo.timeline(d.id)]
        texts = [t for t in uow.repo.outbox_of(d.id) if t.kind == "change_confirmed"]
    assert saved.option is m.DeliveryOption.DOOR and saved.locker_id is None
    assert saved.status is DeliveryStatus.OUT_FOR_DELIVERY and saved.pickup_code is None
    assert stop.kind is m.StopKind.ADDRESS and (stop.lat, stop.lng) == (d.lat, d.lng)
    assert all(c.status is m.CompartmentStatus.FREE for c in comps)
    assert timeline.count("LockerChoiceUndone") == 1 and len(texts) == 2


def test_a_scheduled_parcel_keeps_its_status_and_can_be_undone(services, world) -> None:
    locker_id = add_locker(world, "KOT")
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED)

    lockers.choose_locker(services, d.tracking_token, locker_id)
    section = lockers.locker_section(services, d.tracking_token)
    assert section.current is not None and section.can_undo

    lockers.undo_locker(services, d.tracking_token)
    with services.uow() as uow:
        saved = uow.repo.get(m.Delivery, d.id)
    assert saved.status is DeliveryStatus.SCHEDULED and saved.option is m.DeliveryOption.DOOR


def test_after_the_cut_off_nothing_changes(services, world) -> None:
    locker_id = add_locker(world, "KOT")
    ds = [make_delivery(world, window_hours=(0, 8), lng=13.40 + 0.01 * i) for i in range(3)]
    make_route(world, ds)
    before = snapshot(services, ds[1].id)

    with pytest.raises(InvalidTransition, match="too late"):
        lockers.choose_locker(services, ds[1].tracking_token, locker_id)
    with pytest.raises(InvalidTransition, match="too late"):
        lockers.preview_locker(services, ds[1].tracking_token, locker_id)
    assert lockers.locker_section(services, ds[1].tracking_token).window.closed
    assert snapshot(services, ds[1].id) == before


def test_undo_closes_at_the_cut_off_too(services, world, clock) -> None:
    locker_id = add_locker(world, "KOT")
    ds = [make_delivery(world, window_hours=(0, 8), lng=13.40 + 0.01 * i) for i in range(5)]
    make_route(world, ds)
    lockers.choose_locker(services, ds[4].tracking_token, locker_id)
    clock.advance(hours=3)  # the plan has the driver there by now

    assert not lockers.locker_section(services, ds[4].tracking_token).can_undo
    with pytest.raises(InvalidTransition, match="too late"):
        lockers.undo_locker(services, ds[4].tracking_token)


@pytest.mark.parametrize("case", ["unknown", "inactive", "other_depot", "too_small"])
def test_a_locker_we_cannot_use_is_refused_and_changes_nothing(services, world, case) -> None:
    other_depot = _other_depot(services) if case == "other_depot" else None
    locker_id = {
        "unknown": lambda: 999_999,
        "inactive": lambda: add_locker(world, "OFF", active=False),
        "other_depot": lambda: add_locker(world, "ELSE", depot_id=other_depot),
        "too_small": lambda: add_locker(world, "TINY", sizes="SS"),
    }[case]()
    d = make_delivery(world, parcel_size=m.ParcelSize.L)
    before = snapshot(services, d.id)

    with pytest.raises(InvalidInput):
        lockers.choose_locker(services, d.tracking_token, locker_id)
    assert snapshot(services, d.id) == before


def test_a_stale_form_is_refused_with_409(services, world) -> None:
    locker_id = add_locker(world, "KOT")
    d = make_delivery(world)
    with services.uow() as uow:
        seen = uow.repo.get(m.Delivery, d.id).version
    lockers.choose_locker(services, d.tracking_token, locker_id, seen)
    before = snapshot(services, d.id)

    with pytest.raises(ConcurrentUpdate, match="changed since"):
        lockers.undo_locker(services, d.tracking_token, seen)
    assert snapshot(services, d.id) == before


def _other_depot(services) -> int:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        depot = m.Depot(
            code="OTH",
            name="Other",
            address="Else 1",
            lat=52.4,
            lng=13.3,
            opens_at="07:00",
            closes_at="21:00",
        )
        uow.repo.add(depot)
        uow.commit()
        return depot.id  # type: ignore[return-value]


def test_after_a_failed_attempt_it_goes_to_a_locker_and_undo_restores_failed(
    services, world
) -> None:
    locker_id = add_locker(world, "KOT")
    d = make_delivery(world, status=DeliveryStatus.FAILED, window_hours=(-3, -1))

    preview = lockers.preview_locker(services, d.tracking_token, locker_id)
    assert preview.by is None  # the missed window promises nothing: the next round does
    lockers.choose_locker(services, d.tracking_token, locker_id)
    with services.uow() as uow:
        assert uow.repo.get(m.Delivery, d.id).status is DeliveryStatus.REDIRECTED_TO_LOCKER
    section = lockers.locker_section(services, d.tracking_token)
    assert section.window.open and section.can_undo  # "redirected" counts as "failed"

    lockers.undo_locker(services, d.tracking_token)
    with services.uow() as uow:
        saved = uow.repo.get(m.Delivery, d.id)
    assert saved.status is DeliveryStatus.FAILED and saved.option is m.DeliveryOption.DOOR
