"""Solve every instance in a folder at one time limit and print the gap to the proven optimum.

    python bench/solomon_gap.py --time-limit 10            # the 12 in shared/data/solomon
    python bench/solomon_gap.py --time-limit 1 --dir DIR --json results.json

The gap compares like with like: our routes re-costed with every arc truncated to one
decimal against bks.csv's ``distance_dimacs`` row (proven optima, CVRPLIB convention). Every
answer is checked in double precision; an infeasible or incomplete answer is printed as
INFEASIBLE and makes the exit status 2.

The first line printed is the machine's speed: the seconds a fixed amount of work takes
(``reference_seconds``). A time-limited search does less on a slower machine, so gaps from
different days only compare at a similar reference.

``--strategy`` (repeatable) overrides the optimizer's searches for experiments, e.g.
``--strategy '{"metaheuristic": "gls", "gls_lambda": 0.2}'``; with ``--jobs 2 --workers 1``
two instances run side by side, one search each.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from solomon import DATA, bks, parse, route_distance, solve_checked, to_problem  # noqa: E402

from lastmile_portal.adapters.ortools_optimizer import (  # noqa: E402
    OrToolsOptimizer,
    SearchStrategy,
)


def reference_seconds(repeats: int = 9) -> float:
    """Return the median seconds a deterministic solve of the shared R101 takes here.

    The deterministic optimizer does the same work on any machine (insertion and one greedy
    descent, no time limit in play), so the time measures the machine, not the search; the
    median, because a shared machine's speed varies from one second to the next.
    """
    problem, matrix = to_problem(parse(DATA / "R101.txt"))
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        OrToolsOptimizer(deterministic=True).solve(problem, matrix, 60)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run_one(path: str, time_limit: float, workers: int, strategies: list[dict]) -> dict:
    started = time.perf_counter()
    inst = parse(path)
    chosen = tuple(SearchStrategy(**s) for s in strategies) or None
    optimizer = OrToolsOptimizer(workers=workers, strategies=chosen)
    routes, errors = solve_checked(inst, optimizer, started + time_limit - 0.05)
    best = bks(inst.name, directory=Path(path).parent)  # the instance's own folder
    trunc = route_distance(inst, routes, trunc1=True)
    return {
        "instance": inst.name,
        "vehicles": len(routes),
        "distance": route_distance(inst, routes),
        "distance_trunc1": trunc,
        "bks_dimacs": best,
        "gap_pct": 100 * (trunc - best) / best if best and not errors else None,
        "errors": errors,
        "time_s": time.perf_counter() - started,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--dir", default=str(DATA))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=1, help="instances solved side by side")
    parser.add_argument("--strategy", action="append", default=[], type=json.loads)
    parser.add_argument("--only", nargs="*", help="instance names to run")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)

    files = sorted(Path(args.dir).glob("*.txt"), key=lambda p: _order(p.stem))
    if args.only:
        files = [f for f in files if f.stem.upper() in {o.upper() for o in args.only}]
    if not files:
        # An empty table would read as a pass: say where we looked instead.
        print(f"no instances (*.txt) in {args.dir}; pass --dir", file=sys.stderr)
        return 2
    # Measured before the runs, while nothing of ours loads the machine.
    print(f"reference work {reference_seconds():.3f} s (deterministic R101; lower = faster)")
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(
            pool.map(
                run_one,
                [str(f) for f in files],
                [args.time_limit] * len(files),
                [args.workers] * len(files),
                [args.strategy] * len(files),
            )
        )
    print(f"time limit {args.time_limit:g} s, workers {args.workers}, jobs {args.jobs}")
    print(f"{'instance':9} {'veh':>4} {'dist':>9} {'trunc1':>9} {'bks':>9} {'gap%':>6} {'s':>5}")
    for r in rows:
        gap = (
            "INFEAS" if r["errors"] else f"{r['gap_pct']:.2f}" if r["gap_pct"] is not None else "-"
        )
        print(
            f"{r['instance']:9} {r['vehicles']:4d} {r['distance']:9.2f} "
            f"{r['distance_trunc1']:9.2f} {r['bks_dimacs'] or 0:9.1f} {gap:>6} {r['time_s']:5.1f}"
        )
        for e in r["errors"][:5]:
            print(f"    INFEASIBLE: {e}")
    gaps = [r["gap_pct"] for r in rows if r["gap_pct"] is not None]
    bad = [r["instance"] for r in rows if r["errors"]]
    if gaps:
        print(
            f"mean gap {statistics.mean(gaps):.2f} %  worst {max(gaps):.2f} %  "
            f"feasible {len(rows) - len(bad)}/{len(rows)}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 2 if bad else 0


def _order(stem: str) -> tuple[str, int]:
    prefix = stem.rstrip("0123456789")
    return (prefix, int(stem[len(prefix) :] or 0))


if __name__ == "__main__":
    raise SystemExit(main())
