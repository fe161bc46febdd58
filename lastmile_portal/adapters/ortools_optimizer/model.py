"""One OR-Tools model of a problem: build it, start it from given routes, run it, read it."""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Any

from ortools.constraint_solver import pywrapcp

from ...domain.construction import (
    COST_SCALE,
    Routes,
    can_serve,
    construct,
    drop_reason,
    money_cost_row,
)
from ...domain.routing import (
    Matrix,
    Objective,
    PlannedRoute,
    RoutePlan,
    RouteProblem,
    Visit,
    scaled,
)
from .strategies import FSS, SearchStrategy, _parameters

# Dropping a stop must cost more than any route (costs are in 1/1000 currency units).
DROP_PENALTY = 10**12
# A re-plan keeps the current plan unless a change saves more than this share of a typical
# arc (the mean cost from a stop to its 5 nearest neighbours) per arc it replaces.
STABILITY_SHARE = 0.1
# ... and a stop it moves to another vehicle (another driver, another ETA) costs this share.
SWITCH_SHARE = 0.5


@dataclass
class _Model:
    problem: RouteProblem
    matrix: Matrix
    manager: Any
    routing: Any
    time_dim: Any
    typical_arc_cost: float
    stability_penalty: int = 0
    keep_arcs: frozenset[tuple[int, int]] = frozenset()
    switch_penalty: int = 0
    home: dict[int, int] | None = None  # stop node -> its vehicle in the current plan
    # The first-solution evaluator must live as long as the model (OR-Tools keeps a pointer).
    evaluator: Any = None


def _model_seconds(problem: RouteProblem) -> float:
    """Return a generous guess of the time OR-Tools needs to build and close the model."""
    nodes = problem.node_count
    return 0.1 + 2e-6 * nodes * nodes


def _solve_one(
    problem: RouteProblem,
    matrix: Matrix,
    deadline: float | None,
    strategy: SearchStrategy,
    start: Routes | None = None,
    keep: Routes | None = None,
) -> RoutePlan:
    """Build the model and run one search; ``deadline=None`` means a fixed amount of work.

    ``start`` (stop orders per vehicle) is the first solution instead of the strategy's
    construction; arcs not in ``keep`` (the current plan) cost ``STABILITY_SHARE`` of a
    typical arc extra.
    """
    first: RoutePlan | None = None
    if start is None and strategy.construction == "regret":
        first, start = construct(
            problem,
            matrix,
            deadline,
            improve=strategy.polish,
            eliminate_share=strategy.fewer_routes,
        )
    model = _build(problem, matrix, keep)
    params = _parameters(strategy, deadline, model.typical_arc_cost)
    if start is not None:
        _warm_start(model, start, params)
    if strategy.metaheuristic == "ils":
        # The ILS parameters are only honoured by this entry point, not SolveWithParameters.
        solution = model.routing.SolveWithIteratedLocalSearch(params)
    else:
        solution = model.routing.SolveWithParameters(params)
    if solution is None and first is not None:
        # The construction took the time (a loaded machine): its plan beats none at all.
        return first
    if solution is None:
        return RoutePlan(
            routes=(),
            dropped={s.id: "no feasible plan found in time" for s in problem.stops},
        )
    return _read(model, solution)


def _node_routes(model: _Model, orders: Routes) -> dict[int, int]:
    """Return the successor (routing index) of every index on ``orders``' routes."""
    problem, manager, routing = model.problem, model.manager, model.routing
    succ: dict[int, int] = {}
    for vi, v in enumerate(problem.vehicles):
        order = orders.get(v.id, ())
        previous = routing.Start(vi)
        for sid in order:
            index = manager.NodeToIndex(problem.node_of(sid))
            succ[previous] = index
            previous = index
        succ[previous] = routing.End(vi)
    return succ


def _warm_start(model: _Model, start: Routes, params: Any) -> None:
    """Make OR-Tools' first solution exactly ``start``.

    The path-building strategy follows the cheapest arc by a first-solution evaluator; one
    that is 0 on the wanted arcs and huge elsewhere reproduces the given routes (measured:
    3 ms and the exact objective on Solomon R101). SolveWithIteratedLocalSearch takes no
    initial assignment, so this is how it starts from our routes.
    """
    succ = _node_routes(model, start)
    far = 1 << 40

    def evaluator(i: int, j: int) -> int:
        return 0 if succ.get(i) == j else far

    model.evaluator = evaluator
    model.routing.SetFirstSolutionEvaluator(evaluator)
    params.first_solution_strategy = FSS.EVALUATOR_STRATEGY


def _build(problem: RouteProblem, matrix: Matrix, keep: Routes | None = None) -> _Model:
    vehicles, stops = problem.vehicles, problem.stops
    nv = len(vehicles)
    n_nodes = problem.node_count
    # Stops are numbered from first_stop on, after every depot (RouteProblem's layout).
    first_stop = problem.first_stop_node
    manager = pywrapcp.RoutingIndexManager(
        n_nodes,
        nv,
        [problem.start_node(vi) for vi in range(nv)],
        [problem.end_node(vi) for vi in range(nv)],
    )
    routing = pywrapcp.RoutingModel(manager)
    service = [0] * first_stop + [s.service_s for s in stops]

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

    keep_arcs = _arcs(problem, keep) if keep is not None else frozenset()
    cost_rows: dict[tuple[float, float, float], list[list[int]]] = {}
    if problem.objective is Objective.DISTANCE:
        rows = [[int(round(d)) for d in matrix.distances[a]] for a in range(n_nodes)]
        cost_rows[(0.0, 0.0, 0.0)] = rows
    else:
        # Arc cost is money: the vehicle's cost per km plus its driver's cost per hour.
        for v in vehicles:
            key = (v.speed_factor, v.cost_per_km, v.cost_per_hour)
            if key not in cost_rows:
                cost_rows[key] = [
                    money_cost_row(
                        v.cost_per_km,
                        v.cost_per_hour,
                        service[a],
                        matrix.distances[a],
                        [scaled(d, v.speed_factor) for d in matrix.durations[a]],
                    )
                    for a in range(n_nodes)
                ]
    typical = max(_typical_arc(rows, first_stop) for rows in cost_rows.values())
    penalty = int(round(STABILITY_SHARE * typical)) if keep is not None else 0
    cost_callbacks = {
        key: routing.RegisterTransitMatrix(_penalised(rows, keep_arcs, penalty))
        for key, rows in cost_rows.items()
    }
    if problem.objective is Objective.DISTANCE:
        routing.SetArcCostEvaluatorOfAllVehicles(cost_callbacks[(0.0, 0.0, 0.0)])
    else:
        for vi, v in enumerate(vehicles):
            key = (v.speed_factor, v.cost_per_km, v.cost_per_hour)
            routing.SetArcCostEvaluatorOfVehicle(cost_callbacks[key], vi)
    for vi, v in enumerate(vehicles):
        time_dim.CumulVar(routing.Start(vi)).SetRange(v.shift_start, v.shift_end)
        time_dim.CumulVar(routing.End(vi)).SetRange(v.shift_start, v.shift_end)
        if v.fixed_cost:
            routing.SetFixedCostOfVehicle(int(v.fixed_cost * COST_SCALE), vi)

    if any(s.demand for s in stops):
        demand_cb = routing.RegisterUnaryTransitVector([0] * first_stop + [s.demand for s in stops])
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
        index = manager.NodeToIndex(problem.stop_node(si))
        time_dim.CumulVar(index).SetRange(stop.window_start, stop.window_end)
        # (SetAllowedVehiclesForIndex's binding rejects Python lists in 9.15, and an
        # empty list would mean "any vehicle"; removing values is exact.)
        for vi, v in enumerate(vehicles):
            if not can_serve(v, stop):
                routing.VehicleVar(index).RemoveValue(vi)
        if stop.id not in locked_ids:
            routing.AddDisjunction([index], DROP_PENALTY)

    switch = 0
    home = None
    if keep is not None:
        # Count, per route, the stops that were on another vehicle; each costs ``switch``.
        switch = int(round(SWITCH_SHARE * typical))
        home = _homes(problem, keep)
        stop_nodes = [problem.stop_node(si) for si in range(len(stops))]
        moved = [
            routing.RegisterUnaryTransitVector(
                [0] * first_stop + [int(home.get(node, vi) != vi) for node in stop_nodes]
            )
            for vi in range(nv)
        ]
        routing.AddDimensionWithVehicleTransits(moved, 0, len(stops), True, "moved")
        routing.GetDimensionOrDie("moved").SetSpanCostCoefficientForAllVehicles(switch)

    # Drivers leave when dispatched: ask for the earliest feasible times, not just any.
    for vi in range(nv):
        routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.End(vi)))

    # Stops already visited stay first, in order: chain them from the vehicle's start.
    for vi, v in enumerate(vehicles):
        previous = routing.Start(vi)
        for sid in problem.locked.get(v.id, ()):
            index = manager.NodeToIndex(problem.node_of(sid))
            routing.NextVar(previous).SetValue(index)
            previous = index
    return _Model(
        problem,
        matrix,
        manager,
        routing,
        time_dim,
        max(1.0, typical),
        stability_penalty=penalty,
        keep_arcs=keep_arcs,
        switch_penalty=switch,
        home=home,
    )


def _homes(problem: RouteProblem, orders: Routes) -> dict[int, int]:
    """Return each planned stop's node and the index of the vehicle it is on."""
    index = {v.id: vi for vi, v in enumerate(problem.vehicles)}
    return {problem.node_of(sid): index[vid] for vid, order in orders.items() for sid in order}


def _arcs(problem: RouteProblem, orders: Routes) -> frozenset[tuple[int, int]]:
    """Return the (node, node) arcs of stop orders, from each vehicle's start to its end."""
    arcs = set()
    for vi, v in enumerate(problem.vehicles):
        order = orders.get(v.id, ())
        if not order:
            continue
        previous = problem.start_node(vi)
        for sid in order:
            node = problem.node_of(sid)
            arcs.add((previous, node))
            previous = node
        arcs.add((previous, problem.end_node(vi)))
    return frozenset(arcs)


def _penalised(
    rows: list[list[int]], keep: frozenset[tuple[int, int]], penalty: int
) -> list[list[int]]:
    """Return ``rows`` with ``penalty`` added to every arc not in ``keep``."""
    if not penalty:
        return rows
    out = [[c + penalty for c in row] for row in rows]
    for a, b in keep:
        out[a][b] -= penalty
    return out


def _typical_arc(rows: list[list[int]], first_stop: int, k: int = 5) -> float:
    """Return the mean cost from a stop to its ``k`` nearest other stops or depots."""
    total, count = 0.0, 0
    for a in range(first_stop, len(rows)):
        nearest = heapq.nsmallest(k + 1, rows[a])[1:]  # [0] is the stop itself
        total += sum(nearest)
        count += len(nearest)
    return total / count if count else 1.0


def _read(model: _Model, solution: Any) -> RoutePlan:
    problem, matrix = model.problem, model.matrix
    manager, routing, time_dim = model.manager, model.routing, model.time_dim
    vehicles, stops = problem.vehicles, problem.stops
    routes = []
    visited: set[str] = set()
    new_arcs = switched = 0
    for vi, v in enumerate(vehicles):
        index = routing.Start(vi)
        prev_node = manager.IndexToNode(index)
        arcs = []
        prev_departure = solution.Value(time_dim.CumulVar(index))
        visits: list[Visit] = []
        dist = 0.0
        index = solution.Value(routing.NextVar(index))
        while not routing.IsEnd(index):
            node = manager.IndexToNode(index)
            stop = problem.stop_at(node)
            arrival = prev_departure + scaled(matrix.durations[prev_node][node], v.speed_factor)
            start = solution.Value(time_dim.CumulVar(index))
            visits.append(Visit(stop_id=stop.id, arrival=arrival, service_start=start))
            visited.add(stop.id)
            dist += matrix.distances[prev_node][node]
            arcs.append((prev_node, node))
            prev_node, prev_departure = node, start + stop.service_s
            index = solution.Value(routing.NextVar(index))
        end_node = manager.IndexToNode(index)
        if visits:
            arcs.append((prev_node, end_node))
            new_arcs += sum(1 for arc in arcs if arc not in model.keep_arcs)
            if model.home is not None:
                switched += sum(1 for a, b in arcs[:-1] if model.home.get(b, vi) != vi)
            dist += matrix.distances[prev_node][end_node]
            routes.append(
                PlannedRoute(
                    vehicle_id=v.id,
                    visits=tuple(visits),
                    distance_m=dist,
                    end_time=solution.Value(time_dim.CumulVar(index)),
                )
            )
    dropped = {s.id: drop_reason(problem, matrix, s) for s in stops if s.id not in visited}
    # The plan's own cost: without the drop penalties and the re-plan's stability penalties.
    objective = (
        solution.ObjectiveValue()
        - DROP_PENALTY * len(dropped)
        - model.stability_penalty * new_arcs
        - model.switch_penalty * switched
    )
    return RoutePlan(routes=tuple(routes), dropped=dropped, objective=float(objective))
