"""The planning pipeline's pure steps, with plain objects: no database, no OR-Tools."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lastmile_portal.domain import model as m
from lastmile_portal.domain import planning
from lastmile_portal.domain.construction import repair
from lastmile_portal.domain.errors import RoutingError
from lastmile_portal.domain.eta import eta_window
from lastmile_portal.domain.routing import (
    Matrix,
    PlannedRoute,
    Point,
    RoutePlan,
    RouteProblem,
    Visit,
    verify_plan,
)

NOW = datetime(2026, 12, 2, 9, 0, 0, 500_000, tzinfo=UTC)
DEPOT = Point(52.52, 13.40)
VAN = m.VehicleType(
    code="van",
    kind=m.VehicleKind.VAN,
    name="Van",
    capacity=50,
    max_parcel_size=m.ParcelSize.L,
    speed_factor=2.0,
    range_km=300,
    co2_g_per_km=200,
    cost_per_km=0.3,
    cost_per_hour=25,
    fixed_cost=30,
)


def grid_matrix(problem: RouteProblem, seconds_per_step: int = 600) -> Matrix:
    """Return travel times that grow with the distance between node numbers' points."""
    points = problem.points()
    durations = [
        [
            int(round((abs(a.lat - b.lat) + abs(a.lng - b.lng)) * 100 * seconds_per_step))
            for b in points
        ]
        for a in points
    ]
    distances = [[d * 10.0 for d in row] for row in durations]
    return Matrix(durations=durations, distances=distances)


def open_stop(stop_id: int, lng: float, **kw: object) -> planning.OpenStop:
    """Return an open door stop east of the depot with one wide-windowed parcel."""
    values: dict[str, object] = {
        "id": stop_id,
        "kind": m.StopKind.ADDRESS,
        "location": Point(52.52, lng),
        "windows": ((NOW, NOW + timedelta(hours=8)),),
        "service_s": 180,
        "size": 1,
    }
    values.update(kw)
    return planning.OpenStop(**values)  # type: ignore[arg-type]


def open_route(route_id: int, stops: tuple[planning.OpenStop, ...], **kw: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "id": route_id,
        "dispatched": True,
        "depot": DEPOT,
        "closes": NOW + timedelta(hours=10),
        "vehicle_type": VAN,
        "stops": stops,
    }
    values.update(kw)
    return planning.OpenRoute(**values)  # type: ignore[arg-type]


# ---------------------------------------------------------------- build_replan


def test_a_dispatched_van_keeps_its_parcels_and_a_route_at_the_depot_may_trade() -> None:
    out = open_route(1, (open_stop(11, 13.41), open_stop(12, 13.42)))
    home = open_route(2, (open_stop(21, 13.43),), dispatched=False)
    problem = planning.build_replan(planning.DayState(now=NOW, routes=(out, home)))

    fixed = {s.id: s.fixed_vehicle for s in problem.stops}
    assert fixed == {"S11": "1", "S12": "1", "S21": None}
    assert problem.initial == {"1": ("S11", "S12"), "2": ("S21",)}
    assert problem.locked == {}
    assert all(v.fixed_cost == 0.0 for v in problem.vehicles)
    assert problem.epoch == NOW.replace(microsecond=0)


def test_the_stop_the_driver_stands_at_is_locked_first_and_stays_theirs() -> None:
    home = open_route(
        2, (open_stop(21, 13.41, arrived=True), open_stop(22, 13.42)), dispatched=False
    )
    problem = planning.build_replan(planning.DayState(now=NOW, routes=(home,)))

    assert problem.locked == {"2": ("S21",)}
    assert {s.id: s.fixed_vehicle for s in problem.stops} == {"S21": "2", "S22": None}


def test_a_van_out_starts_from_its_fresh_position_else_from_the_depot() -> None:
    there = Point(52.50, 13.45)
    fresh = open_route(1, (), driver_position=there, position_at=NOW - timedelta(minutes=5))
    stale = open_route(2, (), driver_position=there, position_at=NOW - timedelta(minutes=20))
    parked = open_route(
        3, (), dispatched=False, driver_position=there, position_at=NOW - timedelta(minutes=1)
    )
    problem = planning.build_replan(planning.DayState(now=NOW, routes=(fresh, stale, parked)))

    assert [v.start for v in problem.vehicles] == [there, DEPOT, DEPOT]
    assert all(v.end == DEPOT for v in problem.vehicles)


def test_a_route_still_at_the_depot_starts_at_its_planned_start() -> None:
    later = NOW + timedelta(minutes=30)
    home = open_route(2, (open_stop(21, 13.41),), dispatched=False, planned_start=later)
    out = open_route(1, (open_stop(11, 13.41),), planned_start=later)
    problem = planning.build_replan(planning.DayState(now=NOW, routes=(home, out)))

    epoch = NOW.replace(microsecond=0)
    assert problem.vehicles[0].shift_start == int((later - epoch).total_seconds())
    assert problem.vehicles[1].shift_start == 0


def test_windows_are_clamped_to_now_and_the_shift_runs_an_hour_past_the_latest() -> None:
    past = (NOW - timedelta(hours=3), NOW - timedelta(hours=1))
    late = (NOW + timedelta(hours=11), NOW + timedelta(hours=12))
    route = open_route(
        1, (open_stop(11, 13.41, windows=(past,)), open_stop(12, 13.42, windows=(late,)))
    )
    problem = planning.build_replan(planning.DayState(now=NOW, routes=(route,)))

    by_id = {s.id: s for s in problem.stops}
    # A window already past is served as soon as the route allows, not dropped.
    assert by_id["S11"].window_start == 0 and by_id["S11"].window_end > 0
    epoch = NOW.replace(microsecond=0)
    assert problem.vehicles[0].shift_end == int(
        (late[1] + timedelta(hours=1) - epoch).total_seconds()
    )


# ---------------------------------------------------------------- read_replan


def _plan(problem: RouteProblem, orders: dict[str, list[tuple[str, int]]], dropped=None):  # type: ignore[no-untyped-def]
    return RoutePlan(
        routes=tuple(
            PlannedRoute(
                vehicle_id=vid,
                visits=tuple(Visit(stop_id=sid, arrival=t, service_start=t) for sid, t in visits),
                distance_m=0.0,
                end_time=0,
            )
            for vid, visits in orders.items()
        ),
        dropped=dropped or {},
    )


def two_stops_planned() -> tuple[datetime, planning.DayState, RouteProblem]:
    """Return the epoch, a van out with stops 11 then 12 planned 10 and 20 minutes on, and
    the re-plan problem built from it."""
    epoch = NOW.replace(microsecond=0)
    a = open_stop(11, 13.41, planned_arrival=epoch + timedelta(seconds=600))
    b = open_stop(12, 13.42, planned_arrival=epoch + timedelta(seconds=1200))
    state = planning.DayState(now=NOW, routes=(open_route(1, (a, b)),))
    return epoch, state, planning.build_replan(state)


def test_the_outcome_gives_each_stop_its_place_arrival_and_eta_and_says_what_moved() -> None:
    epoch, state, problem = two_stops_planned()
    matrix = grid_matrix(problem)
    # The solver swaps them: b first, a 20 seconds later than promised.
    plan = _plan(problem, {"1": [("S12", 900), ("S11", 620)]})

    outcome = planning.read_replan(state, problem, plan, matrix)

    first, second = outcome.routes[1]
    assert (first.stop_id, first.position, first.old_position) == (12, 0, 1)
    assert (second.stop_id, second.position, second.old_position) == (11, 1, 0)
    assert second.arrival == epoch + timedelta(seconds=620)
    assert second.eta == eta_window(second.arrival, 1)
    # Travel is the vehicle's: the matrix scaled by its speed factor (2.0).
    assert first.travel_s == round(matrix.durations[0][problem.node_of("S12")] / 2)
    assert second.travel_s == round(
        matrix.durations[problem.node_of("S12")][problem.node_of("S11")] / 2
    )
    # Both changed place in line, so both customers hear about it.
    assert {r.stop_id for r in outcome.moves()} == {11, 12}


def test_a_shift_under_a_minute_in_the_same_place_is_not_news() -> None:
    epoch, state, problem = two_stops_planned()
    plan = _plan(problem, {"1": [("S11", 630), ("S12", 1500)]})

    outcome = planning.read_replan(state, problem, plan, grid_matrix(problem))

    assert [r.stop_id for r in outcome.moves()] == [12]
    assert outcome.stop(12).shift == timedelta(minutes=5)  # type: ignore[union-attr]
    assert outcome.stop(11).moved is False  # type: ignore[union-attr]


def test_a_dropped_stop_stays_last_on_its_route_with_an_honest_late_eta() -> None:
    epoch, state, problem = two_stops_planned()
    matrix = grid_matrix(problem)
    plan = _plan(problem, {"1": [("S12", 900)]}, dropped={"S11": "no time left"})

    outcome = planning.read_replan(state, problem, plan, matrix)

    kept, dropped = outcome.routes[1]
    assert dropped.stop_id == 11 and dropped.dropped and dropped.position == 1
    travel = round(matrix.durations[problem.node_of("S12")][problem.node_of("S11")] / 2)
    assert dropped.arrival == kept.arrival + timedelta(seconds=180 + travel)
    assert outcome.dropped == {"S11": "no time left"}


def test_a_stop_closed_while_solving_keeps_its_record_and_the_rest_close_up() -> None:
    epoch, state, problem = two_stops_planned()
    plan = _plan(problem, {"1": [("S11", 600), ("S12", 1200)]})

    outcome = planning.read_replan(state, problem, plan, grid_matrix(problem), frozenset({11}))

    (only,) = outcome.routes[1]
    assert (only.stop_id, only.position, only.old_position) == (12, 0, 0)


def test_a_stop_moved_to_another_route_has_no_old_place_and_is_news() -> None:
    epoch = NOW.replace(microsecond=0)
    a = open_stop(11, 13.41, planned_arrival=epoch + timedelta(seconds=600))
    state = planning.DayState(
        now=NOW,
        routes=(
            open_route(1, (a,), dispatched=False),
            open_route(2, (), dispatched=False),
        ),
    )
    problem = planning.build_replan(state)
    plan = _plan(problem, {"2": [("S11", 600)]})

    outcome = planning.read_replan(state, problem, plan, grid_matrix(problem))

    assert outcome.routes[1] == ()
    (moved,) = outcome.routes[2]
    assert moved.old_position is None and moved.moved


# ---------------------------------------------------------------- propose + dry run


def test_propose_returns_a_changed_copy_and_leaves_today_alone() -> None:
    a, b = open_stop(11, 13.41), open_stop(12, 13.42)
    state = planning.DayState(now=NOW, routes=(open_route(1, (a, b)),))
    later = ((NOW + timedelta(hours=3), NOW + timedelta(hours=4)),)

    moved = planning.propose(state, planning.StopChange(stop_id=12, windows=later))
    gone = planning.propose(state, planning.StopChange(stop_id=11, remove=True))
    added = planning.propose(state, planning.AddStop(route_id=1, stop=open_stop(13, 13.43)))

    assert moved.stop(12)[1].windows == later and state.stop(12)[1].windows == b.windows
    assert [s.id for s in gone.routes[0].stops] == [12]
    assert [s.id for s in added.routes[0].stops] == [11, 12, 13]
    assert [s.id for s in state.routes[0].stops] == [11, 12]
    with pytest.raises(RoutingError):
        planning.propose(state, planning.StopChange(stop_id=99, remove=True))
    with pytest.raises(RoutingError):
        planning.propose(state, planning.AddStop(route_id=7, stop=open_stop(13, 13.43)))


def test_a_dry_run_with_the_pure_repair_reads_a_feasible_what_if() -> None:
    epoch = NOW.replace(microsecond=0)
    stops = tuple(
        open_stop(10 + i, 13.40 + 0.01 * i, planned_arrival=epoch + timedelta(minutes=10 * i))
        for i in range(1, 5)
    )
    state = planning.DayState(now=NOW, routes=(open_route(1, stops),))
    window = ((epoch + timedelta(hours=2), epoch + timedelta(hours=3)),)
    what_if = planning.propose(state, planning.StopChange(stop_id=11, windows=window))
    problem = planning.build_replan(what_if)
    matrix = grid_matrix(problem)

    plan, _orders = repair(problem, matrix)
    outcome = planning.read_replan(what_if, problem, plan, matrix)

    assert verify_plan(problem, plan, matrix) == []
    assert outcome.dropped == {}
    moved = outcome.stop(11)
    assert moved is not None and moved.moved
    assert window[0][0] <= moved.arrival <= window[0][1]  # type: ignore[operator]
    assert moved.old_arrival == epoch + timedelta(minutes=10)
    assert {r.stop_id for routes in outcome.routes.values() for r in routes} == {11, 12, 13, 14}


def test_the_outcome_says_how_far_each_route_still_drives_so_what_ifs_compare() -> None:
    epoch = NOW.replace(microsecond=0)
    stops = tuple(
        open_stop(10 + i, 13.40 + 0.01 * i, planned_arrival=epoch + timedelta(minutes=10 * i))
        for i in range(1, 4)
    )
    state = planning.DayState(now=NOW, routes=(open_route(1, stops), open_route(2, ())))
    today = planning.build_replan(state)
    matrix = grid_matrix(today)
    plan, _orders = repair(today, matrix)
    outcome = planning.read_replan(state, today, plan, matrix)

    # The plan's own metres per route; a route with nothing left to drive says 0.
    assert outcome.distance_m == {1: plan.routes[0].distance_m, 2: 0.0}
    assert outcome.total_distance_m == plan.routes[0].distance_m > 0
    # A late window that makes the van come back costs more metres than today's order.
    late = ((epoch + timedelta(hours=5), epoch + timedelta(hours=6)),)
    what_if = planning.propose(state, planning.StopChange(stop_id=11, windows=late))
    problem = planning.build_replan(what_if)
    moved_matrix = grid_matrix(problem)
    moved_plan, _ = repair(problem, moved_matrix)
    moved = planning.read_replan(what_if, problem, moved_plan, moved_matrix)
    assert moved.total_distance_m >= outcome.total_distance_m


# ---------------------------------------------------------------- build_day / read_day

BERLIN = ZoneInfo("Europe/Berlin")


def depot_day(parcels: tuple[planning.Parcel, ...], **kw: object) -> planning.DepotDay:
    opens = datetime(2026, 12, 2, 7, 0, tzinfo=BERLIN)
    values: dict[str, object] = {
        "depot_name": "Test Depot",
        "depot": DEPOT,
        "opens": opens,
        "closes": opens.replace(hour=21),
        "now": opens - timedelta(hours=1),
        "crews": (planning.Crew(driver_id=5, vehicle_id=7, vehicle_type=VAN),),
        "parcels": parcels,
        "lockers": {3: Point(52.53, 13.41)},
    }
    values.update(kw)
    return planning.DepotDay(**values)  # type: ignore[arg-type]


def test_a_day_has_one_stop_per_door_and_one_per_locker() -> None:
    door = planning.Parcel(id=1, location=Point(52.51, 13.42), window=(None, None), size=0)
    in_locker = [
        planning.Parcel(
            id=i, location=Point(52.6, 13.5), window=(None, None), size=i - 1, locker_id=3
        )
        for i in (2, 3)
    ]
    built = planning.build_day(depot_day((door, *in_locker)))

    stops = {s.id: s for s in built.problem.stops}
    assert set(stops) == {"D1", "L3"}
    assert stops["L3"].location == Point(52.53, 13.41)  # the locker, not the recipients' doors
    assert (stops["L3"].demand, stops["L3"].size) == (2, 2)
    assert stops["L3"].service_s == m.stop_service_seconds(m.StopKind.LOCKER, 2) == 180
    assert stops["D1"].service_s == 180
    assert built.problem.epoch == datetime(2026, 12, 2, 6, 0, tzinfo=UTC)  # 07:00 Berlin
    assert built.problem.vehicles[0].shift_end == 15 * 3600  # an hour past 21:00 closing


def test_a_promise_past_closing_stretches_the_day_and_a_closed_day_is_refused() -> None:
    opens = datetime(2026, 12, 2, 7, 0, tzinfo=BERLIN)
    late = planning.Parcel(
        id=1,
        location=Point(52.51, 13.42),
        window=(opens.replace(hour=21), opens.replace(hour=22)),
        size=1,
    )
    built = planning.build_day(depot_day((late,)))
    assert built.problem.vehicles[0].shift_end == 16 * 3600  # 23:00, an hour past the promise

    with pytest.raises(RoutingError, match="closed for the rest of 2026-12-02"):
        planning.build_day(depot_day((), now=opens.replace(hour=22)))
    with pytest.raises(RoutingError, match="no active drivers"):
        planning.build_day(depot_day((late,), crews=()))


def test_read_day_gives_stops_in_order_with_travel_eta_and_dropped_parcels() -> None:
    parcels = tuple(
        planning.Parcel(id=i, location=Point(52.52, 13.40 + 0.01 * i), window=(None, None), size=1)
        for i in (1, 2, 3)
    )
    built = planning.build_day(depot_day(parcels))
    problem = built.problem
    matrix = grid_matrix(problem)
    plan = RoutePlan(
        routes=(
            PlannedRoute(
                vehicle_id="7",
                visits=(Visit("D2", 900, 900), Visit("D1", 1500, 1600)),
                distance_m=1234.0,
                end_time=3000,
            ),
        ),
        dropped={"D3": "does not fit"},
    )

    outcome = planning.read_day(built, plan, matrix)

    (route,) = outcome.routes
    assert route.crew.driver_id == 5 and route.distance_m == 1234.0
    assert route.end == problem.at(3000)
    assert [(s.key, s.sequence, s.parcel_ids) for s in route.stops] == [
        ("D2", 1, (2,)),
        ("D1", 2, (1,)),
    ]
    second = route.stops[1]
    assert second.arrival == problem.at(1600)  # service start, after waiting
    assert second.eta == eta_window(second.arrival, 1)
    assert second.travel_s == round(
        matrix.durations[problem.node_of("D2")][problem.node_of("D1")] / 2
    )
    assert outcome.dropped_parcels == {3: "does not fit"}


@pytest.mark.parametrize(("stops", "seconds"), [(1, 2.0), (100, 2.0), (300, 6.0), (1000, 20.0)])
def test_a_whole_day_searches_the_time_limit_per_hundred_stops(stops: int, seconds: float) -> None:
    assert planning.day_time_limit(2.0, stops) == pytest.approx(seconds)
