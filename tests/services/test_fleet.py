"""The fleet map's data and the staff room's feed, through the real services."""

from __future__ import annotations

from datetime import timedelta

from lastmile_portal.services import fleet, gps_intake, proof_of_delivery
from tests.builders import load_stop_id, make_delivery, make_route, make_world, ping
from tests.conftest import MORNING


def test_the_map_shows_each_driver_their_line_open_stops_and_the_late_one(services) -> None:  # type: ignore[no-untyped-def]
    world = make_world(services)
    # make_route plans arrivals at 09:15, 09:30, 09:45; the third's window ends 09:20.
    done = make_delivery(world, window_hours=(0, 4))
    fine = make_delivery(world, window_hours=(0, 4))
    late = make_delivery(world, window_start=MORNING, window_end=MORNING + timedelta(minutes=20))
    make_route(world, [done, fine, late])
    make_route(world, [make_delivery(world)], driver_index=1, dispatched=False)
    proof_of_delivery.mark_arrived(services, world.driver_ids[0], load_stop_id(services, done))
    proof_of_delivery.mark_delivered(services, world.driver_ids[0], load_stop_id(services, done))

    result = fleet.fleet_of(services, world.depot_id)

    assert result.depot.id == world.depot_id
    first, second = sorted(result.drivers, key=lambda d: d.name)
    assert first.driver_id == world.driver_ids[0]
    assert len(first.line) == 3 + 2  # depot, the three stops, depot
    assert first.line[0] == first.line[-1] == (result.depot.lat, result.depot.lng)
    assert [s.stop_id for s in first.remaining] == [
        load_stop_id(services, fine),
        load_stop_id(services, late),
    ]
    assert [s.late for s in first.remaining] == [False, True]
    assert (first.closed, first.stops, first.late) == (1, 3, 1)
    assert second.route_status == "planned" and second.lat is None


def test_the_map_has_the_newest_position_this_process_holds(services) -> None:  # type: ignore[no-untyped-def]
    world = make_world(services)
    make_route(world, [make_delivery(world)])
    gps_intake.record_positions(services, world.driver_ids[0], [ping(52.53, 13.41)])
    (driver,) = fleet.fleet_of(services, world.depot_id).drivers
    assert (driver.lat, driver.lng) == (52.53, 13.41)


def test_one_batch_of_pings_is_one_staff_event(services, publisher, clock) -> None:  # type: ignore[no-untyped-def]
    world = make_world(services)
    make_route(world, [make_delivery(world)])
    gps_intake.record_positions(services, world.driver_ids[0], [ping(52.53, 13.41)])
    publisher.published.clear()
    clock.advance(seconds=3)
    batch = [
        ping(52.5301, 13.4101, at=clock.now() - timedelta(seconds=2)),
        ping(52.5302, 13.4102, at=clock.now() - timedelta(seconds=1)),
        ping(52.5303, 13.4103, at=clock.now()),
    ]

    gps_intake.record_positions(services, world.driver_ids[0], batch)

    staff = [(room, p) for room, event, p in publisher.published if event == "fleet_position"]
    assert staff == [
        (
            f"fleet:{world.depot_id}",
            {
                "driver_id": world.driver_ids[0],
                "lat": 52.5303,
                "lng": 13.4103,
                "at": clock.now().isoformat(),
                "stale": False,
            },
        )
    ]
