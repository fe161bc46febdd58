"""RouteProblem validation and the solver-independent plan checker, on hand-made instances."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta

import pytest

from lastmile_portal.domain.errors import RoutingError
from lastmile_portal.domain.routing import (
    Matrix,
    PlannedRoute,
    Point,
    RoutePlan,
    RouteProblem,
    StopSpec,
    VehicleSpec,
    Visit,
    scaled,
    verify_plan,
)

EPOCH = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
DEPOT = Point(52.52, 13.40)


def vehicle(vid: str = "v1", **kw: object) -> VehicleSpec:
    values: dict[str, object] = dict(
        id=vid, start=DEPOT, end=DEPOT, shift_start=0, shift_end=10_000, capacity=10
    )
    values.update(kw)
    return VehicleSpec(**values)  # type: ignore[arg-type]


def stop(sid: str, **kw: object) -> StopSpec:
    values: dict[str, object] = dict(
        id=sid,
        location=Point(52.53, 13.41),
        window_start=0,
        window_end=10_000,
        service_s=100,
        demand=1,
        size=1,
    )
    values.update(kw)
    return StopSpec(**values)  # type: ignore[arg-type]


def problem(
    vehicles: tuple[VehicleSpec, ...], stops: tuple[StopSpec, ...], **kw: object
) -> RouteProblem:
    return RouteProblem(epoch=EPOCH, vehicles=vehicles, stops=stops, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------- validate


def test_a_sound_problem_validates() -> None:
    problem((vehicle(),), (stop("a"), stop("b")), locked={"v1": ("a",)}).validate()


def test_a_problem_without_stops_is_valid() -> None:
    problem((vehicle(),), ()).validate()


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: problem((), (stop("a"),)), "no vehicles"),
        (lambda: problem((vehicle(),), (stop("a", location=Point(math.nan, 13.4)),)), "stop a"),
        (lambda: problem((vehicle(),), (stop("a", location=Point(52.5, math.inf)),)), "stop a"),
        (lambda: problem((vehicle(start=Point(math.nan, 13.4)),), ()), "vehicle v1 start"),
        (lambda: problem((vehicle(end=Point(52.5, -math.inf)),), ()), "vehicle v1 end"),
        (lambda: problem((vehicle(),), (stop("a", location=Point(91.0, 13.4)),)), "out of range"),
        (lambda: problem((vehicle(),), (stop("a", location=Point(52.5, -180.5)),)), "out of range"),
        (lambda: problem((vehicle(start=Point(-90.01, 0)),), ()), "out of range"),
        (lambda: problem((vehicle(),), (stop("a", demand=-1),)), "negative demand"),
        (lambda: problem((vehicle(),), (stop("a", window_start=500, window_end=400),)), "window"),
        (lambda: problem((vehicle(),), (stop("a", service_s=-5),)), "service time"),
        (lambda: problem((vehicle(),), (stop("a"), stop("b"), stop("a"))), "unique"),
        (lambda: problem((vehicle(shift_start=100, shift_end=50),), ()), "shift"),
        (lambda: problem((vehicle(capacity=-1),), ()), "capacity"),
        (lambda: problem((vehicle(),), (stop("a"),), locked={"v1": ("a", "ghost")}), "ghost"),
        (lambda: problem((vehicle(),), (stop("a"),), locked={"v9": ("a",)}), "v9"),
    ],
    ids=[
        "no-vehicles",
        "nan-stop",
        "inf-stop",
        "nan-vehicle-start",
        "inf-vehicle-end",
        "lat-over-90",
        "lng-under-minus-180",
        "vehicle-lat-under-minus-90",
        "negative-demand",
        "window-ends-before-start",
        "negative-service",
        "duplicate-ids",
        "shift-ends-before-start",
        "negative-capacity",
        "locked-unknown-stop",
        "locked-unknown-vehicle",
    ],
)
def test_validate_rejects_problems_that_cannot_be_planned(make, words: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RoutingError) as excinfo:
        make().validate()
    assert words in excinfo.value.message
    assert excinfo.value.status_code == 422


def test_validate_accepts_the_edges_of_the_coordinate_range() -> None:
    problem(
        (vehicle(start=Point(-90, -180), end=Point(90, 180)),),
        (stop("a", location=Point(0, 0), window_start=5, window_end=5),),
    ).validate()


def test_points_are_starts_then_ends_then_stops() -> None:
    a, b = Point(1, 1), Point(2, 2)
    p = problem(
        (vehicle("v1", start=a, end=b), vehicle("v2", start=b, end=a)),
        (stop("s", location=Point(3, 3)),),
    )
    assert p.points() == [a, b, b, a, Point(3, 3)]
    assert p.at(90) == EPOCH + timedelta(seconds=90)


# ---------------------------------------------------------------- verify_plan
#
# One vehicle v1, stops a and b. Points: 0 = v1 start, 1 = v1 end, 2 = a, 3 = b.
# Every leg takes 100 s and 1000 m; service is 100 s per stop.

LEG_S = 100
LEG_M = 1000.0


def square_matrix(n: int) -> Matrix:
    durations = [[0 if i == j else LEG_S for j in range(n)] for i in range(n)]
    distances = [[0.0 if i == j else LEG_M for j in range(n)] for i in range(n)]
    return Matrix(durations=durations, distances=distances)


def route(vid: str, *stop_ids: str) -> PlannedRoute:
    # Arrival/service times are informative only: verify_plan recomputes them.
    visits = tuple(Visit(stop_id=s, arrival=0, service_start=0) for s in stop_ids)
    return PlannedRoute(vehicle_id=vid, visits=visits, distance_m=0.0, end_time=0)


def two_stop_problem(**vehicle_kw: object) -> RouteProblem:
    return problem((vehicle(**vehicle_kw),), (stop("a"), stop("b")))


def test_a_correct_plan_has_no_violations() -> None:
    p = two_stop_problem()
    plan = RoutePlan(routes=(route("v1", "a", "b"),))
    assert verify_plan(p, plan, square_matrix(4)) == []


def test_a_correct_plan_may_drop_a_stop_it_reports() -> None:
    p = two_stop_problem()
    plan = RoutePlan(routes=(route("v1", "a"),), dropped={"b": "no room"})
    assert verify_plan(p, plan, square_matrix(4)) == []


def test_waiting_for_a_window_to_open_is_not_lateness() -> None:
    # b opens at 1000: the van waits, serves, returns at 1000 + 100 + 100 = 1200.
    p = problem((vehicle(shift_end=1200),), (stop("a"), stop("b", window_start=1000)))
    plan = RoutePlan(routes=(route("v1", "a", "b"),))
    assert verify_plan(p, plan, square_matrix(4)) == []
    tighter = problem((vehicle(shift_end=1199),), (stop("a"), stop("b", window_start=1000)))
    assert any("after its shift" in e for e in verify_plan(tighter, plan, square_matrix(4)))


def test_late_arrival_is_reported() -> None:
    # a is reached at 100, served until 200; b is reached at 300 but closes at 250.
    p = problem((vehicle(),), (stop("a"), stop("b", window_end=250)))
    problems = verify_plan(p, RoutePlan(routes=(route("v1", "a", "b"),)), square_matrix(4))
    assert problems == ["v1 reaches b at 300, after 250"]


def test_arrival_exactly_at_window_end_is_on_time() -> None:
    p = problem((vehicle(),), (stop("a"), stop("b", window_end=300)))
    assert verify_plan(p, RoutePlan(routes=(route("v1", "a", "b"),)), square_matrix(4)) == []


def test_slower_vehicle_is_late_where_a_faster_one_is_not() -> None:
    # A cargo bike at half speed needs 200 s per leg: b is reached at 500.
    slow = problem((vehicle(speed_factor=0.5),), (stop("a"), stop("b", window_end=450)))
    problems = verify_plan(slow, RoutePlan(routes=(route("v1", "a", "b"),)), square_matrix(4))
    assert any("reaches b at 500" in e for e in problems)
    assert scaled(100, 0.5) == 200 and scaled(100, 2.0) == 50


def test_over_capacity_is_reported() -> None:
    p = problem((vehicle(capacity=3),), (stop("a", demand=2), stop("b", demand=2)))
    problems = verify_plan(p, RoutePlan(routes=(route("v1", "a", "b"),)), square_matrix(4))
    assert problems == ["v1 carries 4, over its capacity 3"]


def test_over_range_is_reported() -> None:
    # depot → a → b → depot is 3 legs = 3000 m.
    p = two_stop_problem(range_m=2999.0)
    problems = verify_plan(p, RoutePlan(routes=(route("v1", "a", "b"),)), square_matrix(4))
    assert problems == ["v1 drives 3000 m, over its range"]
    assert (
        verify_plan(
            two_stop_problem(range_m=3000.0),
            RoutePlan(routes=(route("v1", "a", "b"),)),
            square_matrix(4),
        )
        == []
    )


def test_shift_overrun_is_reported() -> None:
    # Return to the depot at 100+100+100+100+100 = 500.
    p = two_stop_problem(shift_end=499)
    problems = verify_plan(p, RoutePlan(routes=(route("v1", "a", "b"),)), square_matrix(4))
    assert problems == ["v1 ends at 500, after its shift (499)"]


def test_stop_visited_twice_is_reported() -> None:
    p = two_stop_problem()
    problems = verify_plan(p, RoutePlan(routes=(route("v1", "a", "b", "a"),)), square_matrix(4))
    assert "a is visited 2 times" in problems


def test_stop_visited_by_two_vehicles_is_reported() -> None:
    p = problem((vehicle("v1"), vehicle("v2")), (stop("a"), stop("b")))
    plan = RoutePlan(routes=(route("v1", "a", "b"), route("v2", "a")))
    assert "a is visited 2 times" in verify_plan(p, plan, square_matrix(6))


def test_missing_stop_not_reported_dropped_is_reported() -> None:
    p = two_stop_problem()
    problems = verify_plan(p, RoutePlan(routes=(route("v1", "a"),)), square_matrix(4))
    assert problems == ["b is neither visited nor reported dropped"]


def test_stop_both_visited_and_dropped_is_reported() -> None:
    p = two_stop_problem()
    plan = RoutePlan(routes=(route("v1", "a", "b"),), dropped={"b": "?"})
    assert verify_plan(p, plan, square_matrix(4)) == ["b is both visited and reported dropped"]


def test_unknown_stop_in_plan_is_reported() -> None:
    p = two_stop_problem()
    plan = RoutePlan(routes=(route("v1", "a", "zz", "b"),))
    assert "v1 visits unknown stop zz" in verify_plan(p, plan, square_matrix(4))


def test_locked_prefix_not_first_is_reported() -> None:
    p = dataclasses.replace(two_stop_problem(), locked={"v1": ("b",)})
    problems = verify_plan(p, RoutePlan(routes=(route("v1", "a", "b"),)), square_matrix(4))
    assert problems == ["v1 does not keep its visited stops first"]
    assert verify_plan(p, RoutePlan(routes=(route("v1", "b", "a"),)), square_matrix(4)) == []


def test_locked_prefix_on_a_vehicle_without_a_route_is_reported() -> None:
    p = dataclasses.replace(two_stop_problem(), locked={"v1": ("a",)})
    plan = RoutePlan(routes=(), dropped={"a": "?", "b": "?"})
    assert "v1 does not keep its visited stops first" in verify_plan(p, plan, square_matrix(4))


def test_wrong_fixed_vehicle_is_reported() -> None:
    p = problem((vehicle("v1"), vehicle("v2")), (stop("a", fixed_vehicle="v2"), stop("b")))
    problems = verify_plan(p, RoutePlan(routes=(route("v1", "a", "b"),)), square_matrix(6))
    assert problems == ["a is fixed to v2, not v1"]
    fine = RoutePlan(routes=(route("v1", "b"), route("v2", "a")))
    assert verify_plan(p, fine, square_matrix(6)) == []


def test_too_large_parcel_for_the_vehicle_is_reported() -> None:
    p = problem((vehicle(max_size=1),), (stop("a", size=2), stop("b")))
    problems = verify_plan(p, RoutePlan(routes=(route("v1", "a", "b"),)), square_matrix(4))
    assert problems == ["v1 cannot carry the size of a"]


def test_second_vehicle_uses_its_own_start_and_end_rows() -> None:
    # v2 starts far away (row 1 → a takes 5000 s) so a closing at 1000 is late only for v2.
    m = square_matrix(6)
    durations = [list(r) for r in m.durations]
    durations[1][4] = 5000  # v2 start → a (points: v1s, v2s, v1e, v2e, a, b)
    p = problem((vehicle("v1"), vehicle("v2")), (stop("a", window_end=1000), stop("b")))
    mtx = Matrix(durations=durations, distances=m.distances)
    assert verify_plan(p, RoutePlan(routes=(route("v1", "a"), route("v2", "b"))), mtx) == []
    late = verify_plan(p, RoutePlan(routes=(route("v2", "a"), route("v1", "b"))), mtx)
    assert late == ["v2 reaches a at 5000, after 1000"]


def test_route_for_finds_the_vehicle_route() -> None:
    r = route("v2", "a")
    plan = RoutePlan(routes=(route("v1", "b"), r))
    assert plan.route_for("v2") is r
    assert plan.route_for("v3") is None
