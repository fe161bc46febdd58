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
   routes in turn (``decomposition._solve_large``). Above ``REGIONS_ABOVE``: the whole-day
   search for half the time, then such groups from its plan (``decomposition._solve_mid``).

Re-plans (``RouteProblem.initial``): the current plan is repaired in Python first (new and
moved stops inserted, the rest kept), which alone answers in milliseconds; with time to spare
OR-Tools improves it with penalties on changed arcs and on stops changing vehicle.

``deterministic=True`` replaces the time limit by a fixed amount of work (greedy descent, or a
fixed number of search iterations) so two runs on any machine give the same plan.

Modules: ``strategies`` (what one search does, as OR-Tools parameters), ``model`` (one model:
build, warm start, solve, read), ``pool`` (searches in parallel processes), ``decomposition``
(big days, a group of routes at a time); this one holds ``OrToolsOptimizer``. Only this
package imports OR-Tools.
"""

from __future__ import annotations

import math
import time

from ...domain.construction import Routes, repair
from ...domain.errors import RoutingError
from ...domain.routing import Matrix, RoutePlan, RouteProblem
from .decomposition import DECOMPOSE_ABOVE, REGIONS_ABOVE, _solve_large, _solve_mid
from .model import _model_seconds, _solve_one
from .pool import _solve_parallel
from .strategies import PARALLEL_STRATEGIES, SearchStrategy


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
        if remaining < 0.5:
            return _solve_one(problem, matrix, deadline, strategies[0], start, keep)
        if len(problem.stops) > REGIONS_ABOVE and keep is None:
            return _solve_mid(problem, matrix, deadline, strategies, start)
        if self.workers == 1:
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


__all__ = ["DECOMPOSE_ABOVE", "PARALLEL_STRATEGIES", "OrToolsOptimizer", "SearchStrategy"]
