"""The OR-Tools optimizer for real, on small problems; every plan checked by verify_plan."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.solomon import check, parse, plan_routes, to_problem
from lastmile_portal.adapters.ortools_optimizer import (
    DECOMPOSE_ABOVE,
    PARALLEL_STRATEGIES,
    OrToolsOptimizer,
)
from lastmile_portal.adapters.ortools_optimizer.decomposition import (
    REGION_STOPS,
    REGIONS_ABOVE,
    _group_around,
    _next_seed,
)
from lastmile_portal.domain.construction import (
    RouteBuilder,
    changed_arcs,
    construct,
    eliminate_routes,
    plan_orders,
    repair,
    routes_cost,
)
from lastmile_portal.domain.errors import RoutingError
from lastmile_portal.domain.routing import (
    Matrix,
    Point,
    RoutePlan,
    RouteProblem,
    StopSpec,
    VehicleSpec,
    verify_plan,
)

EPOCH = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
DEPOT = Point(52.5200, 13.4050)
HOUR = 3600
SPEED_M_S = 8.0


def near(dx_m: float, dy_m: float) -> Point:
    """Return a point ``dx_m`` east and ``dy_m`` north of the depot."""
    return Point(DEPOT.lat + dy_m / 111_320, DEPOT.lng + dx_m / (111_320 * math.cos(0.9166)))


def planar_matrix(problem: RouteProblem) -> Matrix:
    """Return straight-line distances and 8 m/s durations between the problem's points."""
    pts = problem.points()

    def metres(a: Point, b: Point) -> float:
        dx = (a.lng - b.lng) * 111_320 * math.cos(0.9166)
        dy = (a.lat - b.lat) * 111_320
        return math.hypot(dx, dy)

    dist = [[metres(a, b) for b in pts] for a in pts]
    return Matrix(
        durations=[[int(round(d / SPEED_M_S)) for d in row] for row in dist], distances=dist
    )


def van(vid: str = "van", **kw: object) -> VehicleSpec:
    base = VehicleSpec(
        id=vid,
        start=DEPOT,
        end=DEPOT,
        shift_start=0,
        shift_end=8 * HOUR,
        capacity=20,
        cost_per_km=0.3,
        cost_per_hour=20.0,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def stop(sid: str, dx: float, dy: float, **kw: object) -> StopSpec:
    base = StopSpec(
        id=sid, location=near(dx, dy), window_start=0, window_end=8 * HOUR, service_s=120
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def problem(vehicles: list[VehicleSpec], stops: list[StopSpec], **kw: object) -> RouteProblem:
    return RouteProblem(epoch=EPOCH, vehicles=tuple(vehicles), stops=tuple(stops), **kw)  # type: ignore[arg-type]


def solve(p: RouteProblem, limit: float = 1.0, **kw: object) -> tuple[RoutePlan, Matrix]:
    matrix = planar_matrix(p)
    plan = OrToolsOptimizer(**kw).solve(p, matrix, limit)  # type: ignore[arg-type]
    assert verify_plan(p, plan, matrix) == []
    return plan, matrix


def ring(n: int, radius: float = 3000) -> list[StopSpec]:
    return [
        stop(
            f"s{i}",
            radius * math.cos(2 * math.pi * i / n) * (0.5 + (i % 3) / 4),
            radius * math.sin(2 * math.pi * i / n) * (0.5 + (i % 3) / 4),
        )
        for i in range(n)
    ]


def test_time_windows_and_capacity_hold() -> None:
    stops = ring(12)
    # Half the stops in the morning, half in the afternoon; two vans of six parcels.
    stops = [
        replace(
            s, window_start=0 if i % 2 else 4 * HOUR, window_end=2 * HOUR if i % 2 else 6 * HOUR
        )
        for i, s in enumerate(stops)
    ]
    p = problem([van("a", capacity=6), van("b", capacity=6)], stops)
    plan, _ = solve(p)
    assert plan.dropped == {}
    for route in plan.routes:
        assert len(route.visits) <= 6
        for visit in route.visits:
            s = next(x for x in stops if x.id == visit.stop_id)
            assert s.window_start <= visit.service_start <= s.window_end


def test_sidewalk_robot_takes_only_small_parcels() -> None:
    stops = [replace(s, size=0 if i % 2 else 2) for i, s in enumerate(ring(8, 800))]
    robot = van("robot", max_size=0, speed_factor=0.25, cost_per_km=0.01, cost_per_hour=1.0)
    p = problem([robot, van("van", cost_per_km=2.0, cost_per_hour=40.0)], stops)
    plan, _ = solve(p)
    assert plan.dropped == {}
    robot_route = plan.route_for("robot")
    large = {s.id for s in stops if s.size == 2}
    assert robot_route is None or not large & {v.stop_id for v in robot_route.visits}


def test_large_parcel_with_only_a_robot_is_dropped_with_a_reason() -> None:
    p = problem([van("robot", max_size=0)], [stop("small", 200, 0, size=0), stop("big", 300, 0)])
    plan, _ = solve(p)
    assert [v.stop_id for r in plan.routes for v in r.visits] == ["small"]
    assert plan.dropped == {"big": "parcel too large for every vehicle"}


def test_range_limits_the_route() -> None:
    # Out and back to the far stop is 2 x 9 km; the e-bike's battery does 10 km.
    p = problem([van("ebike", range_m=10_000)], [stop("near", 1000, 0), stop("far", 9000, 0)])
    plan, matrix = solve(p)
    assert plan.dropped.keys() == {"far"}
    assert "range" in plan.dropped["far"]
    assert plan.routes[0].distance_m <= 10_000


def test_locked_prefix_stays_first_and_in_order() -> None:
    stops = ring(10)
    p = problem([van("a"), van("b")], stops, locked={"b": ("s7", "s2")})
    plan, _ = solve(p)
    route = plan.route_for("b")
    assert route is not None
    assert [v.stop_id for v in route.visits[:2]] == ["s7", "s2"]


def test_fixed_vehicle_is_respected() -> None:
    stops = ring(8)
    stops[3] = replace(stops[3], fixed_vehicle="b")
    stops[5] = replace(stops[5], fixed_vehicle="b")
    plan, _ = solve(problem([van("a"), van("b")], stops))
    route = plan.route_for("b")
    assert route is not None and {"s3", "s5"} <= {v.stop_id for v in route.visits}


def test_unreachable_and_overfull_stops_are_dropped_not_crashed() -> None:
    stops = [
        stop("ok", 500, 0),
        # Open for one minute at the start of the shift, 20 km away: nobody gets there.
        stop("too-far-too-soon", 20_000, 0, window_start=0, window_end=60),
        stop("too-heavy", 600, 0, demand=50),
        stop("orphan", 700, 0, fixed_vehicle="ghost"),
    ]
    plan, _ = solve(problem([van("a", capacity=10)], stops))
    assert [v.stop_id for r in plan.routes for v in r.visits] == ["ok"]
    assert plan.dropped["too-far-too-soon"].startswith("time window cannot be reached")
    assert plan.dropped["too-heavy"] == "more parcels than any vehicle can carry"
    assert "ghost" in plan.dropped["orphan"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: replace(p, vehicles=()), "no vehicles"),
        (lambda p: replace(p, stops=(replace(p.stops[0], demand=-1),)), "negative demand"),
        (
            lambda p: replace(p, stops=(replace(p.stops[0], location=Point(math.nan, 13.4)),)),
            "not numbers",
        ),
        (
            lambda p: replace(
                p, stops=(replace(p.stops[0], window_start=9 * HOUR, window_end=10 * HOUR),)
            ),
            "outside every vehicle's shift",
        ),
        (lambda p: replace(p, vehicles=(replace(p.vehicles[0], speed_factor=0),)), "speed"),
        (lambda p: replace(p, locked={"a": ("s0",), "b": ("s0",)}), "more than one vehicle"),
    ],
)
def test_bad_problems_raise_routing_error(change, message) -> None:  # type: ignore[no-untyped-def]
    good = problem([van("a"), van("b")], ring(3))
    bad = change(good)
    with pytest.raises(RoutingError, match=message):
        OrToolsOptimizer().solve(bad, planar_matrix(good), 0.5)


def test_a_matrix_of_the_wrong_size_is_a_routing_error() -> None:
    p = problem([van("a")], ring(3))
    matrix = planar_matrix(p)
    short = Matrix(durations=matrix.durations[:-1], distances=matrix.distances[:-1])
    with pytest.raises(RoutingError, match="wrong size"):
        OrToolsOptimizer().solve(p, short, 0.5)


def test_deterministic_mode_gives_the_same_plan_twice() -> None:
    stops = [
        replace(s, window_start=(i % 4) * HOUR, window_end=(i % 4 + 2) * HOUR)
        for i, s in enumerate(ring(30, 5000))
    ]
    p = problem([van("a", capacity=10), van("b", capacity=10), van("c", capacity=10)], stops)
    first, _ = solve(p, deterministic=True)
    second, _ = solve(p, deterministic=True)
    assert first == second
    assert first.dropped == {}


def test_a_40_stop_day_is_fully_planned_at_the_live_time_limit() -> None:
    stops = [
        replace(s, window_start=(i % 3) * 2 * HOUR, window_end=(i % 3) * 2 * HOUR + 3 * HOUR)
        for i, s in enumerate(ring(40, 6000))
    ]
    p = problem([van(f"v{k}", capacity=12) for k in range(5)], stops)
    # (How long it takes is measured in bench/, not asserted here.)
    plan, _ = solve(p, limit=1.0)
    assert plan.dropped == {}


def solomon_c101_25():  # type: ignore[no-untyped-def]
    # A copy of the public instance lives in tests/data so the test never depends on shared/.
    return parse(Path(__file__).resolve().parents[1] / "data" / "C101.txt", customers=25)


@pytest.mark.parametrize(
    ("workers", "only"),
    # The second search alone too (one worker runs the first): with two workers the first
    # one's plan could hide a failed second.
    [(1, None), (2, None), (1, 1)],
)
def test_solomon_c101_first_25_customers_solved_feasibly(workers: int, only: int | None) -> None:
    inst = solomon_c101_25()
    p, matrix = to_problem(inst)
    chosen = None if only is None else (PARALLEL_STRATEGIES[only],)
    plan = OrToolsOptimizer(workers=workers, strategies=chosen).solve(p, matrix, 2.0)
    assert verify_plan(p, plan, matrix) == []
    assert plan.dropped == {}
    routes = plan_routes(plan)
    assert check(inst, routes) == []
    assert sorted(c for r in routes for c in r) == list(range(1, 26))
    # The first 25 customers of C101 need 3 vehicles and 191.3 (known optimum, double 191.8).
    assert len(routes) <= 4


# ---------------------------------------------------------------- warm start (re-plans)


def day_of(n: int = 30, vehicles: int = 3) -> RouteProblem:
    stops = [
        replace(s, window_start=(i % 4) * HOUR, window_end=(i % 4 + 3) * HOUR)
        for i, s in enumerate(ring(n, 5000))
    ]
    return problem([van(f"v{k}", capacity=15) for k in range(vehicles)], stops)


@pytest.mark.parametrize(("limit", "deterministic"), [(0.05, False), (1.0, True)])
def test_warm_start_keeps_an_unchanged_plan_as_it_is(limit: float, deterministic: bool) -> None:
    p = day_of()
    first, _ = solve(p, deterministic=True)
    again, _ = solve(replace(p, initial=plan_orders(first)), limit, deterministic=deterministic)
    assert plan_orders(again) == plan_orders(first)
    assert again.dropped == {}


@pytest.mark.parametrize(("limit", "deterministic"), [(0.05, False), (1.0, True)])
def test_one_new_stop_is_inserted_without_reshuffling_the_day(
    limit: float, deterministic: bool
) -> None:
    p = day_of()
    first, _ = solve(p, deterministic=True)
    before = plan_orders(first)
    new = stop("new", 1200, -800, window_start=HOUR, window_end=4 * HOUR)
    changed = replace(p, stops=(*p.stops, new), initial=before)
    plan, _ = solve(changed, limit, deterministic=deterministic)  # verify_plan inside
    after = plan_orders(plan)
    assert plan.dropped == {}
    assert "new" in {sid for order in after.values() for sid in order}
    # Only the stops next to the insertion get a new predecessor: the new stop itself and
    # the one after it (a couple more if a local move pays).
    assert changed_arcs(before, after) <= 4
    for vid, order in before.items():
        kept = [sid for sid in after.get(vid, ()) if sid in order]
        assert kept == list(order)[: len(kept)] or len(kept) >= len(order) - 1


def test_a_moved_window_moves_only_that_stop() -> None:
    p = day_of()
    first, _ = solve(p, deterministic=True)
    before = plan_orders(first)
    moved = next(s for s in p.stops if s.window_start == 0)
    stops = tuple(
        replace(s, window_start=5 * HOUR, window_end=7 * HOUR) if s.id == moved.id else s
        for s in p.stops
    )
    plan, _ = solve(replace(p, stops=stops, initial=before), 0.05)
    visit = next(v for r in plan.routes for v in r.visits if v.stop_id == moved.id)
    assert 5 * HOUR <= visit.service_start <= 7 * HOUR
    assert changed_arcs(before, plan_orders(plan)) <= 5


def test_a_removed_stop_leaves_the_rest_in_order() -> None:
    p = day_of()
    first, _ = solve(p, deterministic=True)
    before = plan_orders(first)
    gone = before[next(iter(before))][1]
    rest = tuple(s for s in p.stops if s.id != gone)
    initial = {vid: tuple(s for s in order if s != gone) for vid, order in before.items()}
    plan, _ = solve(replace(p, stops=rest, initial=initial), 0.05)
    assert plan_orders(plan) == initial


def test_warm_start_keeps_locked_stops_first() -> None:
    p = day_of()
    first, _ = solve(p, deterministic=True)
    before = plan_orders(first)
    vid = next(iter(before))
    locked = {vid: before[vid][:2]}
    new = stop("new", -300, 400)
    changed = replace(p, stops=(*p.stops, new), locked=locked, initial=before)
    for deterministic, limit in ((False, 0.05), (True, 1.0)):
        plan, _ = solve(changed, limit, deterministic=deterministic)
        assert plan_orders(plan)[vid][:2] == locked[vid]


@pytest.mark.parametrize(
    ("initial", "message"),
    [
        ({"ghost": ("s0",)}, "unknown vehicle"),
        ({"a": ("s0", "nope")}, "unknown stops"),
        ({"a": ("s0", "s1", "s0")}, "twice"),
        ({"a": ("s0",), "b": ("s0",)}, "twice"),
        ({"a": ("s2",)}, "locked on b"),
    ],
)
def test_initial_routes_are_validated(initial: dict[str, tuple[str, ...]], message: str) -> None:
    bad = problem([van("a"), van("b")], ring(3), locked={"b": ("s2",)}, initial=initial)
    with pytest.raises(RoutingError, match=message):
        OrToolsOptimizer().solve(bad, planar_matrix(bad), 0.5)


def test_plan_objective_is_the_plan_priced_by_the_python_engine() -> None:
    p = day_of(20, 2)
    plan, matrix = solve(p, deterministic=True)
    total, feasible = routes_cost(p, matrix, plan_orders(plan))
    assert feasible
    assert plan.objective == pytest.approx(total)


def test_python_construction_gives_a_sound_plan() -> None:
    p = day_of(40, 4)
    matrix = planar_matrix(p)
    plan, orders = construct(p, matrix)
    assert verify_plan(p, plan, matrix) == []
    assert plan.dropped == {}
    assert plan_orders(plan) == orders


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize(
    ("n", "vans", "limit"),
    [(REGIONS_ABOVE + 30, 12, 3.0), (DECOMPOSE_ABOVE + 40, 20, 4.0)],
    ids=["mid-sized", "big"],
)
def test_mid_sized_and_big_days_are_planned_by_route_groups(
    n: int, vans: int, limit: float, workers: int
) -> None:
    # Above REGIONS_ABOVE stops the whole-day search gets half the time and route groups the
    # rest; above DECOMPOSE_ABOVE the Python construction builds the plan the groups improve.
    # Either way every stop is served and the plan is priced as the Python engine prices it.
    stops = [
        replace(s, window_start=(i % 3) * 2 * HOUR, window_end=(i % 3) * 2 * HOUR + 4 * HOUR)
        for i, s in enumerate(ring(n, 8000))
    ]
    p = problem([van(f"v{k}", capacity=30) for k in range(vans)], stops)
    plan, matrix = solve(p, limit, workers=workers)
    assert plan.dropped == {}
    assert (plan.objective, True) == routes_cost(p, matrix, plan_orders(plan))


def test_a_mid_sized_days_route_group_stays_near_its_cap() -> None:
    # Groups on mid-sized days hold about REGION_STOPS stops, so two fit side by side on a
    # 200-stop day; a group stops growing once it has that many (one route may cross it).
    stops = ring(200, 8000)
    p = problem([van(f"v{k}") for k in range(21)], stops)
    builder = RouteBuilder(p, planar_matrix(p))
    current = {f"v{k}": tuple(f"s{i}" for i in range(10 * k, 10 * k + 10)) for k in range(20)}
    group = _group_around(builder, current, "v0", set(), REGION_STOPS)
    held = sum(len(current[v]) for v in group if v in current)
    assert REGION_STOPS <= held < REGION_STOPS + 10
    assert group[-1] == "v20"  # the idle van
    assert len(_group_around(builder, current, "v0", set())) > len(group)  # big days' cap


def test_a_route_group_of_a_clustered_day_reaches_the_clusters_around_it() -> None:
    # Twelve towns on a 20 km ring, twelve stops each, one van per town: a stop's ten
    # nearest neighbours are all in its own town, so its 40 nearest must bring in the towns
    # next door, or a group would hold one route and could move nothing.
    towns = 12
    stops = [
        stop(
            f"t{t}s{k}",
            20_000 * math.cos(2 * math.pi * t / towns) + 30 * (k % 4),
            20_000 * math.sin(2 * math.pi * t / towns) + 30 * (k // 4),
        )
        for t in range(towns)
        for k in range(12)
    ]
    p = problem([van(f"v{t}") for t in range(towns + 1)], stops)
    builder = RouteBuilder(p, planar_matrix(p))
    current = {f"v{t}": tuple(f"t{t}s{k}" for k in range(12)) for t in range(towns)}
    group = _group_around(builder, current, "v0", busy={"v11"})
    assert group[0] == "v0" and "v1" in group
    assert "v11" not in group  # another group's
    assert "v6" not in group  # the far side of the ring
    assert group[-1] == f"v{towns}"  # one idle van to open a route with


def test_route_groups_go_on_after_a_round_ends_on_routes_that_were_closed() -> None:
    # The round's last seed is a route an accepted group emptied: the next round starts
    # (the search used to stop there, with a third of a big day's budget left).
    current = {"a": ("s1",), "b": ("s2",)}
    index = {"a": 0, "b": 1, "gone": 2}
    rng = random.Random(1)
    assert _next_seed(["gone"], current, set(), index, rng) in {"a", "b"}
    assert _next_seed(["a", "gone"], current, {"a"}, index, rng) == "b"
    assert _next_seed(["b"], current, {"a", "b"}, index, rng) is None  # all in groups


@pytest.mark.parametrize("deterministic", [True, False])
def test_a_replan_never_costs_more_than_the_repair_it_started_from(deterministic: bool) -> None:
    # The current order zigzags (s3 before s2); the repair finds a cheaper order. The search
    # after it prices every arc the current plan lacks, so going back to the zigzag saves
    # more of that than the 200 m it costs: stability must not buy a dearer day.
    line = [stop("s1", 1000, 0), stop("s2", 2000, 0), stop("s3", 2100, 0), stop("s4", 3000, 0)]
    new = stop("new", 0, 1500)
    p = problem([van("a")], [*line, new], initial={"a": ("s1", "s3", "s2", "s4")})
    matrix = planar_matrix(p)
    repaired, orders = repair(p, matrix)
    assert orders["a"] != ("new", "s1", "s3", "s2", "s4")
    plan, _ = solve(p, 1.0, deterministic=deterministic)
    assert plan.dropped == {}
    assert plan.objective <= repaired.objective


# ---------------------------------------------------------------- fewer routes


def built(p: RouteProblem, orders: dict[str, list[str]]) -> tuple[RouteBuilder, list]:  # type: ignore[type-arg]
    builder = RouteBuilder(p, planar_matrix(p))
    routes = [
        builder.route(vi, [p.node_of(s) for s in orders.get(v.id, [])])
        for vi, v in enumerate(p.vehicles)
    ]
    return builder, routes


def test_a_day_of_one_stop_per_van_is_folded_into_few_vans() -> None:
    # Three streets 5 km out, four stops each; vans carry four: one van per street.
    stops = [
        stop(
            f"s{k}",
            5000 * math.cos(2 * math.pi * (k // 4) / 3) + 40 * (k % 4),
            5000 * math.sin(2 * math.pi * (k // 4) / 3),
        )
        for k in range(12)
    ]
    p = problem([van(f"v{k}", capacity=4) for k in range(12)], stops)
    builder, routes = built(p, {f"v{k}": [f"s{k}"] for k in range(12)})
    before = sum(r.cost for r in routes)
    emptied = eliminate_routes(builder, routes, deadline=math.inf)
    used = [r for r in routes if r.nodes]
    assert emptied == 9 and len(used) == 3
    streets = {frozenset(p.stop_at(u).id for u in r.nodes) for r in used}
    assert streets == {frozenset(f"s{k}" for k in range(s, s + 4)) for s in (0, 4, 8)}
    assert sorted(u for r in used for u in r.nodes) == sorted(p.node_of(s.id) for s in stops)
    assert all(r.feasible for r in routes)
    assert sum(r.cost for r in routes) < before


def test_a_stop_that_fits_nowhere_takes_another_ones_place() -> None:
    # x (a large parcel) fits only on van b, which is full with y; y fits on van c (small
    # parcels only). Emptying a's route means ejecting y from b and putting it on c.
    x = stop("x", 5000, 0, size=2)
    y = stop("y", 5050, 0)
    z = stop("z", 5100, 0)
    p = problem([van("a"), van("b", capacity=1), van("c", max_size=1)], [x, y, z])
    builder, routes = built(p, {"a": ["x"], "b": ["y"], "c": ["z"]})
    assert eliminate_routes(builder, routes, deadline=math.inf) == 1
    orders = {p.vehicles[r.vehicle].id: [p.stop_at(u).id for u in r.nodes] for r in routes}
    assert orders["a"] == [] and orders["b"] == ["x"] and sorted(orders["c"]) == ["y", "z"]
    assert all(r.feasible for r in routes)


def test_routes_with_locked_stops_are_never_emptied() -> None:
    stops = ring(6, 2000)
    p = problem(
        [van(f"v{k}", capacity=6) for k in range(6)],
        stops,
        locked={f"v{k}": (f"s{k}",) for k in range(6)},
    )
    builder, routes = built(p, {})
    for vi, r in enumerate(routes):
        r.nodes, r.n_locked = [p.node_of(f"s{vi}")], 1
        builder.refresh(r)
    assert eliminate_routes(builder, routes, deadline=math.inf) == 0
    assert all(len(r.nodes) == 1 for r in routes)


def test_emptying_a_route_that_would_cost_more_is_undone() -> None:
    # x is next to the depot at midday; the other van works 5 km out in the morning and the
    # evening. Taking x there would drive 10 km for a stop its own van serves in 200 m.
    out = [
        stop("a", 5000, 0, window_start=0, window_end=HOUR),
        stop("c", 5000, 100, window_start=6 * HOUR, window_end=8 * HOUR),
    ]
    x = stop("x", 100, 0, window_start=3 * HOUR, window_end=3 * HOUR + 600)
    p = problem([van("v"), van("w")], [*out, x])
    builder, routes = built(p, {"v": ["a", "c"], "w": ["x"]})
    before = [list(r.nodes) for r in routes]
    assert eliminate_routes(builder, routes, deadline=math.inf) == 0
    assert [r.nodes for r in routes] == before


def test_a_stop_that_fills_a_whole_van_gets_one_before_every_van_carries_something() -> None:
    # A locker's 20 parcels fill a van of capacity 20. Large parcels at doors only vans take,
    # the rest bikes take too; all day long. Placing the locker last (its window is the
    # widest) found every van already carrying a parcel: it was dropped.
    doors = [
        replace(s, size=2 if i % 4 == 0 else 1, window_end=(6 + i % 3) * HOUR)
        for i, s in enumerate(ring(240, 6000))
    ]
    locker = stop("locker", 800, -300, demand=20, service_s=720)
    vans = [van(f"v{k}", capacity=20) for k in range(12)]
    bikes = [van(f"b{k}", capacity=6, max_size=1, speed_factor=0.8) for k in range(6)]
    p = problem([*vans, *bikes], [*doors, locker])
    matrix = planar_matrix(p)
    plan, orders = construct(p, matrix)
    assert plan.dropped == {}
    assert verify_plan(p, plan, matrix) == []
    assert any(order == ("locker",) for order in orders.values())
