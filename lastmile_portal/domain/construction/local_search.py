"""Local search on built routes: relocate stops, and rebuild the neighbourhood of a change."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from .insertion import insert_all
from .routes import RouteBuilder, _Route


def relocate_descent(
    builder: RouteBuilder,
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
        for w in builder.neighbours(u):
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
            gain = builder.removal_gain(r, p)
            if gain is None:
                continue
            targets = {where[w] for w in builder.neighbours(u) if w in where}
            targets.discard(ri)
            targets.update(rj for rj in builder.candidates(routes, u) if not routes[rj].nodes)
            # A stop away from its home vehicle costs switch_cost (while it stays away).
            h = homes.get(u, -1)
            if h >= 0 and ri != h:
                gain += switch_cost
            best: tuple[int, int, int] | None = None
            for rj in sorted(targets):
                o = builder.best_insertion(routes[rj], u)
                if o is None:
                    continue
                cost = o[0] + (switch_cost if h >= 0 and rj != h else 0)
                if cost < gain and (best is None or cost < best[0]):
                    best = (cost, rj, o[1])
            # The same route, elsewhere: try it on a copy without u.
            builder.remove(r, p)
            o = builder.best_insertion(r, u)
            if o is not None:
                cost = o[0] + (switch_cost if h >= 0 and ri != h else 0)
                if cost < gain and (best is None or cost < best[0]):
                    best = (cost, ri, o[1])
            if best is None or best[0] >= gain:
                builder.insert(r, u, p - 1)
                continue
            _delta, rj, pos = best
            builder.insert(routes[rj], u, pos)
            where[u] = rj
            moves += 1
            improved = True
    return moves


def rebuild_around(
    builder: RouteBuilder,
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
            out.update(w for w in builder.neighbours(u, k) if w in routed)
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
                builder.refresh(r)
        unplaced = insert_all(builder, routes, sorted(out), deadline)
        now = total()
        if unplaced or now >= best:
            for r, nodes in zip(routes, saved, strict=True):
                if r.nodes != nodes:
                    r.nodes = nodes
                    builder.refresh(r)
            continue
        best, changed = now, True
    return changed
