"""Big and mid-sized days: OR-Tools on groups of neighbouring routes, a few seconds each."""

from __future__ import annotations

import random
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from ...domain.construction import (
    RouteBuilder,
    Routes,
    construct,
)
from ...domain.routing import Matrix, RoutePlan, RouteProblem
from .model import _solve_one
from .pool import _process_pool, _solve_parallel, _solve_until
from .strategies import SearchStrategy

# Above this many stops one model of the whole day is too slow to search (OR-Tools' first
# insertion alone takes 25-80 s and one descent minutes at 1000 stops): build the plan in
# Python and improve it a group of neighbouring routes at a time (see _solve_large).
DECOMPOSE_ABOVE = 300
# A group is a route and the routes its stops' nearest neighbours are on (_group_around),
# up to GROUP_STOPS stops. Days of short routes (10 stops each) run out of neighbouring
# routes first (Gehring-Homberger r1_10_4: 43-164 stops, median 80); on days of long routes
# (50 stops) the cap decides, and 120 let only two neighbours in, too few to move stops
# between routes of wide windows. Days of clusters, one route each, are the other way round:
# every near neighbour is on the route itself, so the 40 nearest fill the group up to
# GROUP_MIN_STOPS. Both at 60 s on six Gehring-Homberger 1000 instances outside the shared
# set: 4.66 and 4.97 % mean in two runs against 5.51 % (cap 120, no filling); on the six
# shared ones 3.08 % against 2.99-3.17 % (bench/README.md).
GROUP_STOPS = 360
GROUP_MIN_STOPS = 120
# Shares of the budget the Python construction may take (it stops sooner when it is done),
# and within it emptying whole routes (fewer routes: no trips out and back for nothing).
CONSTRUCTION_SHARE = 0.6
ELIMINATE_SHARE = 0.3
# Days of REGIONS_ABOVE to DECOMPOSE_ABOVE stops: the whole-day search for WHOLE_DAY_SHARE
# of the time, then groups of up to REGION_STOPS stops from its plan, one per worker
# (_solve_mid). Gehring-Homberger 200 at 10 s, 18 instances (12 outside the shared set):
# 2.52-2.99 % mean in three runs against 3.79 / 4.14 % for the whole-day search alone with
# two workers, 3.36 / 3.42 % against 4.20 / 4.38 % with one (bench/README.md).
REGIONS_ABOVE = 150
REGION_STOPS = 70
WHOLE_DAY_SHARE = 0.5


def _solve_mid(
    problem: RouteProblem,
    matrix: Matrix,
    deadline: float,
    strategies: list[SearchStrategy],
    start: Routes | None = None,
) -> RoutePlan:
    """Plan a mid-sized day: the whole-day search first, then groups of routes from its plan.

    On days of 150-300 stops the whole-day search finds its best plan about halfway and
    then stalls: each of its iterations is a descent over all stops, and long routes make
    that dear (100-250 iterations in 10 s on Gehring-Homberger 200). Groups of ~70 stops
    around a route make descents several times cheaper, and with two workers two disjoint
    groups at once put the cores on different parts of the day rather than on the same
    problem twice. A group's plan is only kept when it is cheaper, so the second half can
    only improve on the first.
    """
    remaining = deadline - time.monotonic()
    if len(strategies) == 1:
        whole_by = time.monotonic() + WHOLE_DAY_SHARE * remaining
        first = _solve_one(problem, matrix, whole_by, strategies[0], start)
    else:
        first = _solve_parallel(problem, matrix, WHOLE_DAY_SHARE * remaining, strategies, start)
    routes = {r.vehicle_id: tuple(v.stop_id for v in r.visits) for r in first.routes if r.visits}
    second = _solve_large(problem, matrix, deadline, strategies, routes, REGION_STOPS)
    return min((second, first), key=lambda p: (len(p.dropped), p.objective))


def _solve_large(
    problem: RouteProblem,
    matrix: Matrix,
    deadline: float,
    strategies: list[SearchStrategy],
    start: Routes | None = None,
    group_stops: int = GROUP_STOPS,
) -> RoutePlan:
    """Plan a big day: Python construction, then OR-Tools on groups of neighbouring routes.

    1. Regret insertion with neighbour lists, whole routes emptied through ejection chains,
       and a relocate descent (domain/construction ``construct``): a feasible plan in
       seconds even at 1000 stops (OR-Tools' own first insertion needs 25-80 s there, and
       its descent on the whole day barely moves in a minute). Emptying routes matters most
       here: regret insertion opens about twice as many routes as good plans use, and a
       group of neighbouring routes can only close one of its own.
    2. Until the deadline: pick a route, add the routes its stops' nearest neighbours are on
       (``_group_around``, plus one idle vehicle), and give that sub-problem
       to the usual search (``_solve_one``, warm-started from the current routes) for a few
       seconds; keep the result when it is cheaper. One group per worker process at a time,
       never two overlapping groups. A greedy strategy (deterministic mode) makes one pass
       over the routes in a fixed order instead.

    With ``start`` the first step is skipped: the groups improve those routes.
    ``group_stops`` caps a group's size.
    """
    builder = RouteBuilder(problem, matrix)
    node_of = problem.node_of
    if start is None:
        # Routes emptied for up to ELIMINATE_SHARE of the budget, relocation for the rest of
        # the construction's share; the groups get the remainder.
        now = time.monotonic()
        built_by = now + CONSTRUCTION_SHARE * max(0.0, deadline - now)
        first, current = construct(
            problem,
            matrix,
            built_by,
            builder=builder,
            eliminate_share=ELIMINATE_SHARE / CONSTRUCTION_SHARE,
        )
        dropped_nodes = [node_of(sid) for sid in first.dropped]
    else:
        current = {vid: tuple(order) for vid, order in start.items() if order}
        placed = {sid for order in current.values() for sid in order}
        dropped_nodes = [node_of(s.id) for s in problem.stops if s.id not in placed]
    index = {v.id: vi for vi, v in enumerate(problem.vehicles)}

    def cost_of(vids: list[str]) -> int:
        return sum(
            builder.route(index[vid], [node_of(s) for s in current.get(vid, ())]).cost
            for vid in vids
        )

    def group_around(seed: str, busy: set[str]) -> list[str]:
        return _group_around(builder, current, seed, busy, group_stops)

    def accept(vids: list[str], plan: RoutePlan) -> None:
        if plan.dropped or not plan.routes:
            return
        # Priced and checked here again, by the same rules as the rest of the plan.
        after = [
            builder.route(index[r.vehicle_id], [node_of(v.stop_id) for v in r.visits])
            for r in plan.routes
        ]
        if not all(r.feasible for r in after):
            return
        if sum(r.cost for r in after) >= cost_of(vids):
            return
        for vid in vids:
            current.pop(vid, None)
        for r in plan.routes:
            current[r.vehicle_id] = tuple(v.stop_id for v in r.visits)

    rng = random.Random(len(problem.stops))
    greedy = all(s.metaheuristic == "greedy" for s in strategies)
    if greedy or len(strategies) == 1:
        seeds = sorted(current, key=index.__getitem__)
        if not greedy:
            rng.shuffle(seeds)
        done: set[str] = set()
        while time.monotonic() < deadline - 0.5:
            seed = next((v for v in seeds if v in current and v not in done), None)
            if seed is None:
                if greedy:
                    break
                done.clear()
                rng.shuffle(seeds)
                continue
            vids = group_around(seed, set())
            done.update(vids)
            sub, sub_matrix, sub_start = _subproblem(problem, matrix, vids, current)
            slice_end = min(deadline - 0.3, time.monotonic() + _slice(deadline))
            accept(vids, _solve_one(sub, sub_matrix, slice_end, strategies[0], sub_start))
    else:
        _decompose_parallel(
            problem, matrix, deadline, strategies, current, group_around, accept, rng
        )
    final = [
        builder.route(index[vid], [node_of(s) for s in order])
        for vid, order in sorted(current.items(), key=lambda kv: index[kv[0]])
    ]
    return builder.plan(final, dropped_nodes)


def _group_around(
    builder: RouteBuilder,
    current: Routes,
    seed: str,
    busy: set[str],
    group_stops: int = GROUP_STOPS,
) -> list[str]:
    """Return the vehicles of a route group: ``seed``, neighbouring routes, one idle vehicle.

    Routes join by how many of the seed's stops have one of their 10 nearest neighbours on
    them, up to ``group_stops`` stops; when those lie on few routes (a cluster served by one
    route) the 40 nearest add the clusters around it, up to ``GROUP_MIN_STOPS`` (or
    ``group_stops`` when that is less). Vehicles in ``busy`` (another group's) stay out.
    """
    problem = builder.problem
    index = {v.id: vi for vi, v in enumerate(problem.vehicles)}
    owner = {sid: vid for vid, order in current.items() for sid in order}
    group, size = [seed], len(current[seed])
    for k, cap in ((10, group_stops), (40, min(GROUP_MIN_STOPS, group_stops))):
        if size >= cap:
            break
        votes: dict[str, int] = {}
        for sid in current[seed]:
            for w in builder.neighbours(problem.node_of(sid), k):
                vid = owner.get(problem.stop_at(w).id)
                if vid is not None and vid not in group and vid not in busy:
                    votes[vid] = votes.get(vid, 0) + 1
        for vid, _n in sorted(votes.items(), key=lambda kv: (-kv[1], index[kv[0]])):
            if size >= cap:
                break
            group.append(vid)
            size += len(current[vid])
    idle = next((v.id for v in problem.vehicles if v.id not in current and v.id not in busy), None)
    return group + ([idle] if idle is not None else [])


def _slice(deadline: float) -> float:
    """Return the seconds one group gets: a few, fewer when the deadline is near."""
    remaining = deadline - time.monotonic()
    return max(0.5, min(3.0, remaining / 4))


def _decompose_parallel(
    problem: RouteProblem,
    matrix: Matrix,
    deadline: float,
    strategies: list[SearchStrategy],
    current: Routes,
    group_around: Any,
    accept: Any,
    rng: random.Random,
) -> None:
    index = {v.id: vi for vi, v in enumerate(problem.vehicles)}
    seeds: list[str] = []
    running: dict[Future[RoutePlan], list[str]] = {}
    with _process_pool(len(strategies)) as pool:
        k = 0
        while True:
            busy = {vid for vids in running.values() for vid in vids}
            while len(running) < len(strategies) and time.monotonic() < deadline - 1.0:
                seed = _next_seed(seeds, current, busy, index, rng)
                if seed is None:
                    break
                vids = group_around(seed, busy)
                busy.update(vids)
                sub, sub_matrix, sub_start = _subproblem(problem, matrix, vids, current)
                wall_end = time.time() + min(_slice(deadline), deadline - time.monotonic() - 0.5)
                strategy = strategies[k % len(strategies)]
                k += 1
                future = pool.submit(
                    _solve_until, sub, sub_matrix, wall_end, strategy, sub_start, None
                )
                running[future] = vids
            if not running:
                break
            finished, _pending = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                accept(running.pop(future), future.result())


def _next_seed(
    seeds: list[str], current: Routes, busy: set[str], index: dict[str, int], rng: random.Random
) -> str | None:
    """Pop the next route to build a group around; None when every route is in a group.

    ``seeds`` is this round's shuffled order, refilled from ``current`` when it runs out.
    Routes emptied by an accepted group, or inside a running one, are passed over; a round
    whose last seeds are all such routes starts the next round rather than ending the
    search (on a clustered day, where groups close routes, that ended it 18 s early).
    """
    if all(vid in busy for vid in current):
        return None
    while True:
        if not seeds:
            seeds.extend(sorted(current, key=index.__getitem__))
            rng.shuffle(seeds)
        seed = seeds.pop()
        if seed in current and seed not in busy:
            return seed


def _subproblem(
    problem: RouteProblem, matrix: Matrix, vids: list[str], current: Routes
) -> tuple[RouteProblem, Matrix, Routes]:
    """Return the part of ``problem`` served by vehicles ``vids``, its matrix and routes."""
    index = {v.id: vi for vi, v in enumerate(problem.vehicles)}
    stop_index = {s.id: si for si, s in enumerate(problem.stops)}
    vis = [index[vid] for vid in vids]
    sis = [stop_index[sid] for vid in vids for sid in current.get(vid, ())]
    sub = RouteProblem(
        epoch=problem.epoch,
        vehicles=tuple(problem.vehicles[vi] for vi in vis),
        stops=tuple(problem.stops[si] for si in sis),
        locked={vid: problem.locked[vid] for vid in vids if vid in problem.locked},
        objective=problem.objective,
    )
    # The day's matrix node behind each of the sub-problem's nodes.
    nodes = [0] * sub.node_count
    for k, vi in enumerate(vis):
        nodes[sub.start_node(k)] = problem.start_node(vi)
        nodes[sub.end_node(k)] = problem.end_node(vi)
    for k, si in enumerate(sis):
        nodes[sub.stop_node(k)] = problem.stop_node(si)
    sub_matrix = Matrix(
        durations=[[matrix.durations[a][b] for b in nodes] for a in nodes],
        distances=[[matrix.distances[a][b] for b in nodes] for a in nodes],
    )
    return sub, sub_matrix, {vid: current[vid] for vid in vids if vid in current}
