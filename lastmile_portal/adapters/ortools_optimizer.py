"""Route optimizer on Google OR-Tools' RoutingModel (time windows, capacity, range, drops).

How a solve spends its time budget:

1. Build the model with every arc evaluator as a precomputed matrix (``RegisterTransitMatrix``)
   so OR-Tools never calls back into Python during search; that alone multiplies the number
   of local-search moves per second several times over.
2. First plan: the pure-Python regret insertion and relocate descent of
   ``domain/construction`` (time-window aware, tens of milliseconds at 100 stops), handed
   to OR-Tools as its first solution through a first-solution evaluator that follows exactly
   its arcs. (OR-Tools' own ``LOCAL_CHEAPEST_INSERTION`` remains available per strategy; the
   path-based strategies find nothing at all on tight instances such as Solomon R101.)
3. Improve with a metaheuristic until the deadline: iterated local search with SISR ruin and
   recreate and simulated-annealing acceptance, or guided local search.
4. When ``workers`` > 1, run differently configured searches in parallel processes (one per
   core) and keep the best plan: it serves the most stops, then has the lowest objective.
5. Above ``DECOMPOSE_ABOVE`` stops: the Python plan, then OR-Tools on groups of neighbouring
   routes in turn (``_solve_large``).

Re-plans (``RouteProblem.initial``): the current plan is repaired in Python first (new and
moved stops inserted, the rest kept), which alone answers in milliseconds; with time to spare
OR-Tools improves it with penalties on changed arcs and on stops changing vehicle.

``deterministic=True`` replaces the time limit by a fixed amount of work (greedy descent, or a
fixed number of search iterations) so two runs on any machine give the same plan.
"""

from __future__ import annotations

import heapq
import math
import multiprocessing
import random
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from ortools.util import optional_boolean_pb2

from ..domain.construction import (
    RouteBuilder,
    Routes,
    can_serve,
    construct,
    drop_reason,
    insert_all,
    money_cost_row,
    relocate_descent,
    repair,
    start_routes,
)
from ..domain.errors import RoutingError
from ..domain.routing import (
    Matrix,
    Objective,
    PlannedRoute,
    RoutePlan,
    RouteProblem,
    Visit,
    scaled,
)

# Costs are in thousandths of a currency unit; dropping a stop must cost more than any route.
COST_SCALE = 1000
DROP_PENALTY = 10**12
# Above this many stops one model of the whole day is too slow to search (OR-Tools' first
# insertion alone takes 25-80 s and one descent minutes at 1000 stops): build the plan in
# Python and improve it a group of neighbouring routes at a time (see _solve_large).
DECOMPOSE_ABOVE = 300
GROUP_STOPS = 80
# A re-plan keeps the current plan unless a change saves more than this share of a typical
# arc (the mean cost from a stop to its 5 nearest neighbours) per arc it replaces.
STABILITY_SHARE = 0.1
# ... and a stop it moves to another vehicle (another driver, another ETA) costs this share.
SWITCH_SHARE = 0.5
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
    # "ortools": ``first_solution`` builds the first plan. "regret": the pure-Python regret
    # insertion and relocate descent of domain/construction builds it, and OR-Tools starts
    # from it (EVALUATOR_STRATEGY following exactly its arcs).
    construction: str = "ortools"
    # With "regret": also run the Python relocate descent before handing over.
    polish: bool = True
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


# Two searches for two cores, both from the Python regret construction: one with the
# exchange operator off (cheaper descents, more ruin-and-recreate iterations: 1.96 % against
# 2.26 % mean at 1 s on one core), one with larger ruins, hotter acceptance and the full
# operator set, so the processes explore different valleys; the better plan wins.
PARALLEL_STRATEGIES = (
    SearchStrategy(construction="regret", extra_off=("use_or_opt", "use_exchange")),
    SearchStrategy(
        construction="regret",
        sisr_avg_removed=30,
        sa_initial_temperature=1.0,
        sa_final_temperature=0.01,
    ),
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
        """Return the best plan found within ``time_limit_s`` seconds.

        With ``problem.initial`` this is a re-plan: see ``_replan``.
        """
        problem.validate()
        _check_matrix(problem, matrix)
        if not problem.stops:
            return RoutePlan(routes=())
        deadline = time.monotonic() + max(0.01, time_limit_s)
        if problem.initial is not None:
            plan = self._replan(problem, matrix, deadline)
            if plan is not None:
                return plan
        return self._search(problem, matrix, deadline)

    def _search(
        self,
        problem: RouteProblem,
        matrix: Matrix,
        deadline: float,
        start: Routes | None = None,
        keep: Routes | None = None,
    ) -> RoutePlan:
        if self.deterministic:
            # Greedy descent stops at its first local optimum, whatever the machine's speed;
            # the limit stays as a safety cap for problems far bigger than tests use.
            strategy = SearchStrategy(metaheuristic="greedy")
            if len(problem.stops) > DECOMPOSE_ABOVE:
                return _solve_large(problem, matrix, deadline, [strategy], start)
            return _solve_one(problem, matrix, deadline, strategy, start, keep)
        strategies = [self.strategies[i % len(self.strategies)] for i in range(self.workers)]
        remaining = deadline - time.monotonic()
        if len(problem.stops) > DECOMPOSE_ABOVE:
            return _solve_large(problem, matrix, deadline, strategies, start)
        if self.workers == 1 or remaining < 0.5:
            return _solve_one(problem, matrix, deadline, strategies[0], start, keep)
        return _solve_parallel(problem, matrix, remaining, strategies, start, keep)

    def _replan(self, problem: RouteProblem, matrix: Matrix, deadline: float) -> RoutePlan | None:
        """Re-plan from ``problem.initial``: repair it in Python, then improve it if time allows.

        The repair (domain/construction) keeps every route as it was except where the
        change forces otherwise: stops that no longer fit are taken out, new ones go where
        they cost least, stops near the change are relocated. It takes milliseconds, so a
        short time limit returns it as is. With time to spare OR-Tools starts from it and
        every arc that is not in the current plan costs a little extra
        (``STABILITY_SHARE`` of a typical arc), so the day is only reshuffled for a real
        saving. None means the current plan cannot be repaired (a locked prefix that no
        longer fits): plan from scratch.
        """
        # (The repair gets most of a short limit; the rest turns it into a plan.)
        now = time.monotonic()
        quick_deadline = None if self.deterministic else now + 0.7 * (deadline - now)
        try:
            quick, orders = repair(problem, matrix, quick_deadline)
        except ValueError:
            return None
        if deadline - time.monotonic() < _model_seconds(problem):
            return quick
        keep = {v.id: problem.locked.get(v.id, ()) for v in problem.vehicles}
        for vid, order in (problem.initial or {}).items():
            prefix = keep.get(vid, ())
            keep[vid] = prefix + tuple(s for s in order if s not in prefix)
        improved = self._search(problem, matrix, deadline, start=orders, keep=keep)
        # The search minimises cost plus stability terms, so its best can cost more than the
        # repair it started from; the day only changes for a plan that serves more stops or
        # costs less.
        if (len(improved.dropped), improved.objective) < (len(quick.dropped), quick.objective):
            return improved
        return quick


def _model_seconds(problem: RouteProblem) -> float:
    """Return a generous guess of the time OR-Tools needs to build and close the model."""
    nodes = problem.node_count
    return 0.1 + 2e-6 * nodes * nodes


def _solve_large(
    problem: RouteProblem,
    matrix: Matrix,
    deadline: float,
    strategies: list[SearchStrategy],
    start: Routes | None = None,
) -> RoutePlan:
    """Plan a big day: Python construction, then OR-Tools on groups of neighbouring routes.

    1. Regret insertion with neighbour lists and a relocate descent (domain/construction):
       a feasible plan in seconds even at 1000 stops (OR-Tools' own first insertion needs
       25-80 s there, and its descent on the whole day barely moves in a minute).
    2. Until the deadline: pick a route, add the routes its stops' nearest neighbours are on
       until about ``GROUP_STOPS`` stops (plus one idle vehicle), and give that sub-problem
       to the usual search (``_solve_one``, warm-started from the current routes) for a few
       seconds; keep the result when it is cheaper. One group per worker process at a time,
       never two overlapping groups. A greedy strategy (deterministic mode) makes one pass
       over the routes in a fixed order instead.
    """
    builder = RouteBuilder(problem, matrix)
    node_of = problem.node_of
    if start is None:
        routes, left, _touched = start_routes(builder, None)
        dropped_nodes = insert_all(builder, routes, left)
        polish_until = time.monotonic() + 0.3 * max(0.0, deadline - time.monotonic())
        every_stop = list(range(problem.first_stop_node, problem.node_count))
        relocate_descent(builder, routes, every_stop, polish_until)
        current = builder.orders(routes)
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
        votes: dict[str, int] = {}
        owner = {sid: vid for vid, order in current.items() for sid in order}
        for sid in current[seed]:
            for w in builder.neighbours(node_of(sid), 10):
                vid = owner.get(problem.stop_at(w).id)
                if vid is not None and vid != seed and vid not in busy:
                    votes[vid] = votes.get(vid, 0) + 1
        group, size = [seed], len(current[seed])
        for vid, _n in sorted(votes.items(), key=lambda kv: (-kv[1], index[kv[0]])):
            if size >= GROUP_STOPS:
                break
            group.append(vid)
            size += len(current[vid])
        idle = next(
            (v.id for v in problem.vehicles if v.id not in current and v.id not in busy), None
        )
        return group + ([idle] if idle is not None else [])

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
    method = "fork" if threading.active_count() == 1 else "spawn"
    index = {v.id: vi for vi, v in enumerate(problem.vehicles)}
    seeds: list[str] = []
    running: dict[Future[RoutePlan], list[str]] = {}
    with ProcessPoolExecutor(
        max_workers=len(strategies), mp_context=multiprocessing.get_context(method)
    ) as pool:
        k = 0
        while True:
            busy = {vid for vids in running.values() for vid in vids}
            while len(running) < len(strategies) and time.monotonic() < deadline - 1.0:
                if not seeds:
                    seeds = sorted(current, key=index.__getitem__)
                    rng.shuffle(seeds)
                seed = seeds.pop()
                if seed not in current or seed in busy:
                    if not any(v in current and v not in busy for v in seeds):
                        break
                    continue
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


def _solve_parallel(
    problem: RouteProblem,
    matrix: Matrix,
    time_limit_s: float,
    strategies: list[SearchStrategy],
    start: Routes | None = None,
    keep: Routes | None = None,
) -> RoutePlan:
    # fork starts a worker in milliseconds; it is only safe while no other thread can hold a
    # lock the child would inherit, so a threaded host (web app, job thread) pays for spawn.
    method = "fork" if threading.active_count() == 1 else "spawn"
    started = time.time()
    with ProcessPoolExecutor(
        max_workers=len(strategies), mp_context=multiprocessing.get_context(method)
    ) as pool:
        futures = [
            pool.submit(_solve_until, problem, matrix, started + time_limit_s, s, start, keep)
            for s in strategies
        ]
        plans = [f.result() for f in futures]
    return min(plans, key=lambda p: (len(p.dropped), p.objective))


def _solve_until(
    problem: RouteProblem,
    matrix: Matrix,
    wall_deadline: float,
    strategy: SearchStrategy,
    start: Routes | None = None,
    keep: Routes | None = None,
) -> RoutePlan:
    """Run one search in a worker process until a wall-clock deadline."""
    remaining = wall_deadline - time.time()
    deadline = time.monotonic() + max(0.05, remaining)
    return _solve_one(problem, matrix, deadline, strategy, start, keep)


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
    if start is None and strategy.construction == "regret":
        start = construct(problem, matrix, deadline, improve=strategy.polish)[1]
    model = _build(problem, matrix, keep)
    params = _parameters(strategy, deadline, model.typical_arc_cost)
    if start is not None:
        _warm_start(model, start, params)
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


def _check_matrix(problem: RouteProblem, matrix: Matrix) -> None:
    n = len(problem.points())
    if len(matrix.durations) != n or len(matrix.distances) != n:
        raise RoutingError(f"The travel matrix has the wrong size for {n} points.")
    for row in (*matrix.durations, *matrix.distances):
        if len(row) != n:
            raise RoutingError(f"The travel matrix has the wrong size for {n} points.")
        # (A sum is NaN or infinite when any term is; both run in C, not per element.)
        if n and not (math.isfinite(sum(row)) and min(row) >= 0):
            raise RoutingError("The travel matrix has a negative or missing value.")
