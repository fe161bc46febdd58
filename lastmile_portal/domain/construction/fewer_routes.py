"""Fewer routes: empty the smallest routes into the others, ejecting stops to make room.

On a distance objective every route pays a trip out of the depot and back, and with a
fixed vehicle cost every van pays that too; regret insertion, which opens a vehicle as soon
as no open route has room, ends a 1,000-stop day with far more routes than good plans use
(198 against 95 on Gehring–Homberger R1_10_1). Moving one stop at a time never closes a
route: its last stops are always cheaper where they are. Emptying a whole route at once,
with an ejection chain for the stops that fit nowhere (after Nagata and Bräysy's ejection
pool), does.
"""

from __future__ import annotations

import time

from .local_search import relocate_descent
from .routes import RouteBuilder, _Route

# Moves (insertions and ejections) an attempt may make per stop of the route it empties
# before it is given up: enough for short chains, bounded so a hopeless route costs little.
MOVES_PER_STOP = 25
# A stop of the route being emptied may go to the routes of this many of its nearest stops:
# wider than insertion's neighbour lists, since the near routes are the full ones (24 closed
# 87 of R1_10_1's 198 routes, 40 closed 95; with 12 it stalled at 126).
TARGET_NEIGHBOURS = 40


def eliminate_routes(builder: RouteBuilder, routes: list[_Route], deadline: float) -> int:
    """Empty routes, smallest first, while the plan's cost does not rise; return how many.

    One attempt takes a route's stops out and puts them, tightest window first, where they
    add least among the routes of their nearest neighbours. A stop that fits in none of them
    takes the place of a stop there (the one ejected least often so far, then the cheapest
    swap) and the ejected stop joins the pool: an ejection chain. The attempt is kept when
    the pool empties and the routes it touched cost no more than before (after relocating
    the stops it moved); otherwise everything goes back as it was. Routes with locked stops
    are never emptied.
    """
    ejected: dict[int, int] = {}
    used_before = sum(1 for r in routes if r.nodes)
    progress = True
    while progress and time.monotonic() < deadline:
        # One pass over the routes, smallest first; another while the last one emptied any
        # (the routes that took their stops have changed, so earlier failures may not fail).
        progress = False
        order = sorted(
            (ri for ri, r in enumerate(routes) if r.nodes and not r.n_locked),
            key=lambda i: (len(routes[i].nodes), routes[i].cost, i),
        )
        for ri in order:
            if time.monotonic() > deadline:
                break
            if routes[ri].nodes and _empty(builder, routes, ri, deadline, ejected):
                progress = True
    # (Relocating after a chain can empty a route too, so count them at the end.)
    return used_before - sum(1 for r in routes if r.nodes)


def _empty(
    builder: RouteBuilder,
    routes: list[_Route],
    ri: int,
    deadline: float,
    ejected: dict[int, int],
) -> bool:
    """Try to move every stop of ``routes[ri]`` elsewhere; keep it only if no dearer."""
    # A copy of every route (a few thousand integers): the chain and the relocation after
    # it may touch any of them.
    saved = [list(r.nodes) for r in routes]
    before = sum(r.cost for r in routes)
    where: dict[int, int] = {}
    for rj, r in enumerate(routes):
        for u in r.nodes[r.n_locked :]:
            where[u] = rj
    pool = list(routes[ri].nodes)
    routes[ri].nodes = []
    builder.refresh(routes[ri])
    for u in pool:
        del where[u]
    # Last in, first out: the stops with the tightest windows go on top.
    pool.sort(key=lambda u: builder.due[u] - builder.ready[u], reverse=True)
    moved: set[int] = set(pool)
    budget = MOVES_PER_STOP * len(pool)
    while pool:
        budget -= 1
        if budget < 0 or time.monotonic() > deadline:
            _restore(builder, routes, saved)
            return False
        u = pool.pop()
        targets = sorted(
            {where[w] for w in builder.neighbours(u, TARGET_NEIGHBOURS) if w in where} - {ri}
        )
        best: tuple[int, int, int] | None = None
        for rj in targets:
            option = builder.best_insertion(routes[rj], u)
            if option is not None and (best is None or option[0] < best[0]):
                best = (option[0], rj, option[1])
        if best is not None:
            _cost, rj, pos = best
            builder.insert(routes[rj], u, pos)
            where[u] = rj
            continue
        swap = _cheapest_ejection(builder, routes, targets, u, ejected)
        if swap is None:
            _restore(builder, routes, saved)
            return False
        rj, p = swap
        out = routes[rj].nodes[p - 1]
        routes[rj].nodes[p - 1] = u
        builder.refresh(routes[rj])
        where[u] = rj
        del where[out]
        ejected[out] = ejected.get(out, 0) + 1
        moved.add(out)
        pool.append(out)
    if sum(r.cost for r in routes) <= before:
        return True
    # The chain only looked for room; relocating what it moved takes back some detours
    # (and may open a route again: then the attempt has closed none).
    used = sum(1 for r in routes if r.nodes)
    relocate_descent(builder, routes, sorted(moved), deadline, max_moves=20 * len(moved))
    if sum(r.cost for r in routes) <= before and sum(1 for r in routes if r.nodes) < used + 1:
        return True
    _restore(builder, routes, saved)
    return False


def _cheapest_ejection(
    builder: RouteBuilder,
    routes: list[_Route],
    targets: list[int],
    u: int,
    ejected: dict[int, int],
) -> tuple[int, int] | None:
    """Return (route, position) of the stop ``u`` can replace: ejected least, then cheapest.

    Only a swap in place is tried (``u`` where the other stop was): it is checked in O(1)
    from the route's earliest and latest service starts, as an insertion is.
    """
    service, demand = builder.service, builder.demand
    ready_u, due_u, s_u = builder.ready[u], builder.due[u], builder.service[u]
    best: tuple[tuple[int, int], int, int] | None = None
    for rj in targets:
        r = routes[rj]
        vi = r.vehicle
        if not builder.eligible(vi, u):
            continue
        capacity = builder.problem.vehicles[vi].capacity
        limit = builder.range_limit[vi]
        full, start, latest = r.full, r.start, r.latest
        for p in range(r.n_locked + 1, len(full) - 1):
            w, a, b = full[p], full[p - 1], full[p + 1]
            if r.load - demand[w] + demand[u] > capacity:
                continue
            arrive = start[p - 1] + service[a] + builder.travel(vi, a, u)
            if arrive > due_u:
                continue
            begin = arrive if arrive > ready_u else ready_u
            if begin + s_u + builder.travel(vi, u, b) > latest[p + 1]:
                continue
            if limit is not None and (
                r.range_used
                - r.arc_ranges[p - 1]
                - r.arc_ranges[p]
                + builder.arc_range(a, u)
                + builder.arc_range(u, b)
                > limit
            ):
                continue
            delta = (
                builder.arc_cost(vi, a, u)
                + builder.arc_cost(vi, u, b)
                - r.arc_costs[p - 1]
                - r.arc_costs[p]
            )
            key = (ejected.get(w, 0), delta)
            if best is None or key < best[0]:
                best = (key, rj, p)
    if best is None:
        return None
    return best[1], best[2]


def _restore(builder: RouteBuilder, routes: list[_Route], saved: list[list[int]]) -> None:
    for rj, nodes in enumerate(saved):
        if routes[rj].nodes != nodes:
            routes[rj].nodes = list(nodes)
            builder.refresh(routes[rj])
