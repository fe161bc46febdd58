"""Search strategies: what one OR-Tools search does, and the OR-Tools parameters for it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ortools.constraint_solver import pywrapcp, routing_enums_pb2, routing_ils_pb2
from ortools.util import optional_boolean_pb2

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
ONE_RUIN_AT_RANDOM = routing_ils_pb2.RuinCompositionStrategy.RUN_ONE_RANDOMLY


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
    # With "regret" and ``polish``: the share of the time that may go to emptying whole
    # routes first (construction.eliminate_routes); 0 leaves the regret plan's routes.
    fewer_routes: float = 0.0
    # "ils" (iterated local search: SISR ruin, cheapest-insertion recreate, local search,
    # simulated-annealing acceptance), "gls" (guided local search) or "greedy" (stop at the
    # first local optimum).
    metaheuristic: str = "ils"
    gls_lambda: float = 0.1
    # SISR (Christiaens and Vanden Berghe 2020): remove about this many visits per ruin, in
    # strings of at most ``sisr_max_sequence`` consecutive visits of nearby routes.
    sisr_avg_removed: int = 20
    sisr_max_sequence: int = 10
    # When > 0, half of the ruins (chosen at random) instead remove every visit of this
    # many spatially close routes. SISR takes about 20 visits from several routes, so it never
    # empties a route of 25-35 stops, and on a distance objective each route opened too
    # many pays a trip out and back; this ruin can close one.
    route_ruin: int = 0
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
# 2.26 % mean at 1 s on one core), one with larger ruins (whole routes half the time),
# hotter acceptance and the full operator set, so the processes explore different valleys;
# the better plan wins. Whole-route ruins in the second search only: 0.87-1.07 % mean (three
# runs) on 43 Solomon instances outside the 12 shared ones against 1.24 % without, 1.19 %
# in the first search instead and 0.95 % in both, which cost the shared 12 most (1.03 %
# against 0.43-0.54 %); GH 1000 at 60 s 3.17 % against 4.41 % (bench/README.md).
PARALLEL_STRATEGIES = (
    SearchStrategy(construction="regret", extra_off=("use_or_opt", "use_exchange")),
    SearchStrategy(
        construction="regret",
        sisr_avg_removed=30,
        route_ruin=1,
        sa_initial_temperature=1.0,
        sa_final_temperature=0.01,
    ),
)


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
        if strategy.route_ruin > 0:
            routes = ruin.ruin_strategies.add().spatially_close_routes
            routes.num_ruined_routes = strategy.route_ruin
            ruin.ruin_composition_strategy = ONE_RUIN_AT_RANDOM
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
