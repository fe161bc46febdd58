"""Seed routes from locked prefixes and the current plan, taking out what no longer fits."""

from __future__ import annotations

from .routes import RouteBuilder, Routes, _Route


def start_routes(
    builder: RouteBuilder, initial: Routes | None
) -> tuple[list[_Route], list[int], set[int]]:
    """Return routes seeded from ``initial`` (made feasible), stops left out, touched stops.

    Locked prefixes come first. A stop that no longer fits where it was is taken out: the
    stop itself when it is late, or an earlier stop that now waits long for a moved
    window when taking that one out saves the rest of the route.
    """
    problem = builder.problem
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
        r = builder.route(vi, list(locked), len(locked))
        placed.update(locked)
        kept, out = _fit(builder, r, wanted)
        placed.update(kept)
        # Neighbours of a removed stop are where the route changed.
        for u in out:
            touched.add(u)
            pos = wanted.index(u)
            for w in wanted[max(0, pos - 1) : pos + 2]:
                if w != u and w in kept:
                    touched.add(w)
        routes.append(r)
    left = [u for u in range(builder.first_stop, builder.n_nodes) if u not in placed]
    touched.update(left)
    return routes, left, touched


def _fit(builder: RouteBuilder, r: _Route, wanted: list[int]) -> tuple[list[int], list[int]]:
    """Append ``wanted`` to ``r`` in order, leaving out what breaks the route."""
    vi = r.vehicle
    capacity = builder.problem.vehicles[vi].capacity
    out: list[int] = []
    nodes = r.nodes
    # Time the vehicle leaves its last stop, and its load, in one forward pass.
    here = nodes[-1] if nodes else builder.problem.start_node(vi)
    t = r.start[-2] + builder.service[here] if nodes else r.start[0]
    load = r.load
    for u in wanted:
        if not builder.eligible(vi, u) or load + builder.demand[u] > capacity:
            out.append(u)
            continue
        arrive = t + builder.travel(vi, here, u)
        if arrive > builder.due[u]:
            # Late here: maybe because an earlier stop now waits long for a moved window.
            builder.refresh(r)
            culprit = _waiting_culprit(builder, r, u)
            if culprit is None:
                out.append(u)
                continue
            nodes.remove(culprit)
            nodes.append(u)
            out.append(culprit)
            builder.refresh(r)
            here, t, load = u, r.start[-2] + builder.service[u], r.load
            continue
        nodes.append(u)
        t = max(arrive, builder.ready[u]) + builder.service[u]
        load += builder.demand[u]
        here = u
    builder.refresh(r)
    # The vehicle must also get home in time and within range.
    while not r.feasible and len(nodes) > r.n_locked:
        out.append(nodes.pop())
        builder.refresh(r)
    return nodes[r.n_locked :], out


def _prefix_ok(builder: RouteBuilder, r: _Route) -> bool:
    """Return whether the route is feasible up to its last stop (ignoring the way home)."""
    v = builder.problem.vehicles[r.vehicle]
    if r.load > v.capacity:
        return False
    return all(r.start[p] <= builder.due[r.full[p]] for p in range(1, len(r.full) - 1))


def _waiting_culprit(builder: RouteBuilder, r: _Route, u: int) -> int | None:
    """Return an earlier stop whose removal lets ``u`` follow, preferring the longest wait."""
    vi = r.vehicle
    waits = []
    for p in range(r.n_locked + 1, len(r.full) - 1):
        a, b = r.full[p - 1], r.full[p]
        arrive = r.start[p - 1] + builder.service[a] + builder.travel(vi, a, b)
        if r.start[p] > arrive:
            waits.append((r.start[p] - arrive, p))
    for _wait, p in sorted(waits, reverse=True)[:3]:
        trial = r.nodes[: p - 1] + r.nodes[p:] + [u]
        probe = builder.route(vi, trial, r.n_locked)
        if _prefix_ok(builder, probe):
            return r.nodes[p - 1]
    return None
