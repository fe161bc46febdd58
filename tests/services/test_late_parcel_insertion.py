"""A parcel announced after its day was planned goes onto the route where it fits best.

Real SQLite, the pure-Python what-if to choose the route, the real OR-Tools re-plan after
(inline job queue), fake SMS.
"""

from __future__ import annotations

import pytest

from lastmile_portal.domain import model as m
from lastmile_portal.domain.errors import NotFound
from lastmile_portal.domain.status import DeliveryStatus
from lastmile_portal.services import routing
from tests.builders import make_delivery, make_locker, make_route, make_world

WEST, EAST = (52.52, 13.40), (52.52, 13.50)


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


def near(world, where: tuple[float, float], k: int, **extra):  # type: ignore[no-untyped-def]
    lat, lng = where
    return make_delivery(world, lat=lat + 0.002 * k, lng=lng + 0.001 * k, **extra)


def two_planned_routes(world) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    west = make_route(world, [near(world, WEST, k) for k in range(3)], dispatched=False)
    east = make_route(
        world, [near(world, EAST, k) for k in range(3)], driver_index=1, dispatched=False
    )
    return west, east


def placed(services, delivery_id: int) -> tuple[DeliveryStatus, int | None, list[str]]:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        d = uow.repo.get(m.Delivery, delivery_id)
        stop = uow.repo.get(m.Stop, d.stop_id) if d.stop_id else None
        entries = [f"{e.kind}: {e.data.get('reason', '')}" for e in uow.repo.timeline(d.id)]
        return d.status, stop.route_id if stop else None, entries


def test_a_late_parcel_goes_on_the_route_passing_its_door(services, world) -> None:  # type: ignore[no-untyped-def]
    west, east = two_planned_routes(world)
    late = make_delivery(world, lat=EAST[0] + 0.003, lng=EAST[1] + 0.0015)

    result = routing.insert_new_delivery(services, late.id)

    assert result.route_id == east, result
    status, route_id, entries = placed(services, late.id)
    assert (status, route_id) == (DeliveryStatus.SCHEDULED, east)
    assert "DeliveryPlanned: announced after the day was planned" in entries
    with services.uow() as uow:
        route = uow.repo.get(m.Route, east)
        # The optimizer re-planned the route with it: four stops in one consistent order.
        assert route.plan_version == 2
        stops = route.ordered_stops()
        assert len(stops) == 4
        arrivals = [s.planned_arrival for s in stops]
        assert arrivals == sorted(arrivals)
        stop = uow.repo.get(m.Stop, result.stop_id)
        d = uow.repo.get(m.Delivery, late.id)
        assert d.window_start <= stop.planned_arrival <= d.window_end
        assert len(uow.repo.get(m.Route, west).stops) == 3


def test_a_van_that_has_left_does_not_get_it(services, world) -> None:  # type: ignore[no-untyped-def]
    make_route(world, [near(world, EAST, k) for k in range(2)], dispatched=True)
    late = make_delivery(world, lat=EAST[0], lng=EAST[1])

    result = routing.insert_new_delivery(services, late.id)

    assert result.route_id is None
    assert "every route of its day has left the depot" in result.reason
    status, route_id, entries = placed(services, late.id)
    assert (status, route_id) == (DeliveryStatus.CREATED, None)
    assert entries[-1] == (
        "DeliveryDropped: left for the next plan: every route of its day has left the depot"
    )


def test_a_parcel_no_route_has_room_for_waits_for_the_next_plan(services, world) -> None:  # type: ignore[no-untyped-def]
    two_planned_routes(world)
    with services.uow() as uow:
        for vtype in uow.repo.all(m.VehicleType):
            vtype.capacity = 3  # both vans are full
        uow.commit()
    late = make_delivery(world, lat=EAST[0], lng=EAST[1])

    result = routing.insert_new_delivery(services, late.id)

    assert result.route_id is None
    assert "no route at the depot can serve it in its window" in result.reason
    assert placed(services, late.id)[:2] == (DeliveryStatus.CREATED, None)


def test_before_the_day_is_planned_the_plan_takes_it(services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world)

    result = routing.insert_new_delivery(services, d.id)

    assert result.route_id is None and "not planned yet" in result.reason
    status, route_id, entries = placed(services, d.id)
    assert (status, route_id) == (DeliveryStatus.CREATED, None)
    assert not any(e.startswith("DeliveryDropped") for e in entries)
    # The same parcel announced twice is inserted once.
    west, _east = two_planned_routes(world)
    first = routing.insert_new_delivery(services, d.id)
    again = routing.insert_new_delivery(services, d.id)
    assert first.route_id is not None
    assert (again.route_id, again.stop_id) == (None, first.stop_id)
    with pytest.raises(NotFound):
        routing.insert_new_delivery(services, 99_999)


def test_a_late_locker_parcel_joins_the_routes_stop_at_that_locker(services, world) -> None:  # type: ignore[no-untyped-def]
    locker_id = make_locker(world, "MMM")
    ds = [
        make_delivery(world, option=m.DeliveryOption.LOCKER, locker_id=locker_id) for _ in range(2)
    ]
    ds += [near(world, WEST, k) for k in range(2)]
    routing.plan_depot_day(services, world.depot_id, world.service_date)
    with services.uow() as uow:
        locker_stop = uow.repo.get(m.Delivery, ds[0].id).stop_id
    late = make_delivery(world, option=m.DeliveryOption.LOCKER, locker_id=locker_id)

    result = routing.insert_new_delivery(services, late.id)

    assert result.stop_id == locker_stop
    with services.uow() as uow:
        assert len(uow.repo.deliveries_at_stop(locker_stop)) == 3
        stop = uow.repo.get(m.Stop, locker_stop)
        assert stop.service_seconds == m.stop_service_seconds(m.StopKind.LOCKER, 3)


def test_a_parcel_announced_while_its_day_is_planned_follows_into_that_plan(  # type: ignore[no-untyped-def]
    services, world, monkeypatch
) -> None:
    from lastmile_portal.services import day_jobs

    first = [near(world, WEST, k) for k in range(3)]
    solve = services.optimizer.solve
    during: list[m.Delivery] = []

    def solve_while_a_parcel_arrives(*args):  # type: ignore[no-untyped-def]
        if not during:  # the day's plan (the re-plan after the insertion solves too)
            # Announced after the plan read the day: the insertion it asks for must wait.
            during.append(make_delivery(world, lat=WEST[0] + 0.001, lng=WEST[1]))
            waiting = routing.insert_new_delivery(services, during[0].id)
            assert "under way" in waiting.reason
        return solve(*args)

    monkeypatch.setattr(services.optimizer, "solve", solve_while_a_parcel_arrives)

    job = day_jobs.request_plan(services, "TST")

    assert job.state == "done" and job.result["planned"] == len(first)
    status, route_id, entries = placed(services, during[0].id)
    assert status is DeliveryStatus.SCHEDULED and route_id is not None
    assert "DeliveryPlanned: announced after the day was planned" in entries


def test_the_insertion_job_is_queued_by_id(services, world) -> None:  # type: ignore[no-untyped-def]
    _west, east = two_planned_routes(world)
    late = make_delivery(world, lat=EAST[0] - 0.001, lng=EAST[1] + 0.002)

    routing.request_insertion(services, late.id)  # the inline test queue runs it now

    assert placed(services, late.id)[:2] == (DeliveryStatus.SCHEDULED, east)
