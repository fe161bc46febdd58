"""Route optimizer on Google OR-Tools' RoutingModel (time windows, capacity, range, drops).

How a solve spends its time budget:

1. Build the model with every arc evaluator as a precomputed matrix (``RegisterTransitMatrix``)
   so OR-Tools never calls back into Python during search; that alone multiplies the number
   of local-search moves per second several times over.
2. Start from OR-Tools' own time-window-aware insertion (``LOCAL_CHEAPEST_INSERTION``); the
   path-based strategies find nothing at all on tight instances such as Solomon R101.
3. Improve with a metaheuristic until the deadline: iterated local search with SISR ruin and
   recreate and simulated-annealing acceptance, or guided local search.
4. When ``workers`` > 1, run differently configured searches in parallel processes (one per
   core) and keep the best plan: it serves the most stops, then has the lowest objective.

``deterministic=True`` replaces the time limit by a fixed amount of work (greedy descent, or a
fixed number of search iterations) so two runs on any machine give the same plan.
"""

from __future__ import annotations

import heapq
import math
import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from ortools.util import optional_boolean_pb2

from ..domain.errors import RoutingError
from ..domain.routing import (
    Matrix,
    Objective,
    PlannedRoute,
    RoutePlan,
    RouteProblem,
    StopSpec,
    Visit,
    scaled,
)

# Costs are in thousandths of a currency unit; dropping a stop must cost more than any route.
COST_SCALE = 1000
DROP_PENALTY = 10**12
BOOL_FALSE = optional_boolean_pb2.BOOL_FALSE
LEAN_OFF = (
    "use_global_cheapest_insertion_path_lns",
    "use_local_cheapest_insertion_path_lns",
    "use_relocate_path_global_cheapest_insertion_insert_unperformed",
    "use_global_cheapest_insertion_visit_types_lns",
    "use_local_cheapest_insertion_visit_types_lns",
    "use_make_chain_inactive",
    "use_make_inactive",
    "use_swap_active",
    "use_swap_active_chain",
    "use_shortest_path_swap_active",
    "use_shortest_path_two_opt",
    "use_lin_kernighan",
    "use_relocate_expensive_chain",
    "use_exchange_subtrip",
    "use_relocate_subtrip",
    "use_light_relocate_pair",
    "use_relocate_pair",
    "use_exchange_pair",
)
RECREATE_OK = frozenset(
    {
        "LOCAL_CHEAPEST_INSERTION",
        "LOCAL_CHEAPEST_COST_INSERTION",
        "PARALLEL_CHEAPEST_INSERTION",
        "SEQUENTIAL_CHEAPEST_INSERTION",
        "SAVINGS",
    }
)
FSS = routing_enums_pb2.FirstSolutionStrategy
LSM = routing_enums_pb2.LocalSearchMetaheuristic


@dataclass(frozen=True)
class SearchStrategy:
    """Describe one search: how to build the first plan and how to improve it.

    The defaults are the measured best single search (bench/README.md); the fields exist
    so benchmarks can compare alternatives without editing this module.
    """

    first_solution: str = "LOCAL_CHEAPEST_INSERTION"
    # "ils" (iterated local search: SISR ruin, cheapest-insertion recreate, local search,
    # simulated-annealing acceptance), "gls" (guided local search) or "greedy" (stop at the
    # first local optimum).
    metaheuristic: str = "ils"
    gls_lambda: float = 0.1
    # SISR (Christiaens and Vanden Berghe 2020): remove about this many visits per ruin, in
    # strings of at most ``sisr_max_sequence`` consecutive visits of nearby routes.
    sisr_avg_removed: int = 20
    sisr_max_sequence: int = 10
    recreate: str = "LOCAL_CHEAPEST_INSERTION"
    # Simulated-annealing temperatures as multiples of a typical arc cost (the mean cost from
    # each stop to its nearest neighbours), so they mean the same at any cost scale; 0 lets
    # OR-Tools pick them.
    sa_initial_temperature: float = 0.3
    sa_final_temperature: float = 0.003
    # Switch off operators that cannot help a plain VRPTW (pickup-and-delivery pairs, visit
    # types, dropping stops whose penalty dwarfs any route) or that cost much per move (the
    # insertion-based LNS, Lin-Kernighan, expensive chains): in a ruin-and-recreate search
    # the time is better spent on more iterations. Measured: 1.8 % mean gap at 10 s on one
    # core against 2.5 % with OR-Tools' default operator set.
    lean_operators: bool = True
    extra_off: tuple[str, ...] = ("use_or_opt",)


# Two searches for two cores: the same ruin-and-recreate scheme with different ruin sizes
# and temperatures, so the processes explore different valleys; the better plan wins.
PARALLEL_STRATEGIES = (
    SearchStrategy(),
    SearchStrategy(sisr_avg_removed=30, sa_initial_temperature=1.0, sa_final_temperature=0.01),
)


class OrToolsOptimizer:
    """Solve RouteProblems with OR-Tools: insertion first, then a metaheuristic."""

    def __init__(
        self,
        deterministic: bool = False,
        workers: int = 1,
        strategies: tuple[SearchStrategy, ...] | None = None,
    ) -> None:
        self.deterministic = deterministic
        self.workers = max(1, workers)
        self.strategies = strategies or PARALLEL_STRATEGIES

    def solve(self, problem: RouteProblem, matrix: Matrix, time_limit_s: float) -> RoutePlan:
        """Return the best plan found within ``time_limit_s`` seconds."""
        problem.validate()
        _check_matrix(problem, matrix)
        if not problem.stops:
            return RoutePlan(routes=())
        deadline = time.monotonic() + max(0.01, time_limit_s)
        if self.deterministic:
            # Greedy descent stops at its first local optimum, whatever the machine's speed;
            # the limit stays as a safety cap for problems far bigger than tests use.
            strategy = SearchStrategy(metaheuristic="greedy")
            return _solve_one(problem, matrix, deadline, strategy)
        strategies = [self.strategies[i % len(self.strategies)] for i in range(self.workers)]
        if self.workers == 1 or time_limit_s < 0.5:
            return _solve_one(problem, matrix, deadline, strategies[0])
        return _solve_parallel(problem, matrix, time_limit_s, strategies)


def _solve_parallel(
    problem: RouteProblem, matrix: Matrix, time_limit_s: float, strategies: list[SearchStrategy]
) -> RoutePlan:
    # fork starts a worker in milliseconds; it is only safe while no other thread can hold a
    # lock the child would inherit, so a threaded host (web app, job thread) pays for spawn.
    method = "fork" if threading.active_count() == 1 else "spawn"
    started = time.time()
    with ProcessPoolExecutor(
        max_workers=len(strategies), mp_context=multiprocessing.get_context(method)
    ) as pool:
        futures = [
            pool.submit(_solve_until, problem, matrix, started + time_limit_s, s)
            for s in strategies
        ]
        plans = [f.result() for f in futures]
    return min(plans, key=lambda p: (len(p.dropped), p.objective))


def _solve_until(
    problem: RouteProblem, matrix: Matrix, wall_deadline: float, strategy: SearchStrategy
) -> RoutePlan:
    """Run one search in a worker process until a wall-clock deadline."""
    remaining = wall_deadline - time.time()
    return _solve_one(problem, matrix, time.monotonic() + max(0.05, remaining), strategy)


@dataclass
class _Model:
    problem: RouteProblem
    matrix: Matrix
    manager: Any
    routing: Any
    time_dim: Any
    typical_arc_cost: float


def _solve_one(
    problem: RouteProblem, matrix: Matrix, deadline: float | None, strategy: SearchStrategy
) -> RoutePlan:
    """Build the model and run one search; ``deadline=None`` means a fixed amount of work."""
    model = _build(problem, matrix)
    params = _parameters(strategy, deadline, model.typical_arc_cost)
    if strategy.metaheuristic == "ils":
        # The ILS parameters are only honoured by this entry point, not SolveWithParameters.
        solution = model.routing.SolveWithIteratedLocalSearch(params)
    else:
        solution = model.routing.SolveWithParameters(params)
    if solution is None:
        return RoutePlan(
            routes=(),
            dropped={s.id: "no feasible plan found in time" for s in problem.stops},
        )
    return _read(model, solution)


def _parameters(strategy: SearchStrategy, deadline: float | None, arc_cost: float) -> Any:
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = getattr(FSS, strategy.first_solution)
    if strategy.metaheuristic == "greedy":
        params.local_search_metaheuristic = LSM.GREEDY_DESCENT
    elif strategy.metaheuristic == "gls":
        params.local_search_metaheuristic = LSM.GUIDED_LOCAL_SEARCH
        params.guided_local_search_lambda_coefficient = strategy.gls_lambda
    elif strategy.metaheuristic == "ils":
        params.local_search_metaheuristic = LSM.GREEDY_DESCENT
        params.use_iterated_local_search = True
        ils = params.iterated_local_search_parameters
        ruin = ils.ruin_recreate_parameters
        del ruin.ruin_strategies[:]
        sisr = ruin.ruin_strategies.add().sisr
        sisr.avg_num_removed_visits = strategy.sisr_avg_removed
        sisr.max_removed_sequence_size = strategy.sisr_max_sequence
        sisr.bypass_factor = 0.01
        if strategy.recreate not in RECREATE_OK:
            # Others abort the whole process inside OR-Tools ("Unsupported recreate").
            raise ValueError(f"recreate must be one of {sorted(RECREATE_OK)}")
        ruin.recreate_strategy.heuristic = getattr(FSS, strategy.recreate)
        sa = ils.reference_solution_acceptance_strategy.simulated_annealing
        if strategy.sa_initial_temperature > 0:
            sa.automatic_temperatures = False
            sa.initial_temperature = strategy.sa_initial_temperature * arc_cost
            sa.final_temperature = strategy.sa_final_temperature * arc_cost
        else:
            sa.automatic_temperatures = True
    else:
        raise ValueError(f"unknown metaheuristic {strategy.metaheuristic!r}")
    if strategy.lean_operators:
        for name in (*LEAN_OFF, *strategy.extra_off):
            setattr(params.local_search_operators, name, BOOL_FALSE)
    if deadline is not None:
        remaining = max(0.01, deadline - time.monotonic())
        params.time_limit.FromMilliseconds(max(1, int(remaining * 1000)))
    return params


def _build(problem: RouteProblem, matrix: Matrix) -> _Model:
    vehicles, stops = problem.vehicles, problem.stops
    nv = len(vehicles)
    n_nodes = 2 * nv + len(stops)
    manager = pywrapcp.RoutingIndexManager(
        n_nodes, nv, list(range(nv)), [nv + i for i in range(nv)]
    )
    routing = pywrapcp.RoutingModel(manager)
    service = [0] * (2 * nv) + [s.service_s for s in stops]

    # Every evaluator is a node-indexed matrix evaluated inside OR-Tools (no Python callbacks).
    # One time matrix per vehicle speed: a bike is slower than a van on the same arc.
    time_callbacks: dict[float, int] = {}
    for factor in {v.speed_factor for v in vehicles}:
        rows = [
            [service[a] + scaled(d, factor) for d in matrix.durations[a]] for a in range(n_nodes)
        ]
        time_callbacks[factor] = routing.RegisterTransitMatrix(rows)
    horizon = max(v.shift_end for v in vehicles)
    routing.AddDimensionWithVehicleTransits(
        [time_callbacks[v.speed_factor] for v in vehicles], horizon, horizon, False, "time"
    )
    time_dim = routing.GetDimensionOrDie("time")

    cost_callbacks: dict[tuple[float, float, float], int] = {}
    if problem.objective is Objective.DISTANCE:
        rows = [[int(round(d)) for d in matrix.distances[a]] for a in range(n_nodes)]
        routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitMatrix(rows))
        typical = _typical_arc(rows, 2 * nv)
    else:
        # Arc cost is money: the vehicle's cost per km plus its driver's cost per hour.
        typical = 0.0
        for vi, v in enumerate(vehicles):
            key = (v.speed_factor, v.cost_per_km, v.cost_per_hour)
            if key not in cost_callbacks:
                rows = _money_rows(matrix, service, *key)
                cost_callbacks[key] = routing.RegisterTransitMatrix(rows)
                typical = max(typical, _typical_arc(rows, 2 * nv))
            routing.SetArcCostEvaluatorOfVehicle(cost_callbacks[key], vi)
    for vi, v in enumerate(vehicles):
        time_dim.CumulVar(routing.Start(vi)).SetRange(v.shift_start, v.shift_end)
        time_dim.CumulVar(routing.End(vi)).SetRange(v.shift_start, v.shift_end)
        if v.fixed_cost:
            routing.SetFixedCostOfVehicle(int(v.fixed_cost * COST_SCALE), vi)

    if any(s.demand for s in stops):
        demand_cb = routing.RegisterUnaryTransitVector([0] * (2 * nv) + [s.demand for s in stops])
        routing.AddDimensionWithVehicleCapacity(
            demand_cb, 0, [v.capacity for v in vehicles], True, "load"
        )
    if any(v.range_m is not None for v in vehicles):
        # Round up so a plan within range here is within range in metres.
        rows = [[math.ceil(d) for d in matrix.distances[a]] for a in range(n_nodes)]
        distance_cb = routing.RegisterTransitMatrix(rows)
        ranges = [int(v.range_m) if v.range_m is not None else 2**53 for v in vehicles]
        routing.AddDimensionWithVehicleCapacity(distance_cb, 0, ranges, True, "distance")

    locked_ids = {sid for prefix in problem.locked.values() for sid in prefix}
    for si, stop in enumerate(stops):
        index = manager.NodeToIndex(2 * nv + si)
        time_dim.CumulVar(index).SetRange(stop.window_start, stop.window_end)
        # (SetAllowedVehiclesForIndex's binding rejects Python lists in 9.15, and an
        # empty list would mean "any vehicle"; removing values is exact.)
        for vi, v in enumerate(vehicles):
            if not _can_serve(v.id, v.max_size, stop):
                routing.VehicleVar(index).RemoveValue(vi)
        if stop.id not in locked_ids:
            routing.AddDisjunction([index], DROP_PENALTY)

    # Drivers leave when dispatched: ask for the earliest feasible times, not just any.
    for vi in range(nv):
        routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.End(vi)))

    # Stops already visited stay first, in order: chain them from the vehicle's start.
    stop_nodes = {s.id: 2 * nv + i for i, s in enumerate(stops)}
    for vi, v in enumerate(vehicles):
        previous = routing.Start(vi)
        for sid in problem.locked.get(v.id, ()):
            index = manager.NodeToIndex(stop_nodes[sid])
            routing.NextVar(previous).SetValue(index)
            previous = index
    return _Model(problem, matrix, manager, routing, time_dim, max(1.0, typical))


def _typical_arc(rows: list[list[int]], first_stop: int, k: int = 5) -> float:
    """Return the mean cost from a stop to its ``k`` nearest other stops or depots."""
    total, count = 0.0, 0
    for a in range(first_stop, len(rows)):
        nearest = heapq.nsmallest(k + 1, rows[a])[1:]  # [0] is the stop itself
        total += sum(nearest)
        count += len(nearest)
    return total / count if count else 1.0


def _can_serve(vehicle_id: str, max_size: int, stop: StopSpec) -> bool:
    return stop.size <= max_size and stop.fixed_vehicle in (None, vehicle_id)


def _money_rows(
    matrix: Matrix, service: list[int], factor: float, per_km: float, per_hour: float
) -> list[list[int]]:
    rows = []
    for a, (durations, distances) in enumerate(
        zip(matrix.durations, matrix.distances, strict=True)
    ):
        rows.append(
            [
                int(
                    round(
                        (
                            per_km * dist / 1000
                            + per_hour * (service[a] + scaled(dur, factor)) / 3600
                        )
                        * COST_SCALE
                    )
                )
                + 1
                for dur, dist in zip(durations, distances, strict=True)
            ]
        )
    return rows


def _read(model: _Model, solution: Any) -> RoutePlan:
    problem, matrix = model.problem, model.matrix
    manager, routing, time_dim = model.manager, model.routing, model.time_dim
    vehicles, stops = problem.vehicles, problem.stops
    nv = len(vehicles)
    routes = []
    visited: set[str] = set()
    for vi, v in enumerate(vehicles):
        index = routing.Start(vi)
        prev_node = manager.IndexToNode(index)
        prev_departure = solution.Value(time_dim.CumulVar(index))
        visits: list[Visit] = []
        dist = 0.0
        index = solution.Value(routing.NextVar(index))
        while not routing.IsEnd(index):
            node = manager.IndexToNode(index)
            stop = stops[node - 2 * nv]
            arrival = prev_departure + scaled(matrix.durations[prev_node][node], v.speed_factor)
            start = solution.Value(time_dim.CumulVar(index))
            visits.append(Visit(stop_id=stop.id, arrival=arrival, service_start=start))
            visited.add(stop.id)
            dist += matrix.distances[prev_node][node]
            prev_node, prev_departure = node, start + stop.service_s
            index = solution.Value(routing.NextVar(index))
        end_node = manager.IndexToNode(index)
        if visits:
            dist += matrix.distances[prev_node][end_node]
            routes.append(
                PlannedRoute(
                    vehicle_id=v.id,
                    visits=tuple(visits),
                    distance_m=dist,
                    end_time=solution.Value(time_dim.CumulVar(index)),
                )
            )
    dropped = {s.id: _drop_reason(problem, matrix, s) for s in stops if s.id not in visited}
    return RoutePlan(routes=tuple(routes), dropped=dropped, objective=solution.ObjectiveValue())


def _check_matrix(problem: RouteProblem, matrix: Matrix) -> None:
    n = len(problem.points())
    if len(matrix.durations) != n or len(matrix.distances) != n:
        raise RoutingError(f"The travel matrix has the wrong size for {n} points.")
    for row in (*matrix.durations, *matrix.distances):
        if len(row) != n:
            raise RoutingError(f"The travel matrix has the wrong size for {n} points.")
        if not all(math.isfinite(x) and x >= 0 for x in row):
            raise RoutingError("The travel matrix has a negative or missing value.")


def _drop_reason(problem: RouteProblem, matrix: Matrix, stop: StopSpec) -> str:
    nv = len(problem.vehicles)
    node = 2 * nv + [s.id for s in problem.stops].index(stop.id)
    able = [(vi, v) for vi, v in enumerate(problem.vehicles) if _can_serve(v.id, v.max_size, stop)]
    if not able:
        if stop.fixed_vehicle and stop.fixed_vehicle in {v.id for v in problem.vehicles}:
            return f"parcel too large for its fixed vehicle {stop.fixed_vehicle}"
        if stop.fixed_vehicle:
            return f"fixed to vehicle {stop.fixed_vehicle}, which is not in the plan"
        return "parcel too large for every vehicle"
    if all(stop.demand > v.capacity for _vi, v in able):
        return "more parcels than any vehicle can carry"
    reachable = [
        (vi, v)
        for vi, v in able
        if v.shift_start + scaled(matrix.durations[vi][node], v.speed_factor) <= stop.window_end
        and max(
            v.shift_start + scaled(matrix.durations[vi][node], v.speed_factor), stop.window_start
        )
        + stop.service_s
        + scaled(matrix.durations[node][nv + vi], v.speed_factor)
        <= v.shift_end
    ]
    if not reachable:
        return "time window cannot be reached by any vehicle's shift"
    if all(
        v.range_m is not None
        and matrix.distances[vi][node] + matrix.distances[node][nv + vi] > v.range_m
        for vi, v in reachable
    ):
        return "out of range of every vehicle that could take it"
    return "no room left in any route within its time window"
