"""Searches in parallel processes, one per core, until the same wall-clock deadline."""

from __future__ import annotations

import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor

from ...domain.construction import Routes
from ...domain.routing import Matrix, RoutePlan, RouteProblem
from .model import _solve_one
from .strategies import SearchStrategy


def _solve_parallel(
    problem: RouteProblem,
    matrix: Matrix,
    time_limit_s: float,
    strategies: list[SearchStrategy],
    start: Routes | None = None,
    keep: Routes | None = None,
) -> RoutePlan:
    started = time.time()
    with _process_pool(len(strategies)) as pool:
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


def _process_pool(workers: int) -> ProcessPoolExecutor:
    """Return a pool of ``workers`` processes, started by fork when that is safe.

    fork starts a worker in milliseconds; it is only safe while no other thread can hold a
    lock the child would inherit, so a threaded host (web app, job thread) pays for spawn.
    Either way a worker runs ``_solve_until`` from this module, found by its import path.
    """
    method = "fork" if threading.active_count() == 1 else "spawn"
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method))
