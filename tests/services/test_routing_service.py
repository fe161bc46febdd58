"""Planning a depot's day, sending routes out, and a driver's progress at a stop.

Real SQLite, the real OR-Tools optimizer (1 s, deterministic), fake SMS and publisher.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from lastmile_portal.domain import model as m
from lastmile_portal.domain.errors import Forbidden, InvalidInput, NotFound, RoutingError
from lastmile_portal.domain.status import DeliveryStatus
from lastmile_portal.services import (
    drivers,
    gps_intake,
    intake,
    proof_of_delivery,
    routing,
    tracking,
)
from tests.builders import make_delivery, make_locker, make_route, make_world

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
WINDOWS = [(1, 4), (0, 3), (2, 5), (1, 3), (3, 6), (0, 2), (2, 4), (1, 5), (4, 7), (0, 6)]


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


def snapshot(obj: Any) -> SimpleNamespace:
    """Copy an entity's fields while its session is open (closing it expires the object)."""
    return SimpleNamespace(**{f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})


def deliveries(services, ids: list[int]) -> dict[int, SimpleNamespace]:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        return {i: snapshot(uow.repo.get(m.Delivery, i)) for i in ids}


def stop_of(services, delivery_id: int) -> SimpleNamespace | None:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        d = uow.repo.get(m.Delivery, delivery_id)
        return snapshot(uow.repo.get(m.Stop, d.stop_id)) if d.stop_id else None


def routes(services, world) -> list[SimpleNamespace]:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        out = []
        for r in uow.repo.routes_on(world.service_date, world.depot_id):
            s = snapshot(r)
            s.stops = [snapshot(x) for x in r.ordered_stops()]
            out.append(s)
        return out


def timeline(services, delivery_id: int) -> list[SimpleNamespace]:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        return [snapshot(e) for e in uow.repo.timeline(delivery_id)]


def ten_deliveries(world) -> list[int]:  # type: ignore[no-untyped-def]
    return [make_delivery(world, window_hours=w).id for w in WINDOWS]


# ---------------------------------------------------------------- plan_depot_day


def test_planning_schedules_every_parcel_inside_its_window(services, world) -> None:  # type: ignore[no-untyped-def]
    ids = ten_deliveries(world)

    summary = routing.plan_depot_day(services, world.depot_id, world.service_date)

    assert summary.planned == 10
    assert summary.dropped == {}
    assert 1 <= summary.routes <= 2
    stored = deliveries(services, ids)
    for d in stored.values():
        assert d.status is DeliveryStatus.SCHEDULED
        assert d.stop_id is not None
        stop = stop_of(services, d.id)
        assert stop.planned_arrival is not None
        assert d.window_start <= stop.planned_arrival <= d.window_end, (
            f"delivery {d.id} planned at {stop.planned_arrival}, window "
            f"{d.window_start}–{d.window_end}"
        )
        # The promise shown to the recipient brackets the plan.
        assert stop.eta_earliest <= stop.planned_arrival <= stop.eta_latest
    # Every parcel has its own stop (distinct addresses).
    assert len({d.stop_id for d in stored.values()}) == 10


def test_the_day_stays_writable_while_the_solver_runs_and_a_parcel_cancelled_then_is_left_out(  # type: ignore[no-untyped-def]
    services, world, monkeypatch
) -> None:
    ids = ten_deliveries(world)
    cancelled = deliveries(services, ids[:1])[ids[0]]
    solve = services.optimizer.solve
    limits = []

    def cancel_then_solve(problem, matrix, limit):  # type: ignore[no-untyped-def]
        # Another request while the search runs: on SQLite this waits for no lock.
        intake.cancel_delivery(services, cancelled.tracking_number, "recipient moved")
        limits.append((len(problem.stops), limit))
        return solve(problem, matrix, limit)

    monkeypatch.setattr(services.optimizer, "solve", cancel_then_solve)
    summary = routing.plan_depot_day(services, world.depot_id, world.service_date)

    assert summary.planned == 9 and summary.dropped_parcels == {}
    stored = deliveries(services, ids)
    assert stored[ids[0]].status is DeliveryStatus.CANCELLED and stored[ids[0]].stop_id is None
    assert all(stored[i].stop_id is not None for i in ids[1:])
    # Ten stops: OPTIMIZER_TIME_LIMIT once (per hundred stops), less the matrix's moment.
    ((stops, limit),) = limits
    assert stops == 10
    assert 0.9 * services.settings.optimizer_time_limit_s < limit
    assert limit <= services.settings.optimizer_time_limit_s


def test_planned_routes_are_consistent_driver_days(services, world) -> None:  # type: ignore[no-untyped-def]
    ten_deliveries(world)

    routing.plan_depot_day(services, world.depot_id, world.service_date)

    planned = routes(services, world)
    assert planned
    assert sum(len(r.stops) for r in planned) == 10
    assert len({r.driver_id for r in planned}) == len(planned)  # one route per driver
    for r in planned:
        assert r.status is m.RouteStatus.PLANNED
        assert r.driver_id in world.driver_ids and r.vehicle_id in world.vehicle_ids
        assert [s.sequence for s in r.stops] == list(range(1, len(r.stops) + 1))
        arrivals = [s.planned_arrival for s in r.stops]
        assert arrivals == sorted(arrivals)
        assert r.planned_start >= NOW
        assert r.planned_end >= arrivals[-1]
        assert r.planned_distance_m > 0
        # The first stop has the tightest ETA window on the route.
        widths = [s.eta_latest - s.eta_earliest for s in r.stops]
        assert widths == sorted(widths)


def test_planning_writes_why_into_each_timeline(services, world) -> None:  # type: ignore[no-untyped-def]
    ids = ten_deliveries(world)

    routing.plan_depot_day(services, world.depot_id, world.service_date)

    for delivery_id in ids:
        entries = timeline(services, delivery_id)
        kinds = [e.kind for e in entries]
        assert "DeliveryStatusChanged" in kinds
        assert kinds.count("DeliveryPlanned") == 1
        changed = next(e for e in entries if e.kind == "DeliveryStatusChanged")
        assert (changed.data["old"], changed.data["new"]) == ("created", "scheduled")
        assert changed.actor == "optimizer"
        planned = next(e for e in entries if e.kind == "DeliveryPlanned")
        stop = stop_of(services, delivery_id)
        assert planned.actor == "optimizer"
        assert planned.data["route_id"] == stop.route_id
        assert planned.data["sequence"] == stop.sequence
        assert datetime.fromisoformat(planned.data["planned_arrival"]) == stop.planned_arrival
        assert f"stop {stop.sequence}" in planned.summary


def test_replanning_replaces_planned_routes_without_leftovers(services, world) -> None:  # type: ignore[no-untyped-def]
    ids = ten_deliveries(world)
    first = routing.plan_depot_day(services, world.depot_id, world.service_date)
    late = make_delivery(world, window_hours=(5, 8)).id

    summary = routing.plan_depot_day(services, world.depot_id, world.service_date)

    assert summary.planned == 11
    now_routes = routes(services, world)
    assert len(now_routes) == summary.routes
    assert sum(len(r.stops) for r in now_routes) == 11
    # (SQLite may reuse deleted ids, so count rows rather than compare ids.)
    assert first.routes >= 1
    with services.uow() as uow:
        assert uow.repo.count(m.Route) == len(now_routes)
        assert uow.repo.count(m.Stop) == 11  # no orphan stops from the first plan
    stored = deliveries(services, [*ids, late])
    stop_ids = {s.id for r in now_routes for s in r.stops}
    for d in stored.values():
        assert d.status is DeliveryStatus.SCHEDULED
        assert d.stop_id in stop_ids
    # A second DeliveryPlanned, but no second status change: it was already scheduled.
    entries = timeline(services, ids[0])
    assert [e.kind for e in entries].count("DeliveryPlanned") == 2
    assert [e.kind for e in entries].count("DeliveryStatusChanged") == 1


def test_replanning_leaves_routes_already_on_the_road_alone(services, world) -> None:  # type: ignore[no-untyped-def]
    road = [make_delivery(world) for _ in range(2)]
    on_the_road = [d.id for d in road]
    route_id = make_route(world, road, driver_index=0, dispatched=True)
    waiting = make_delivery(world).id

    routing.plan_depot_day(services, world.depot_id, world.service_date)

    by_id = {r.id: r for r in routes(services, world)}
    assert route_id in by_id
    assert by_id[route_id].status is m.RouteStatus.IN_PROGRESS
    assert len(by_id[route_id].stops) == 2
    stored = deliveries(services, [*on_the_road, waiting])
    for i in on_the_road:
        assert stored[i].status is DeliveryStatus.OUT_FOR_DELIVERY
        assert stop_of(services, i).route_id == route_id
    assert stored[waiting].status is DeliveryStatus.SCHEDULED
    assert stop_of(services, waiting).route_id != route_id


def test_parcel_too_large_for_every_vehicle_is_dropped_with_a_reason(services, world) -> None:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        for vtype in uow.repo.all(m.VehicleType):
            vtype.max_parcel_size = m.ParcelSize.M
        uow.commit()
    small = [make_delivery(world, parcel_size=m.ParcelSize.S).id for _ in range(3)]
    huge = make_delivery(world, parcel_size=m.ParcelSize.L).id

    summary = routing.plan_depot_day(services, world.depot_id, world.service_date)

    assert summary.planned == 3
    assert summary.dropped == {f"D{huge}": "parcel too large for every vehicle"}
    stored = deliveries(services, [*small, huge])
    assert stored[huge].status is DeliveryStatus.CREATED
    assert stored[huge].stop_id is None
    entries = timeline(services, huge)
    dropped = [e for e in entries if e.kind == "DeliveryDropped"]
    assert len(dropped) == 1
    assert dropped[0].data["reason"] == "parcel too large for every vehicle"
    assert "too large" in dropped[0].summary
    assert "DeliveryPlanned" not in [e.kind for e in entries]
    for i in small:
        assert stored[i].status is DeliveryStatus.SCHEDULED


def test_parcels_for_one_locker_share_one_locker_stop(services, world) -> None:  # type: ignore[no-untyped-def]
    locker_id = make_locker(world)
    to_locker = [
        make_delivery(world, option=m.DeliveryOption.LOCKER, locker_id=locker_id).id
        for _ in range(3)
    ]
    door = make_delivery(world).id

    summary = routing.plan_depot_day(services, world.depot_id, world.service_date)

    assert summary.planned == 4
    stops = {i: stop_of(services, i) for i in [*to_locker, door]}
    assert len({stops[i].id for i in to_locker}) == 1
    shared = stops[to_locker[0]]
    assert shared.kind is m.StopKind.LOCKER
    assert shared.locker_id == locker_id
    # The driver drives to the locker, not to the first recipient's home address.
    assert (shared.lat, shared.lng) == (52.525, 13.405), "locker stop is not at the locker"
    assert stops[door].kind is m.StopKind.ADDRESS
    assert stops[door].id != shared.id


def test_a_locker_stop_is_filled_before_its_earliest_promise(services, world, clock) -> None:  # type: ignore[no-untyped-def]
    # Two recipients booked different slots for the same locker. The locker is open all
    # day, so one visit before the earlier slot ends keeps both promises.
    locker_id = make_locker(world)
    early = make_delivery(
        world, option=m.DeliveryOption.LOCKER, locker_id=locker_id, window_hours=(1, 3)
    )
    late = make_delivery(
        world, option=m.DeliveryOption.LOCKER, locker_id=locker_id, window_hours=(4, 6)
    )

    routing.plan_depot_day(services, world.depot_id, world.service_date)

    stop = stop_of(services, early.id)
    assert stop_of(services, late.id).id == stop.id
    assert stop.planned_arrival <= early.window_end

    # On the road, the live ETA does not wait for the later slot to open either, and the
    # driver's manifest sends them to the locker, not to a recipient's home.
    routing.dispatch_route(services, stop.route_id)
    with services.uow() as uow:
        driver_id = uow.repo.get(m.Route, stop.route_id).driver_id
    now = clock.now()
    gps_intake.record_positions(
        services, driver_id, [{"lat": 52.52, "lng": 13.40, "recorded_at": now.isoformat()}]
    )
    view = tracking.get_tracking(services, late.tracking_token)
    assert view.eta_expected is not None and view.eta_expected <= early.window_end
    locker_stop = next(s for s in drivers.manifest(services, driver_id).stops if s.id == stop.id)
    assert locker_stop.address == "Packstation Test, Lockerweg 1, 10115"
    assert (locker_stop.window_start, locker_stop.window_end) == (None, early.window_end)


def test_only_that_depots_plannable_parcels_of_that_day_are_planned(services, world) -> None:  # type: ignore[no-untyped-def]
    today = make_delivery(world).id
    tomorrow = make_delivery(
        world,
        service_date=world.service_date + timedelta(days=1),
        window_start=NOW + timedelta(days=1),
        window_end=NOW + timedelta(days=1, hours=3),
    ).id
    cancelled = make_delivery(world, status=DeliveryStatus.CANCELLED).id

    summary = routing.plan_depot_day(services, world.depot_id, world.service_date)

    assert summary.planned == 1
    stored = deliveries(services, [today, tomorrow, cancelled])
    assert stored[today].status is DeliveryStatus.SCHEDULED
    assert stored[tomorrow].status is DeliveryStatus.CREATED and stored[tomorrow].stop_id is None
    assert stored[cancelled].status is DeliveryStatus.CANCELLED
    assert stored[cancelled].stop_id is None


def test_planning_an_unknown_depot_is_not_found(services, world) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFound):
        routing.plan_depot_day(services, 9_999, world.service_date)


def test_planning_after_closing_time_is_refused(services, world, clock) -> None:  # type: ignore[no-untyped-def]
    make_delivery(world)
    clock.set(datetime(2026, 11, 25, 20, 30, tzinfo=UTC))  # 21:30 in Berlin, depot closes 21:00
    with pytest.raises(RoutingError, match="closed"):
        routing.plan_depot_day(services, world.depot_id, world.service_date)


def test_planning_without_active_drivers_is_refused(services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world).id
    with services.uow() as uow:
        for driver in uow.repo.all(m.Driver):
            driver.active = False
        uow.commit()
    with pytest.raises(RoutingError, match="no active drivers"):
        routing.plan_depot_day(services, world.depot_id, world.service_date)
    assert deliveries(services, [d])[d].status is DeliveryStatus.CREATED


# ---------------------------------------------------------------- dispatch_route


def test_dispatch_sends_parcels_out_and_pushes_status_live(
    services, world, publisher, clock
) -> None:  # type: ignore[no-untyped-def]
    ids = [make_delivery(world).id for _ in range(4)]
    routing.plan_depot_day(services, world.depot_id, world.service_date)
    publisher.published.clear()
    clock.advance(minutes=10)

    total = sum(routing.dispatch_route(services, r.id) for r in routes(services, world))

    assert total == 4
    for r in routes(services, world):
        assert r.status is m.RouteStatus.IN_PROGRESS
        assert r.started_at == NOW + timedelta(minutes=10)
    for d in deliveries(services, ids).values():
        assert d.status is DeliveryStatus.OUT_FOR_DELIVERY
    status_events = [
        (room, payload) for room, event, payload in publisher.published if event == "status"
    ]
    assert sorted(room for room, _ in status_events) == sorted(f"delivery:{i}" for i in ids)
    for _room, payload in status_events:
        assert payload["status"] == "out_for_delivery"
        assert payload["label"] == "Out for delivery"
        assert datetime.fromisoformat(payload["at"]) == NOW + timedelta(minutes=10)
    changed = [e for e in timeline(services, ids[0]) if e.kind == "DeliveryStatusChanged"]
    assert [e.data["new"] for e in changed] == ["scheduled", "out_for_delivery"]


def test_dispatching_twice_changes_nothing_more(services, world, publisher) -> None:  # type: ignore[no-untyped-def]
    make_delivery(world)
    routing.plan_depot_day(services, world.depot_id, world.service_date)
    (route,) = routes(services, world)
    assert routing.dispatch_route(services, route.id) == 1
    publisher.published.clear()

    assert routing.dispatch_route(services, route.id) == 0
    assert publisher.published == []


def test_dispatching_an_unknown_route_is_not_found(services, world) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFound):
        routing.dispatch_route(services, 9_999)


# ---------------------------------------------------------------- proof_of_delivery


@pytest.fixture
def two_routes(services, world):  # type: ignore[no-untyped-def]
    mine = make_delivery(world)
    theirs = make_delivery(world)
    make_route(world, [mine], driver_index=0)
    make_route(world, [theirs], driver_index=1)
    return SimpleNamespace(
        mine=mine.id,
        theirs=theirs.id,
        my_stop=stop_of(services, mine.id).id,
        their_stop=stop_of(services, theirs.id).id,
    )


@pytest.mark.parametrize(
    "action",
    [
        lambda s, driver, stop: proof_of_delivery.mark_arrived(s, driver, stop),
        lambda s, driver, stop: proof_of_delivery.mark_delivered(s, driver, stop),
        lambda s, driver, stop: proof_of_delivery.mark_failed(s, driver, stop, "Nobody home"),
    ],
    ids=["arrived", "delivered", "failed"],
)
def test_a_driver_cannot_touch_another_drivers_stop(
    services, world, two_routes, publisher, action
) -> None:  # type: ignore[no-untyped-def]
    publisher.published.clear()

    with pytest.raises(Forbidden):
        action(services, world.driver_ids[0], two_routes.their_stop)
    # Another driver's stop is refused (403); only a stop that does not exist is a 404.
    with pytest.raises(NotFound):
        action(services, world.driver_ids[0], 9_999)
    theirs = deliveries(services, [two_routes.theirs])[two_routes.theirs]
    assert theirs.status is DeliveryStatus.OUT_FOR_DELIVERY
    assert theirs.attempts == 0
    with services.uow() as uow:
        assert uow.repo.get(m.Stop, two_routes.their_stop).status is m.StopStatus.PENDING
    assert timeline(services, two_routes.theirs) == []
    assert publisher.published == []


@pytest.mark.parametrize("reason", ["", "   ", "\n\t"])
def test_mark_failed_requires_a_reason(services, world, two_routes, reason) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match="why"):
        proof_of_delivery.mark_failed(services, world.driver_ids[0], two_routes.my_stop, reason)

    mine = deliveries(services, [two_routes.mine])[two_routes.mine]
    assert mine.status is DeliveryStatus.OUT_FOR_DELIVERY
    assert mine.attempts == 0
    with services.uow() as uow:
        assert uow.repo.get(m.Stop, two_routes.my_stop).status is m.StopStatus.PENDING


def test_mark_failed_with_a_reason_records_the_attempt(
    services, world, two_routes, publisher
) -> None:  # type: ignore[no-untyped-def]
    outcome = proof_of_delivery.mark_failed(
        services, world.driver_ids[0], two_routes.my_stop, "  Nobody home  "
    )

    assert (outcome.parcels, outcome.stop_status) == (1, "failed")
    mine = deliveries(services, [two_routes.mine])[two_routes.mine]
    assert mine.status is DeliveryStatus.FAILED
    assert mine.attempts == 1
    with services.uow() as uow:
        stop = uow.repo.get(m.Stop, two_routes.my_stop)
        assert stop.status is m.StopStatus.FAILED
        assert stop.departed_at == NOW
    failed = [e for e in timeline(services, two_routes.mine) if e.kind == "DeliveryAttemptFailed"]
    assert len(failed) == 1
    assert failed[0].data == {"reason": "Nobody home", "attempt": 1}
    assert failed[0].actor == "driver" and failed[0].actor_id == str(world.driver_ids[0])
    assert (f"delivery:{two_routes.mine}", "status") in [(r, e) for r, e, _ in publisher.published]


def test_arrive_then_deliver_at_own_stop(services, world, two_routes, clock) -> None:  # type: ignore[no-untyped-def]
    driver = world.driver_ids[0]
    proof_of_delivery.mark_arrived(services, driver, two_routes.my_stop)
    assert (
        deliveries(services, [two_routes.mine])[two_routes.mine].status is DeliveryStatus.ARRIVING
    )
    clock.advance(minutes=2)

    assert (
        proof_of_delivery.mark_delivered(
            services, driver, two_routes.my_stop, "to the door"
        ).parcels
        == 1
    )

    mine = deliveries(services, [two_routes.mine])[two_routes.mine]
    assert mine.status is DeliveryStatus.DELIVERED
    assert mine.attempts == 1
    with services.uow() as uow:
        stop = uow.repo.get(m.Stop, two_routes.my_stop)
        assert stop.status is m.StopStatus.DONE
        assert stop.arrived_at == NOW
        assert stop.departed_at == NOW + timedelta(minutes=2)
    # Delivering again is harmless: nothing is open at that stop any more.
    assert proof_of_delivery.mark_delivered(services, driver, two_routes.my_stop).parcels == 0


def test_a_car_boot_parcel_is_planned_at_the_car_inside_the_cars_window(services, world) -> None:  # type: ignore[no-untyped-def]
    car = make_delivery(world, window_hours=(0, 8), lat=52.52, lng=13.40)
    others = [make_delivery(world, window_hours=(0, 8), lng=13.41 + 0.01 * i).id for i in range(3)]
    opens = services.clock.now() + timedelta(hours=5)
    with services.uow() as uow:
        d = uow.repo.get(m.Delivery, car.id)
        d.option = m.DeliveryOption.VEHICLE_TRUNK
        d.trunk_lat, d.trunk_lng = 52.53, 13.43  # parked at work, not at home
        d.trunk_from, d.trunk_until = opens, opens + timedelta(hours=1)
        uow.commit()

    summary = routing.plan_depot_day(services, world.depot_id, world.service_date)

    assert summary.planned == 1 + len(others)
    stop = stop_of(services, car.id)
    assert (stop.lat, stop.lng) == (52.53, 13.43)
    assert opens <= stop.planned_arrival <= opens + timedelta(hours=1)
