"""Live re-planning: new plan versions, honest ETAs with a reason, pushed to the right rooms."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile_portal.domain import model as m
from lastmile_portal.domain import planning
from lastmile_portal.domain.status import DeliveryStatus
from lastmile_portal.services import gps_intake, proof_of_delivery, routing
from tests.builders import make_delivery, make_route, make_world


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


def _stops(services, route_id):  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        route = uow.repo.get(m.Route, route_id)
        return [
            (s.id, s.sequence, s.status, s.planned_arrival) for s in route.ordered_stops()
        ], route.plan_version


def _timeline(services, delivery_id, kind="EtaChanged"):  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        return [e for e in uow.repo.timeline(delivery_id) if e.kind == kind]


def test_replan_saves_new_version_and_tells_each_customer_why(services, world, publisher) -> None:
    # A wide window for everyone, but the builder's order zig-zags across the city.
    ds = [
        make_delivery(world, window_hours=(0, 6), lat=52.52 + 0.02 * (i % 2), lng=13.40 + 0.01 * i)
        for i in range(5)
    ]
    route_id = make_route(world, ds)
    publisher.published.clear()

    result = routing.reoptimize_route(services, route_id, "customer moved a parcel")

    stops, version = _stops(services, route_id)
    assert version == 2 and result.plan_versions == {route_id: 2}
    assert [s[1] for s in stops] == [1, 2, 3, 4, 5]
    changed = {c.delivery_id for c in result.changes}
    assert changed, "a zig-zag route must be re-ordered"
    for delivery_id in changed:
        entries = _timeline(services, delivery_id)
        assert entries and "customer moved a parcel" in entries[-1].summary
        assert entries[-1].data["plan_version"] == 2
    rooms = {room for room, event, _ in publisher.published if event == "eta"}
    assert rooms == {f"delivery:{d}" for d in changed}
    for _, event_name, payload in publisher.published:
        assert event_name == "eta"
        assert set(payload) == {
            "expected",
            "earliest",
            "latest",
            "confidence",
            "stops_before",
            "plan_version",
        }


def test_replan_keeps_done_stops_and_the_stop_the_driver_is_at(services, world) -> None:
    ds = [make_delivery(world, window_hours=(0, 6), lng=13.40 + 0.01 * i) for i in range(4)]
    route_id = make_route(world, ds)
    (s1, *_), (s2, *_), *_ = _stops(services, route_id)[0]
    driver = world.driver_ids[0]
    proof_of_delivery.mark_delivered(services, driver, s1)
    proof_of_delivery.mark_arrived(services, driver, s2)

    routing.reoptimize_route(services, route_id, "traffic")

    stops, _ = _stops(services, route_id)
    assert stops[0][0] == s1 and stops[0][2] is m.StopStatus.DONE
    assert stops[1][0] == s2 and stops[1][2] is m.StopStatus.ARRIVED
    assert len(stops) == 4


def test_replan_starts_from_the_drivers_position_and_the_time_now(services, world, clock) -> None:
    near, far = (
        make_delivery(world, window_hours=(0, 6), lat=52.60, lng=13.40),
        make_delivery(world, window_hours=(0, 6), lat=52.45, lng=13.40),
    )
    route_id = make_route(world, [near, far])
    clock.advance(minutes=30)
    gps_intake.record_positions(
        services,
        world.driver_ids[0],
        [{"lat": 52.46, "lng": 13.40, "recorded_at": clock.now().isoformat()}],
    )

    routing.reoptimize_route(services, route_id, "driver took another road")

    stops, _ = _stops(services, route_id)
    with services.uow() as uow:
        first = uow.repo.deliveries_at_stop(stops[0][0])[0]
    assert first.id == far.id  # the driver is next to it now
    assert stops[0][3] >= clock.now()


def test_failed_attempt_replans_the_rest_of_the_route(services, world) -> None:
    ds = [make_delivery(world, window_hours=(0, 6), lng=13.40 + 0.01 * i) for i in range(3)]
    route_id = make_route(world, ds)
    first_stop = _stops(services, route_id)[0][0][0]

    proof_of_delivery.mark_failed(services, world.driver_ids[0], first_stop, "nobody home")

    _, version = _stops(services, route_id)
    assert version == 2  # the inline job queue ran the re-plan
    with services.uow() as uow:
        assert uow.repo.get(m.Delivery, ds[0].id).status is DeliveryStatus.FAILED
    reasons = [e.summary for d in ds[1:] for e in _timeline(services, d.id)]
    assert any("attempt failed at a previous stop (nobody home)" in r for r in reasons)


def test_depot_replan_moves_stops_to_a_route_with_room(services, world) -> None:
    # Ten stops in one short window on one route still at the depot: one van cannot make
    # them all, and the other van has not left either.
    ds = [
        make_delivery(world, window_hours=(0, 1), lat=52.52 + 0.01 * (i % 5), lng=13.35 + 0.02 * i)
        for i in range(10)
    ]
    busy = make_route(world, ds, driver_index=0, dispatched=False)
    idle = make_route(world, [], driver_index=1, dispatched=False)

    result = routing.reoptimize_depot(services, world.depot_id, "morning rebalance")

    busy_stops, _ = _stops(services, busy)
    idle_stops, _ = _stops(services, idle)
    assert idle_stops, "the idle van must take some stops"
    assert len(busy_stops) + len(idle_stops) == 10
    assert set(result.plan_versions) == {busy, idle}
    with services.uow() as uow:
        on_idle = [d for s in idle_stops for d in uow.repo.deliveries_at_stop(s[0])]
    assert on_idle
    assert all(_timeline(services, d.id) for d in on_idle)


def test_depot_replan_never_moves_parcels_out_of_a_van_on_the_road(services, world) -> None:
    # The same overloaded morning, but the van has left: its parcels are aboard. They stay
    # on its route (late where they must be), and the idle van gets none of them.
    ds = [
        make_delivery(world, window_hours=(0, 1), lat=52.52 + 0.01 * (i % 5), lng=13.35 + 0.02 * i)
        for i in range(10)
    ]
    busy = make_route(world, ds, driver_index=0)
    idle = make_route(world, [], driver_index=1, dispatched=False)

    routing.reoptimize_depot(services, world.depot_id, "morning rebalance")

    busy_stops, _ = _stops(services, busy)
    idle_stops, _ = _stops(services, idle)
    assert idle_stops == []
    assert len(busy_stops) == 10
    with services.uow() as uow:
        assert {uow.repo.get(m.Delivery, d.id).stop_id for d in ds} == {s[0] for s in busy_stops}


def test_stop_that_cannot_fit_keeps_an_honest_late_eta(services, world, clock) -> None:
    late = make_delivery(world, window_hours=(0, 1), lat=52.70, lng=13.80)
    route_id = make_route(world, [late])
    clock.advance(hours=2)  # the window has passed

    routing.reoptimize_route(services, route_id, "running late")

    stops, _ = _stops(services, route_id)
    assert len(stops) == 1
    assert stops[0][3] > clock.now() + timedelta(minutes=10)  # far away: not "now"


def test_route_is_completed_when_its_last_stop_is_dealt_with(services, world) -> None:
    ds = [make_delivery(world, window_hours=(0, 6)) for _ in range(2)]
    route_id = make_route(world, ds)
    (s1, *_), (s2, *_) = _stops(services, route_id)[0]
    driver = world.driver_ids[0]
    proof_of_delivery.mark_delivered(services, driver, s1)
    with services.uow() as uow:
        assert uow.repo.get(m.Route, route_id).status is m.RouteStatus.IN_PROGRESS
    proof_of_delivery.mark_failed(services, driver, s2, "nobody home")
    with services.uow() as uow:
        route = uow.repo.get(m.Route, route_id)
        assert route.status is m.RouteStatus.COMPLETED and route.completed_at is not None


def test_a_what_if_preview_answers_from_the_pipeline_and_commits_nothing(
    services, world, publisher, clock
) -> None:
    ds = [make_delivery(world, window_hours=(0, 6), lng=13.40 + 0.01 * i) for i in range(4)]
    route_id = make_route(world, ds)
    before, version = _stops(services, route_id)
    first_stop = before[0][0]
    publisher.published.clear()
    later = (clock.now() + timedelta(hours=3), clock.now() + timedelta(hours=4))

    outcome = routing.preview_replan(
        services, [route_id], planning.StopChange(stop_id=first_stop, windows=(later,))
    )

    moved = outcome.stop(first_stop)
    assert moved is not None and moved.moved
    assert later[0] <= moved.arrival <= later[1]
    assert outcome.dropped == {}
    # Nothing was saved or sent: the preview is a what-if, not a change.
    assert _stops(services, route_id) == (before, version)
    assert all(not _timeline(services, d.id) for d in ds)
    assert publisher.published == []
    with services.uow() as uow:
        assert uow.repo.get(m.Delivery, ds[0].id).window_end != later[1]
