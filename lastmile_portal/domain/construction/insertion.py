"""Regret insertion: put stops into routes, the one that would lose most by waiting first."""

from __future__ import annotations

import time
from collections.abc import Iterable

from .routes import INF, RouteBuilder, _Route

# Above this many stops, insertion only tries the routes of a stop's nearest neighbours.
GRANULAR_ABOVE = 200


def insert_all(
    builder: RouteBuilder, routes: list[_Route], pool: Iterable[int], deadline: float | None = None
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
    problem = builder.problem
    granular = len(problem.stops) > GRANULAR_ABOVE
    route_of: dict[int, int] = {}
    for ri, r in enumerate(routes):
        for w in r.nodes:
            route_of[w] = ri
    empties: dict[int, list[int]] = {}
    for ri, r in enumerate(routes):
        if not r.nodes:
            empties.setdefault(builder.group[r.vehicle], []).append(ri)
    by_vehicle_id = {problem.vehicles[r.vehicle].id: ri for ri, r in enumerate(routes)}
    near_of: dict[int, list[int]] = {}
    if granular:
        for u in left:
            near_of[u] = builder.neighbours(u)
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
            if group_routes and builder.eligible(routes[group_routes[0]].vehicle, u):
                out.add(group_routes[0])
        return out

    options: dict[int, dict[int, tuple[int, int] | None]] = {}
    watchers: dict[int, set[int]] = {}
    for u in left:
        options[u] = {ri: builder.best_insertion(routes[ri], u) for ri in candidates(u)}
        for ri in options[u]:
            watchers.setdefault(ri, set()).add(u)
    keys: dict[int, tuple[float, int, float, int]] = {}
    bests: dict[int, tuple[int, int, int] | None] = {}

    widened: set[int] = set()

    def summarise(u: int) -> None:
        found = sorted((o[0], ri, o[1]) for ri, o in options[u].items() if o is not None)
        if not found and granular and u not in widened:
            # Its neighbours' routes are full: try every route before giving up.
            widened.add(u)
            for ri, r in enumerate(routes):
                if r.nodes and ri not in options[u]:
                    options[u][ri] = builder.best_insertion(r, u)
                    watchers.setdefault(ri, set()).add(u)
            summarise(u)
            return
        if not found:
            bests[u] = None
            keys[u] = (-INF, 0, 0.0, 0)
            return
        best = found[0]
        # One place left: it goes now, before that place is gone too.
        second = found[1][0] if len(found) > 1 else INF
        bests[u] = best
        # Ties (above all stops with one place left): the bigger load first, as in packing
        # bins (a locker's fifty parcels fill a whole van: once every van carries something
        # they fit nowhere), then the tighter window, then the stop order (deterministic).
        keys[u] = (second - best[0], builder.demand[u], -float(builder.due[u]), -u)

    for u in left:
        summarise(u)
    remaining = set(left)
    unplaced: list[int] = []
    while remaining:
        if deadline is not None and time.monotonic() > deadline:
            # Out of time: the rest go wherever is cheapest right now, no regret.
            for u in sorted(remaining):
                best_now = _cheapest(builder, routes, u)
                if best_now is None:
                    unplaced.append(u)
                else:
                    builder.insert(routes[best_now[1]], u, best_now[2])
            break
        pick = max(remaining, key=keys.__getitem__)
        chosen = bests[pick]
        if chosen is None:
            unplaced.extend(sorted(remaining))
            break
        _cost, ri, pos = chosen
        r = routes[ri]
        was_empty = not r.nodes
        builder.insert(r, pick, pos)
        remaining.discard(pick)
        route_of[pick] = ri
        dirty = set()
        watching = watchers.get(ri, set()) & remaining
        if was_empty:
            group_routes = empties[builder.group[r.vehicle]]
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
                options[u][ri] = builder.best_insertion(r, u)
                dirty.add(u)
        if granular:
            for u in wanted_by.get(pick, ()):
                if u in remaining and ri not in options[u]:
                    options[u][ri] = builder.best_insertion(r, u)
                    watchers.setdefault(ri, set()).add(u)
                    dirty.add(u)
        for u in dirty:
            summarise(u)
    return unplaced


def _cheapest(builder: RouteBuilder, routes: list[_Route], u: int) -> tuple[int, int, int] | None:
    best: tuple[int, int, int] | None = None
    for ri in builder.candidates(routes, u):
        o = builder.best_insertion(routes[ri], u)
        if o is not None and (best is None or o[0] < best[0]):
            best = (o[0], ri, o[1])
    return best
