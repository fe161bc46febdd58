"""Build, repair and polish routes in pure Python: the optimizer's quick engine.

The OR-Tools adapter is the heavy engine; this module answers in milliseconds. It keeps the
rules ``verify_plan`` checks (time windows on arrival with waiting allowed, shift end,
capacity, parcel size, range, fixed vehicles, locked prefixes) and prices routes exactly as
the adapter's objective does, so a plan made here can be returned as it is or handed to the
solver as its first solution.

Each route keeps the textbook insertion bookkeeping: for every position the earliest service
start (forward pass) and the latest service start that keeps the rest of the route feasible
(backward pass), so "does this stop fit between these two?" is answered in O(1).

Three uses:

- ``repair``: start from ``RouteProblem.initial`` (the current plan), take out what no longer
  fits, insert what is new (regret insertion), then rebuild and relocate around the change
  only. One customer's change touches a few routes, not everybody's day.
- ``construct``: the same from empty routes (a cold first plan).
- ``plan_from_routes`` / ``routes_cost``: turn stop orders into a ``RoutePlan`` and price them.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .routing import (
    Matrix,
    Objective,
    PlannedRoute,
    RoutePlan,
    RouteProblem,
    StopSpec,
    VehicleSpec,
    Visit,
    scaled,
)

# Costs are in thousandths of a currency unit (as in the OR-Tools adapter).
COST_SCALE = 1000
# Stops relocated together with a changed stop: its nearest neighbours.
NEIGHBOURS = 12
# A re-plan moves a stop to another vehicle only if that saves this share of a mean arc.
SWITCH_SHARE = 0.5
# Above this many stops, insertion only tries the routes of a stop's nearest neighbours.
GRANULAR_ABOVE = 200
INF = float("inf")

Routes = dict[str, tuple[str, ...]]


def money_cost_row(
    per_km: float,
    per_hour: float,
    service_s: int,
    distances_m: Sequence[float],
    travel_s: Sequence[int],
) -> list[int]:
    """Return the cost (1/1000 currency) of serving a place then driving each arc from it.

    Money is the vehicle's cost per km plus its driver's cost per hour of service and
    driving. The trailing +1 makes every arc cost something, so a free vehicle still prefers
    the shorter of two equally priced orders. The OR-Tools adapter prices arcs with this too.
    """
    km = per_km / 1000 * COST_SCALE
    hour = per_hour / 3600 * COST_SCALE
    return [
        int(round(km * d + hour * (service_s + t))) + 1
        for d, t in zip(distances_m, travel_s, strict=True)
    ]


def can_serve(vehicle: VehicleSpec, stop: StopSpec) -> bool:
    """Return whether ``vehicle`` may take ``stop`` at all (size, fixed vehicle, capacity)."""
    return (
        stop.size <= vehicle.max_size
        and stop.fixed_vehicle in (None, vehicle.id)
        and stop.demand <= vehicle.capacity
    )


def drop_reason(problem: RouteProblem, matrix: Matrix, stop: StopSpec) -> str:
    """Explain why ``stop`` could not be served, from the most to the least basic reason."""
    node = problem.node_of(stop.id)
    able = [
        (vi, v)
        for vi, v in enumerate(problem.vehicles)
        if stop.size <= v.max_size and stop.fixed_vehicle in (None, v.id)
    ]
    if not able:
        if stop.fixed_vehicle and stop.fixed_vehicle in {v.id for v in problem.vehicles}:
            return f"parcel too large for its fixed vehicle {stop.fixed_vehicle}"
        if stop.fixed_vehicle:
            return f"fixed to vehicle {stop.fixed_vehicle}, which is not in the plan"
        return "parcel too large for every vehicle"
    if all(stop.demand > v.capacity for _vi, v in able):
        return "more parcels than any vehicle can carry"
    start, end = problem.start_node, problem.end_node
    reachable = [
        (vi, v)
        for vi, v in able
        if v.shift_start + scaled(matrix.durations[start(vi)][node], v.speed_factor)
        <= stop.window_end
        and max(
            v.shift_start + scaled(matrix.durations[start(vi)][node], v.speed_factor),
            stop.window_start,
        )
        + stop.service_s
        + scaled(matrix.durations[node][end(vi)], v.speed_factor)
        <= v.shift_end
    ]
    if not reachable:
        return "time window cannot be reached by any vehicle's shift"
    if all(
        v.range_m is not None
        and matrix.distances[start(vi)][node] + matrix.distances[node][end(vi)] > v.range_m
        for vi, v in reachable
    ):
        return "out of range of every vehicle that could take it"
    return "no room left in any route within its time window"


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
    """Insert, remove and relocate stops in feasible routes of one problem."""

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

    # ------------------------------------------------------------------ building

    def start_routes(self, initial: Routes | None) -> tuple[list[_Route], list[int], set[int]]:
        """Return routes seeded from ``initial`` (made feasible), stops left out, touched stops.

        Locked prefixes come first. A stop that no longer fits where it was is taken out: the
        stop itself when it is late, or an earlier stop that now waits long for a moved
        window when taking that one out saves the rest of the route.
        """
        problem = self.problem
        node_of = problem.node_of
        # Called directly (not through the optimizer), initial routes may name stops the
        # problem no longer has: those are left out.
        known = {s.id for s in problem.stops}
        placed: set[int] = set()
        touched: set[int] = set()
        routes = []
        for vi, v in enumerate(problem.vehicles):
            locked = [node_of(s) for s in problem.locked.get(v.id, ())]
            wanted = [node_of(s) for s in (initial or {}).get(v.id, ()) if s in known]
            wanted = [u for u in wanted if u not in locked]
            r = self.route(vi, list(locked), len(locked))
            placed.update(locked)
            kept, out = self._fit(r, wanted)
            placed.update(kept)
            # Neighbours of a removed stop are where the route changed.
            for u in out:
                touched.add(u)
                pos = wanted.index(u)
                for w in wanted[max(0, pos - 1) : pos + 2]:
                    if w != u and w in kept:
                        touched.add(w)
            routes.append(r)
        left = [u for u in range(self.first_stop, self.n_nodes) if u not in placed]
        touched.update(left)
        return routes, left, touched

    def _fit(self, r: _Route, wanted: list[int]) -> tuple[list[int], list[int]]:
        """Append ``wanted`` to ``r`` in order, leaving out what breaks the route."""
        vi = r.vehicle
        capacity = self.problem.vehicles[vi].capacity
        out: list[int] = []
        nodes = r.nodes
        # Time the vehicle leaves its last stop, and its load, in one forward pass.
        here = nodes[-1] if nodes else self.problem.start_node(vi)
        t = r.start[-2] + self.service[here] if nodes else r.start[0]
        load = r.load
        for u in wanted:
            if not self.eligible(vi, u) or load + self.demand[u] > capacity:
                out.append(u)
                continue
            arrive = t + self.travel(vi, here, u)
            if arrive > self.due[u]:
                # Late here: maybe because an earlier stop now waits long for a moved window.
                self.refresh(r)
                culprit = self._waiting_culprit(r, u)
                if culprit is None:
                    out.append(u)
                    continue
                nodes.remove(culprit)
                nodes.append(u)
                out.append(culprit)
                self.refresh(r)
                here, t, load = u, r.start[-2] + self.service[u], r.load
                continue
            nodes.append(u)
            t = max(arrive, self.ready[u]) + self.service[u]
            load += self.demand[u]
            here = u
        self.refresh(r)
        # The vehicle must also get home in time and within range.
        while not r.feasible and len(nodes) > r.n_locked:
            out.append(nodes.pop())
            self.refresh(r)
        return nodes[r.n_locked :], out

    def _prefix_ok(self, r: _Route) -> bool:
        """Return whether the route is feasible up to its last stop (ignoring the way home)."""
        v = self.problem.vehicles[r.vehicle]
        if r.load > v.capacity:
            return False
        return all(r.start[p] <= self.due[r.full[p]] for p in range(1, len(r.full) - 1))

    def _waiting_culprit(self, r: _Route, u: int) -> int | None:
        """Return an earlier stop whose removal lets ``u`` follow, preferring the longest wait."""
        vi = r.vehicle
        waits = []
        for p in range(r.n_locked + 1, len(r.full) - 1):
            a, b = r.full[p - 1], r.full[p]
            arrive = r.start[p - 1] + self.service[a] + self.travel(vi, a, b)
            if r.start[p] > arrive:
                waits.append((r.start[p] - arrive, p))
        for _wait, p in sorted(waits, reverse=True)[:3]:
            trial = r.nodes[: p - 1] + r.nodes[p:] + [u]
            probe = self.route(vi, trial, r.n_locked)
            if self._prefix_ok(probe):
                return r.nodes[p - 1]
        return None

    def insert_all(
        self, routes: list[_Route], pool: Iterable[int], deadline: float | None = None
    ) -> list[int]:
        """Insert ``pool`` by regret (hardest first); return the stops that fit nowhere.

        Regret-2: the stop that would lose most by not getting its best place now goes
        first. Each stop keeps its best place per candidate route, and only the entries of
        the route that just changed are recomputed; interchangeable empty vehicles count
        once. Above ``GRANULAR_ABOVE`` stops, a stop's candidate routes are those of its
        ``NEIGHBOURS`` nearest stops (plus an empty vehicle), which keeps 1000 stops in
        seconds.
        """
        left = list(dict.fromkeys(pool))
        if not left:
            return []
        problem = self.problem
        granular = len(problem.stops) > GRANULAR_ABOVE
        route_of: dict[int, int] = {}
        for ri, r in enumerate(routes):
            for w in r.nodes:
                route_of[w] = ri
        empties: dict[int, list[int]] = {}
        for ri, r in enumerate(routes):
            if not r.nodes:
                empties.setdefault(self.group[r.vehicle], []).append(ri)
        by_vehicle_id = {problem.vehicles[r.vehicle].id: ri for ri, r in enumerate(routes)}
        near_of: dict[int, list[int]] = {}
        if granular:
            for u in left:
                near_of[u] = self.neighbours(u)
        wanted_by: dict[int, list[int]] = {}  # w -> stops that have w among their neighbours
        for u, near in near_of.items():
            for w in near:
                wanted_by.setdefault(w, []).append(u)
        # Looked up once: the loops below ask hundreds of thousands of times at 1000 stops.
        fixed_to = {u: problem.stop_at(u).fixed_vehicle for u in left}

        def candidates(u: int) -> set[int]:
            fixed = fixed_to[u]
            if fixed is not None:
                return {by_vehicle_id[fixed]} if fixed in by_vehicle_id else set()
            if granular:
                out = {route_of[w] for w in near_of[u] if w in route_of}
            else:
                out = {ri for ri, r in enumerate(routes) if r.nodes}
            for group_routes in empties.values():
                if group_routes and self.eligible(routes[group_routes[0]].vehicle, u):
                    out.add(group_routes[0])
            return out

        options: dict[int, dict[int, tuple[int, int] | None]] = {}
        watchers: dict[int, set[int]] = {}
        for u in left:
            options[u] = {ri: self.best_insertion(routes[ri], u) for ri in candidates(u)}
            for ri in options[u]:
                watchers.setdefault(ri, set()).add(u)
        keys: dict[int, tuple[float, float, int]] = {}
        bests: dict[int, tuple[int, int, int] | None] = {}

        widened: set[int] = set()

        def summarise(u: int) -> None:
            found = sorted((o[0], ri, o[1]) for ri, o in options[u].items() if o is not None)
            if not found and granular and u not in widened:
                # Its neighbours' routes are full: try every route before giving up.
                widened.add(u)
                for ri, r in enumerate(routes):
                    if r.nodes and ri not in options[u]:
                        options[u][ri] = self.best_insertion(r, u)
                        watchers.setdefault(ri, set()).add(u)
                summarise(u)
                return
            if not found:
                bests[u] = None
                keys[u] = (-INF, 0.0, 0)
                return
            best = found[0]
            # One place left: it goes now, before that place is gone too.
            second = found[1][0] if len(found) > 1 else INF
            bests[u] = best
            # Ties: the tighter window first, then the stop order (deterministic).
            keys[u] = (second - best[0], -float(self.due[u]), -u)

        for u in left:
            summarise(u)
        remaining = set(left)
        unplaced: list[int] = []
        while remaining:
            if deadline is not None and time.monotonic() > deadline:
                # Out of time: the rest go wherever is cheapest right now, no regret.
                for u in sorted(remaining):
                    best_now = self._cheapest(routes, u)
                    if best_now is None:
                        unplaced.append(u)
                    else:
                        self.insert(routes[best_now[1]], u, best_now[2])
                break
            pick = max(remaining, key=keys.__getitem__)
            chosen = bests[pick]
            if chosen is None:
                unplaced.extend(sorted(remaining))
                break
            _cost, ri, pos = chosen
            r = routes[ri]
            was_empty = not r.nodes
            self.insert(r, pick, pos)
            remaining.discard(pick)
            route_of[pick] = ri
            dirty = set()
            watching = watchers.get(ri, set()) & remaining
            if was_empty:
                group_routes = empties[self.group[r.vehicle]]
                group_routes.remove(ri)
                stand_in = group_routes[0] if group_routes else None
                for u in watching:
                    # The next interchangeable empty vehicle stands in for this one.
                    if stand_in is not None and fixed_to[u] is None:
                        options[u][stand_in] = options[u][ri]
                        watchers.setdefault(stand_in, set()).add(u)
                    if granular and ri not in candidates(u):
                        del options[u][ri]
                        watchers[ri].discard(u)
                    dirty.add(u)
            for u in watching:
                if ri in options[u]:
                    options[u][ri] = self.best_insertion(r, u)
                    dirty.add(u)
            if granular:
                for u in wanted_by.get(pick, ()):
                    if u in remaining and ri not in options[u]:
                        options[u][ri] = self.best_insertion(r, u)
                        watchers.setdefault(ri, set()).add(u)
                        dirty.add(u)
            for u in dirty:
                summarise(u)
        return unplaced

    def _candidates(self, routes: list[_Route], u: int) -> list[int]:
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

    def _cheapest(self, routes: list[_Route], u: int) -> tuple[int, int, int] | None:
        best: tuple[int, int, int] | None = None
        for ri in self._candidates(routes, u):
            o = self.best_insertion(routes[ri], u)
            if o is not None and (best is None or o[0] < best[0]):
                best = (o[0], ri, o[1])
        return best

    # ------------------------------------------------------------------ local search

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

    def relocate_descent(
        self,
        routes: list[_Route],
        focus: Iterable[int],
        deadline: float | None = None,
        max_moves: int = 10_000,
        home: dict[int, int] | None = None,
        switch_cost: int = 0,
    ) -> int:
        """Move stops to cheaper feasible places until none helps; return the moves made.

        Only stops in ``focus`` and their neighbours are tried, and only into the routes
        their neighbours are on (plus one empty vehicle per kind): the search stays where
        the plan changed. ``home`` (stop -> route index in the current plan) makes moving a
        stop off its vehicle cost ``switch_cost`` more (and moving it back that much less).
        """
        where: dict[int, int] = {}
        for ri, r in enumerate(routes):
            for u in r.nodes[r.n_locked :]:
                where[u] = ri
        queue = list(dict.fromkeys(focus))
        expanded = set(queue)
        for u in list(queue):
            for w in self.neighbours(u):
                if w not in expanded:
                    expanded.add(w)
                    queue.append(w)
        homes = home or {}
        moves = 0
        improved = True
        while improved and moves < max_moves:
            improved = False
            for u in queue:
                if deadline is not None and time.monotonic() > deadline:
                    return moves
                if u not in where:
                    continue
                ri = where[u]
                r = routes[ri]
                p = r.nodes.index(u) + 1
                gain = self.removal_gain(r, p)
                if gain is None:
                    continue
                targets = {where[w] for w in self.neighbours(u) if w in where}
                targets.discard(ri)
                targets.update(rj for rj in self._candidates(routes, u) if not routes[rj].nodes)
                # A stop away from its home vehicle costs switch_cost (while it stays away).
                h = homes.get(u, -1)
                if h >= 0 and ri != h:
                    gain += switch_cost
                best: tuple[int, int, int] | None = None
                for rj in sorted(targets):
                    o = self.best_insertion(routes[rj], u)
                    if o is None:
                        continue
                    cost = o[0] + (switch_cost if h >= 0 and rj != h else 0)
                    if cost < gain and (best is None or cost < best[0]):
                        best = (cost, rj, o[1])
                # The same route, elsewhere: try it on a copy without u.
                self.remove(r, p)
                o = self.best_insertion(r, u)
                if o is not None:
                    cost = o[0] + (switch_cost if h >= 0 and ri != h else 0)
                    if cost < gain and (best is None or cost < best[0]):
                        best = (cost, ri, o[1])
                if best is None or best[0] >= gain:
                    self.insert(r, u, p - 1)
                    continue
                _delta, rj, pos = best
                self.insert(routes[rj], u, pos)
                where[u] = rj
                moves += 1
                improved = True
        return moves

    def rebuild_around(
        self,
        routes: list[_Route],
        focus: Iterable[int],
        deadline: float | None = None,
        sizes: Sequence[int] = (8, 12, 16, 24),
        home: dict[int, int] | None = None,
        switch_cost: int = 0,
    ) -> bool:
        """Take out the stops nearest the change and insert them again; keep it if cheaper.

        Relocating one stop at a time cannot make room in routes that are full (capacity or
        time): a new stop would open a vehicle of its own. Taking out its ``k`` nearest
        neighbours (for each ``k`` in ``sizes``) and re-inserting them all by regret can.
        Costs count ``switch_cost`` per stop away from its ``home`` route. Returns whether
        anything changed.
        """
        homes = home or {}

        def total() -> int:
            cost = sum(r.cost for r in routes)
            away = sum(
                1
                for ri, r in enumerate(routes)
                for u in r.nodes[r.n_locked :]
                if homes.get(u, ri) != ri
            )
            return cost + switch_cost * away

        focus = list(dict.fromkeys(focus))
        routed = {u for r in routes for u in r.nodes[r.n_locked :]}
        best = total()
        changed = False
        attempts: list[set[int]] = []
        for k in sizes:
            out = {u for u in focus if u in routed}
            for u in focus:
                out.update(w for w in self.neighbours(u, k) if w in routed)
            attempts.append(out)
        for out in attempts:
            if deadline is not None and time.monotonic() > deadline:
                break
            if not out:
                continue
            saved = [list(r.nodes) for r in routes]
            for r in routes:
                kept = r.nodes[: r.n_locked] + [u for u in r.nodes[r.n_locked :] if u not in out]
                if len(kept) != len(r.nodes):
                    r.nodes = kept
                    self.refresh(r)
            unplaced = self.insert_all(routes, sorted(out), deadline)
            now = total()
            if unplaced or now >= best:
                for r, nodes in zip(routes, saved, strict=True):
                    if r.nodes != nodes:
                        r.nodes = nodes
                        self.refresh(r)
                continue
            best, changed = now, True
        return changed

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


def repair(
    problem: RouteProblem,
    matrix: Matrix,
    deadline: float | None = None,
    improve: bool = True,
) -> tuple[RoutePlan, Routes]:
    """Return a feasible plan close to ``problem.initial`` and its stop orders.

    Stops the initial routes do not hold (new, moved or left out) are inserted by regret;
    then the stops nearest the change are taken out and inserted again (to make room in
    full routes) and relocated while that lowers the cost. A stop moved off its vehicle
    costs ``SWITCH_SHARE`` of a mean arc, so the plan only changes drivers for a saving.
    ``deadline`` (``time.monotonic()``) bounds the work; without it the result is
    deterministic.
    """
    builder = RouteBuilder(problem, matrix)
    routes, left, touched = builder.start_routes(problem.initial)
    if any(not r.feasible for r in routes):
        # Only a locked prefix can be infeasible here; nothing to repair around it.
        raise ValueError("a locked prefix cannot be served as it stands")
    home = {u: ri for ri, r in enumerate(routes) for u in r.nodes}
    arcs = [c for r in routes if r.nodes for c in r.arc_costs]
    switch_cost = int(SWITCH_SHARE * sum(arcs) / len(arcs)) if arcs else 0
    dropped = builder.insert_all(routes, left, deadline)
    if improve and touched:
        focus = sorted(touched - set(dropped))
        builder.rebuild_around(routes, focus, deadline, home=home, switch_cost=switch_cost)
        builder.relocate_descent(routes, focus, deadline, home=home, switch_cost=switch_cost)
    return builder.plan(routes, dropped), builder.orders(routes)


def construct(
    problem: RouteProblem,
    matrix: Matrix,
    deadline: float | None = None,
    improve: bool = True,
    builder: RouteBuilder | None = None,
) -> tuple[RoutePlan, Routes]:
    """Return a plan built from empty routes (locked prefixes kept) and its stop orders.

    Regret insertion, then relocation of every stop while that helps (until ``deadline``).
    """
    builder = builder or RouteBuilder(problem, matrix)
    routes, left, _touched = builder.start_routes(None)
    dropped = builder.insert_all(routes, left, deadline)
    if improve:
        every_stop = list(range(problem.first_stop_node, problem.node_count))
        builder.relocate_descent(routes, every_stop, deadline)
    return builder.plan(routes, dropped), builder.orders(routes)


def routes_cost(problem: RouteProblem, matrix: Matrix, orders: Routes) -> tuple[int, bool]:
    """Return the cost of stop orders in the solver's units and whether they are feasible."""
    builder = RouteBuilder(problem, matrix)
    index = {v.id: vi for vi, v in enumerate(problem.vehicles)}
    total, feasible = 0, True
    for vid, order in orders.items():
        r = builder.route(index[vid], [problem.node_of(s) for s in order])
        total += r.cost
        feasible = feasible and r.feasible and all(builder.eligible(r.vehicle, u) for u in r.nodes)
    return total, feasible


def changed_arcs(before: Routes, after: Routes) -> int:
    """Return how many stops have a different predecessor (or vehicle) than before."""

    def preds(orders: Routes) -> dict[str, tuple[str, str]]:
        out = {}
        for vid, order in orders.items():
            prev = f"<{vid}>"
            for sid in order:
                out[sid] = (vid, prev)
                prev = sid
        return out

    a, b = preds(before), preds(after)
    return sum(1 for sid, key in b.items() if a.get(sid) != key)


def plan_orders(plan: RoutePlan) -> Routes:
    """Return a plan's stop orders per vehicle (the shape ``RouteProblem.initial`` takes)."""
    return {r.vehicle_id: tuple(v.stop_id for v in r.visits) for r in plan.routes if r.visits}


__all__: Sequence[str] = (
    "RouteBuilder",
    "can_serve",
    "changed_arcs",
    "construct",
    "drop_reason",
    "money_cost_row",
    "plan_orders",
    "repair",
    "routes_cost",
)
