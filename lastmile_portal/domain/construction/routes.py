"""Route bookkeeping: one vehicle's stops with the times, load and costs insertion needs.

Each route keeps, for every position, the earliest service start (forward pass) and the
latest service start that keeps the rest of the route feasible (backward pass), so "does
this stop fit between these two?" is answered in O(1). ``RouteBuilder`` holds one problem's
per-node numbers and answers those questions; the algorithms that move stops around
(seeding, insertion, local search) are functions over it.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..routing import Matrix, Objective, PlannedRoute, RoutePlan, RouteProblem, Visit, scaled
from .costs import COST_SCALE, can_serve, drop_reason

# Stops relocated together with a changed stop: its nearest neighbours.
NEIGHBOURS = 12
INF = float("inf")

Routes = dict[str, tuple[str, ...]]


@dataclass
class _Route:
    """One vehicle's stops (matrix nodes) with the bookkeeping insertion checks need."""

    vehicle: int
    nodes: list[int]
    n_locked: int
    # Positions: 0 = vehicle start, 1..m = stops, m + 1 = vehicle end.
    full: list[int] = field(default_factory=list)
    start: list[int] = field(default_factory=list)  # earliest service start (end: arrival)
    latest: list[int] = field(default_factory=list)  # latest feasible service start
    arc_costs: list[int] = field(default_factory=list)  # arc p: full[p] -> full[p + 1]
    arc_ranges: list[int] = field(default_factory=list)
    load: int = 0
    range_used: int = 0  # sum of arc lengths rounded up, as the solver counts range
    cost: int = 0
    feasible: bool = True


class RouteBuilder:
    """Keep one problem's routes: price and check insertions and removals, make the plan."""

    def __init__(self, problem: RouteProblem, matrix: Matrix) -> None:
        self.problem = problem
        self.matrix = matrix
        vehicles, stops = problem.vehicles, problem.stops
        # Node numbers as the problem lays them out, read once for the loops below.
        self.first_stop = first = problem.first_stop_node
        self.n_nodes = problem.node_count
        # Per node: depots serve nothing, and a route's ends are held to its vehicle's shift
        # (refresh), so only the stops' entries are ever read.
        depots = [0] * first
        self.service = depots + [s.service_s for s in stops]
        self.ready = depots + [s.window_start for s in stops]
        self.due = depots + [s.window_end for s in stops]
        self.demand = depots + [s.demand for s in stops]
        self.distance_objective = problem.objective is Objective.DISTANCE
        self.speed = [v.speed_factor for v in vehicles]
        # Money per metre and per second in the solver's units (see money_cost_row).
        self.per_m = [v.cost_per_km / 1000 * COST_SCALE for v in vehicles]
        self.per_s = [v.cost_per_hour / 3600 * COST_SCALE for v in vehicles]
        durations = matrix.durations
        self._int_durations = all(type(d) is int for d in durations[0]) if durations else True
        self._eligible: dict[tuple[int, int], bool] = {}
        self._neighbours: dict[int, list[int]] = {}
        self.fixed = [
            int(round(v.fixed_cost * COST_SCALE)) if v.fixed_cost else 0 for v in vehicles
        ]
        self.range_limit = [int(v.range_m) if v.range_m is not None else None for v in vehicles]
        # Empty vehicles that are interchangeable are tried once per insertion.
        groups: dict[tuple[object, ...], int] = {}
        self.group = [
            groups.setdefault(
                (
                    v.start,
                    v.end,
                    v.shift_start,
                    v.shift_end,
                    v.capacity,
                    v.speed_factor,
                    v.max_size,
                    v.range_m,
                    v.cost_per_km,
                    v.cost_per_hour,
                    v.fixed_cost,
                ),
                len(groups),
            )
            for v in vehicles
        ]

    # ------------------------------------------------------------------ matrices

    def travel(self, vi: int, a: int, b: int) -> int:
        """Return the travel time from node ``a`` to ``b`` for vehicle ``vi`` (speed applied)."""
        d = self.matrix.durations[a][b]
        factor = self.speed[vi]
        if factor == 1.0 and self._int_durations:
            return d
        return scaled(d, factor)

    def arc_cost(self, vi: int, a: int, b: int) -> int:
        """Return the cost of serving ``a`` then driving to ``b``, in the solver's units.

        The same numbers as ``money_cost_row`` (and the adapter's rounded distances).
        """
        d = self.matrix.distances[a][b]
        if self.distance_objective:
            return int(round(d))
        return (
            int(
                round(
                    self.per_m[vi] * d + self.per_s[vi] * (self.service[a] + self.travel(vi, a, b))
                )
            )
            + 1
        )

    def arc_range(self, a: int, b: int) -> int:
        """Return the arc's length rounded up (range is checked on these, like the solver)."""
        return math.ceil(self.matrix.distances[a][b])

    def eligible(self, vi: int, node: int) -> bool:
        """Return whether vehicle ``vi`` may serve the stop at ``node``."""
        key = (vi, node)
        ok = self._eligible.get(key)
        if ok is None:
            ok = can_serve(self.problem.vehicles[vi], self.problem.stop_at(node))
            self._eligible[key] = ok
        return ok

    # ------------------------------------------------------------------ routes

    def route(self, vi: int, nodes: list[int], n_locked: int = 0) -> _Route:
        """Return a route with its bookkeeping computed."""
        r = _Route(vehicle=vi, nodes=nodes, n_locked=n_locked)
        self.refresh(r)
        return r

    def refresh(self, r: _Route) -> None:
        """Recompute a route's times, load, range and cost after a change."""
        vi = r.vehicle
        problem = self.problem
        v = problem.vehicles[vi]
        full = [problem.start_node(vi), *r.nodes, problem.end_node(vi)]
        service, ready, due, demand = self.service, self.ready, self.due, self.demand
        travel, arc_cost, arc_range = self.travel, self.arc_cost, self.arc_range
        t = v.shift_start
        start = [t]
        legs = []
        arc_costs = []
        arc_ranges = []
        load = 0
        feasible = True
        last = len(full) - 1
        for p in range(1, len(full)):
            a, b = full[p - 1], full[p]
            leg = travel(vi, a, b)
            legs.append(leg)
            arc_costs.append(arc_cost(vi, a, b))
            arc_ranges.append(arc_range(a, b))
            t += service[a] + leg
            if p < last:
                if t > due[b]:
                    feasible = False
                if t < ready[b]:
                    t = ready[b]
                load += demand[b]
            start.append(t)
        used = sum(arc_ranges)
        if t > v.shift_end or load > v.capacity:
            feasible = False
        limit = self.range_limit[vi]
        if limit is not None and used > limit:
            feasible = False
        latest = [0] * len(full)
        latest[last] = v.shift_end
        for p in range(last - 1, -1, -1):
            bound = latest[p + 1] - legs[p] - service[full[p]]
            latest[p] = bound if p == 0 else min(due[full[p]], bound)
        cost = sum(arc_costs) + self.fixed[vi] if r.nodes else 0  # unused: costs nothing
        r.full, r.start, r.latest = full, start, latest
        r.arc_costs, r.arc_ranges = arc_costs, arc_ranges
        r.load, r.range_used, r.cost, r.feasible = load, used, cost, feasible

    def best_insertion(self, r: _Route, u: int) -> tuple[int, int] | None:
        """Return (added cost, position) of the cheapest feasible place for ``u`` in ``r``."""
        vi = r.vehicle
        if not self.eligible(vi, u):
            return None
        v = self.problem.vehicles[vi]
        if r.load + self.demand[u] > v.capacity:
            return None
        full, start, latest, arc_costs = r.full, r.start, r.latest, r.arc_costs
        service, ready_u, due_u = self.service, self.ready[u], self.due[u]
        travel, arc_cost = self.travel, self.arc_cost
        s_u = service[u]
        limit = self.range_limit[vi]
        best_delta, best_pos = INF, -1
        for p in range(r.n_locked, len(full) - 1):
            a, b = full[p], full[p + 1]
            arrive = start[p] + service[a] + travel(vi, a, u)
            if arrive > due_u:
                continue
            begin = arrive if arrive > ready_u else ready_u
            # latest[p + 1] >= b's window start in a feasible route, so arriving early and
            # waiting there is fine exactly when the arrival is not after it.
            if begin + s_u + travel(vi, u, b) > latest[p + 1]:
                continue
            delta = arc_cost(vi, a, u) + arc_cost(vi, u, b) - arc_costs[p]
            if delta >= best_delta:
                continue
            if (
                limit is not None
                and r.range_used + self.arc_range(a, u) + self.arc_range(u, b) - r.arc_ranges[p]
                > limit
            ):
                continue
            best_delta, best_pos = delta, p
        if best_pos < 0:
            return None
        if not r.nodes:
            best_delta += self.fixed[vi]
        return int(best_delta), best_pos

    def removal_gain(self, r: _Route, p: int) -> int | None:
        """Return the cost saved by taking out the stop at position ``p`` (None if infeasible)."""
        vi = r.vehicle
        full = r.full
        a, b = full[p - 1], full[p + 1]
        arrive = r.start[p - 1] + self.service[a] + self.travel(vi, a, b)
        if arrive > r.latest[p + 1]:
            return None  # possible with travel times that break the triangle inequality
        limit = self.range_limit[vi]
        if (
            limit is not None
            and r.range_used - r.arc_ranges[p - 1] - r.arc_ranges[p] + self.arc_range(a, b) > limit
        ):
            return None
        gain = r.arc_costs[p - 1] + r.arc_costs[p] - self.arc_cost(vi, a, b)
        if len(r.nodes) == 1:
            gain += self.fixed[vi]
        return gain

    def insert(self, r: _Route, u: int, p: int) -> None:
        """Put ``u`` after position ``p`` of ``r``."""
        r.nodes.insert(p, u)
        self.refresh(r)

    def remove(self, r: _Route, p: int) -> int:
        """Take out the stop at position ``p`` (1-based, as in ``full``) and return it."""
        u = r.nodes.pop(p - 1)
        self.refresh(r)
        return u

    # ------------------------------------------------------------------ where a stop may go

    def candidates(self, routes: list[_Route], u: int) -> list[int]:
        """Return the routes worth trying for ``u``: used ones, one empty per vehicle kind."""
        seen_groups: set[int] = set()
        out = []
        for ri, r in enumerate(routes):
            if r.nodes:
                out.append(ri)
                continue
            g = self.group[r.vehicle]
            if g in seen_groups or not self.eligible(r.vehicle, u):
                continue
            seen_groups.add(g)
            out.append(ri)
        return out

    def neighbours(self, u: int, k: int = NEIGHBOURS) -> list[int]:
        """Return the ``k`` stops nearest to ``u`` (by distance either way)."""
        cached = self._neighbours.get(u)
        if cached is None or len(cached) < k:
            d_from, dist = self.matrix.distances[u], self.matrix.distances
            cached = heapq.nsmallest(
                k,
                (w for w in range(self.first_stop, self.n_nodes) if w != u),
                key=lambda w: d_from[w] + dist[w][u],
            )
            self._neighbours[u] = cached
        return cached[:k]

    # ------------------------------------------------------------------ answers

    def plan(self, routes: list[_Route], dropped: Iterable[int]) -> RoutePlan:
        """Return routes as a RoutePlan (visits with planned times) and the dropped stops."""
        problem, matrix = self.problem, self.matrix
        planned = []
        total = 0
        for r in routes:
            if not r.nodes:
                continue
            vi = r.vehicle
            visits = []
            distance = 0.0
            for p in range(1, len(r.full) - 1):
                a, b = r.full[p - 1], r.full[p]
                arrival = r.start[p - 1] + self.service[a] + self.travel(vi, a, b)
                visits.append(
                    Visit(
                        stop_id=problem.stop_at(b).id,
                        arrival=arrival,
                        service_start=r.start[p],
                    )
                )
                distance += matrix.distances[a][b]
            distance += matrix.distances[r.full[-2]][r.full[-1]]
            total += r.cost
            planned.append(
                PlannedRoute(
                    vehicle_id=problem.vehicles[vi].id,
                    visits=tuple(visits),
                    distance_m=distance,
                    end_time=r.start[-1],
                )
            )
        reasons = {
            problem.stop_at(u).id: drop_reason(problem, matrix, problem.stop_at(u)) for u in dropped
        }
        return RoutePlan(routes=tuple(planned), dropped=reasons, objective=float(total))

    def orders(self, routes: list[_Route]) -> Routes:
        """Return each used vehicle's stop ids in order."""
        problem = self.problem
        return {
            problem.vehicles[r.vehicle].id: tuple(problem.stop_at(u).id for u in r.nodes)
            for r in routes
            if r.nodes
        }
