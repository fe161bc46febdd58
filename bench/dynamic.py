"""Re-plan a 100-stop day after one customer change: warm start against a cold re-solve.

    python bench/dynamic.py                      # 50 changes, 50 ms warm limit, 10 s cold
    python bench/dynamic.py --changes 10 --cold-limit 3 --seed 7

A synthetic city day (seeded): stops around a depot, a third in three neighbourhoods, most
with two-hour windows, vans priced per km and per hour (``Objective.COST``, as the app
plans). The day is planned once with ``--base-limit`` seconds; that plan is "the current
plan". Then, ``--changes`` times, one customer change is applied to the day (a new stop, a
stop's window moved, a stop removed, in turn) and the changed problem is solved twice:

- warm: ``RouteProblem.initial`` = the current plan, ``--warm-limit`` seconds;
- settled (with ``--settle-limit S``): the same warm start given S seconds, what the app's
  re-plan job does with its ``OPTIMIZER_TIME_LIMIT`` (2 s): the repair, then OR-Tools;
- cold: no initial plan, ``--cold-limit`` seconds (two workers), the reference.

``--noise K`` first solves the unchanged day K more times cold, each with the stops in
another order, and reports the spread of those costs: how far apart two 10 s solves of the
same day land, which bounds how closely any re-plan can track "a 10 s re-solve".

"Solver part" is the wall time of ``OrToolsOptimizer.solve`` on the warm problem: problem
validation, matrix check, model or repair, search; the travel matrix is computed before
(it comes from the TravelTimes port in the app). Both plans are checked by ``verify_plan``
and priced by the same function (``routes_cost``); gap = warm / cold - 1. "Moved" counts the
stops whose predecessor or vehicle differs from the current plan (stability).

Prints one JSON line with the summary (and per-change rows with ``--rows``).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lastmile_portal.adapters.ortools_optimizer import OrToolsOptimizer  # noqa: E402
from lastmile_portal.adapters.travel_times import HaversineTravelTimes  # noqa: E402
from lastmile_portal.domain.construction import (  # noqa: E402
    changed_arcs,
    plan_orders,
    routes_cost,
)
from lastmile_portal.domain.routing import (  # noqa: E402
    Matrix,
    Objective,
    Point,
    RoutePlan,
    RouteProblem,
    StopSpec,
    VehicleSpec,
    verify_plan,
)

EPOCH = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
DEPOT = Point(52.5200, 13.4050)
HOUR = 3600
DAY = 11 * HOUR
# The app's estimate, at the city average of 25 km/h all day: the bench's day has no rush hour.
CITY = HaversineTravelTimes(road_factor=1.3, speed_profile=dict.fromkeys(range(24), 25.0))


def city_matrix(problem: RouteProblem) -> Matrix:
    """Return road distances (haversine x road factor) and durations at city speed."""
    return CITY.matrix(problem.points(), EPOCH)


def offset(dx_m: float, dy_m: float) -> Point:
    return Point(
        DEPOT.lat + dy_m / 111_320,
        DEPOT.lng + dx_m / (111_320 * math.cos(math.radians(DEPOT.lat))),
    )


def random_stop(rng: random.Random, sid: str, centres: list[tuple[float, float]]) -> StopSpec:
    if rng.random() < 0.35:
        cx, cy = rng.choice(centres)
        x, y = rng.gauss(cx, 900), rng.gauss(cy, 900)
    else:
        r = 9000 * math.sqrt(rng.random())
        a = rng.uniform(0, 2 * math.pi)
        x, y = r * math.cos(a), r * math.sin(a)
    start, end = random_window(rng)
    return StopSpec(
        id=sid,
        location=offset(x, y),
        window_start=start,
        window_end=end,
        service_s=rng.randint(90, 300),
        demand=rng.randint(1, 3),
        size=rng.choice((0, 1, 1, 2)),
    )


def random_window(rng: random.Random) -> tuple[int, int]:
    if rng.random() < 0.25:
        return 0, DAY - HOUR  # any time
    start = rng.randrange(0, DAY - 3 * HOUR, 15 * 60)
    return start, start + 2 * HOUR


def make_day(
    seed: int, n_stops: int, n_vehicles: int
) -> tuple[RouteProblem, list[tuple[float, float]]]:
    """Return the seeded synthetic day and its neighbourhood centres."""
    rng = random.Random(seed)
    centres = [(rng.uniform(-6000, 6000), rng.uniform(-6000, 6000)) for _ in range(3)]
    stops = tuple(random_stop(rng, f"s{i}", centres) for i in range(n_stops))
    vehicles = tuple(
        VehicleSpec(
            id=f"van{k}",
            start=DEPOT,
            end=DEPOT,
            shift_start=0,
            shift_end=DAY,
            capacity=40,
            max_size=2,
            cost_per_km=0.25,
            cost_per_hour=22.0,
        )
        for k in range(n_vehicles)
    )
    day = RouteProblem(epoch=EPOCH, vehicles=vehicles, stops=stops, objective=Objective.COST)
    return day, centres


def change(
    rng: random.Random,
    day: RouteProblem,
    centres: list[tuple[float, float]],
    kind: str,
    k: int,
) -> tuple[RouteProblem, str]:
    """Return the day with one customer change applied, and a description."""
    stops = list(day.stops)
    if kind == "insert":
        new = random_stop(rng, f"new{k}", centres)
        return replace(day, stops=(*stops, new)), f"insert {new.id}"
    i = rng.randrange(len(stops))
    if kind == "move":
        start, end = random_window(rng)
        while (start, end) == (stops[i].window_start, stops[i].window_end):
            start, end = random_window(rng)
        stops[i] = replace(stops[i], window_start=start, window_end=end)
        return replace(day, stops=tuple(stops)), f"move {stops[i].id} to {start}-{end}"
    removed = stops.pop(i)
    return replace(day, stops=tuple(stops)), f"remove {removed.id}"


def cost(problem: RouteProblem, matrix: Matrix, plan: RoutePlan) -> float:
    total, feasible = routes_cost(problem, matrix, plan_orders(plan))
    assert feasible
    return float(total)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stops", type=int, default=100)
    parser.add_argument("--vehicles", type=int, default=10)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--base-limit", type=float, default=10.0)
    parser.add_argument("--warm-limit", type=float, default=0.05)
    parser.add_argument("--settle-limit", type=float, default=0.0)
    parser.add_argument("--cold-limit", type=float, default=10.0)
    parser.add_argument("--noise", type=int, default=0, help="extra cold solves of the day")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rows", action="store_true", help="print one JSON line per change")
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    day, centres = make_day(args.seed, args.stops, args.vehicles)
    optimizer = OrToolsOptimizer(workers=args.workers)
    day_matrix = city_matrix(day)
    base = optimizer.solve(day, day_matrix, args.base_limit)
    assert verify_plan(day, base, day_matrix) == [] and not base.dropped, base.dropped
    current = plan_orders(base)
    noise = [cost(day, day_matrix, base)]
    for k in range(args.noise):
        shuffled = list(day.stops)
        random.Random(1000 + k).shuffle(shuffled)
        again = replace(day, stops=tuple(shuffled))
        noise.append(
            cost(
                again,
                city_matrix(again),
                optimizer.solve(again, city_matrix(again), args.cold_limit),
            )
        )

    rows = []
    kinds = ("insert", "move", "remove")
    for k in range(args.changes):
        kind = kinds[k % len(kinds)]
        changed, what = change(rng, day, centres, kind, k)
        known = {s.id for s in changed.stops}
        initial = {vid: tuple(s for s in order if s in known) for vid, order in current.items()}
        warm_problem = replace(changed, initial=initial)
        matrix = city_matrix(changed)  # the TravelTimes port's job, not the solver's

        started = time.perf_counter()
        warm = optimizer.solve(warm_problem, matrix, args.warm_limit)
        solver_ms = (time.perf_counter() - started) * 1000
        settled = (
            optimizer.solve(warm_problem, matrix, args.settle_limit) if args.settle_limit else warm
        )
        cold = optimizer.solve(changed, matrix, args.cold_limit)

        for name, plan in (("warm", warm), ("settled", settled), ("cold", cold)):
            errors = verify_plan(changed, plan, matrix)
            if errors:
                print(f"INFEASIBLE {name} plan after {what}: {errors[:5]}", file=sys.stderr)
                return 2
        warm_cost, cold_cost = cost(changed, matrix, warm), cost(changed, matrix, cold)
        settled_cost = cost(changed, matrix, settled)
        row = {
            "change": what,
            "solver_ms": round(solver_ms, 2),
            "warm_cost": warm_cost,
            "cold_cost": cold_cost,
            "gap_pct": round(100 * (warm_cost / cold_cost - 1), 3),
            "settled_cost": settled_cost,
            "settled_gap_pct": round(100 * (settled_cost / cold_cost - 1), 3),
            "warm_dropped": len(warm.dropped),
            "cold_dropped": len(cold.dropped),
            "moved_warm": changed_arcs(initial, plan_orders(warm)),
            "moved_settled": changed_arcs(initial, plan_orders(settled)),
            "moved_cold": changed_arcs(initial, plan_orders(cold)),
        }
        rows.append(row)
        if args.rows:
            print(json.dumps(row), flush=True)

    ms = [r["solver_ms"] for r in rows]
    gaps = [r["gap_pct"] for r in rows]
    settled = [r["settled_gap_pct"] for r in rows]
    summary = {
        "stops": args.stops,
        "vehicles": args.vehicles,
        "used_vehicles": len(base.routes),
        "changes": len(rows),
        "warm_limit_s": args.warm_limit,
        "cold_limit_s": args.cold_limit,
        "solver_ms_p50": round(statistics.median(ms), 2),
        "solver_ms_p95": round(percentile(ms, 0.95), 2),
        "solver_ms_max": round(max(ms), 2),
        "gap_pct_mean": round(statistics.mean(gaps), 3),
        "gap_pct_p95": round(percentile(gaps, 0.95), 3),
        "gap_pct_max": round(max(gaps), 3),
        "within_1pct": sum(1 for g in gaps if g <= 1.0),
        **(
            {
                "settle_limit_s": args.settle_limit,
                "settled_gap_pct_mean": round(statistics.mean(settled), 3),
                "settled_gap_pct_p95": round(percentile(settled, 0.95), 3),
                "settled_gap_pct_max": round(max(settled), 3),
                "settled_within_1pct": sum(1 for g in settled if g <= 1.0),
                "moved_settled_mean": round(statistics.mean(r["moved_settled"] for r in rows), 1),
            }
            if args.settle_limit
            else {}
        ),
        **(
            {
                "day_cold_costs": noise,
                "day_cold_spread_pct": round(100 * (max(noise) / min(noise) - 1), 3),
            }
            if args.noise
            else {}
        ),
        "moved_warm_mean": round(statistics.mean(r["moved_warm"] for r in rows), 1),
        "moved_cold_mean": round(statistics.mean(r["moved_cold"] for r in rows), 1),
        "dropped_warm": sum(r["warm_dropped"] for r in rows),
        "dropped_cold": sum(r["cold_dropped"] for r in rows),
    }
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
