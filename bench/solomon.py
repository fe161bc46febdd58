"""Read Solomon / Gehring-Homberger VRPTW instances, turn them into RouteProblems, check answers.

The checker here is deliberately independent of both the optimizer and ``verify_plan``: it
recomputes every route from the instance file in double precision.
"""

from __future__ import annotations

import itertools
import math
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lastmile_portal.domain.ports import RouteOptimizer  # noqa: E402
from lastmile_portal.domain.routing import (  # noqa: E402
    Matrix,
    Objective,
    Point,
    RoutePlan,
    RouteProblem,
    StopSpec,
    VehicleSpec,
)

DATA = ROOT.parent / "shared" / "data" / "solomon"
# Solomon times and distances become integers for OR-Tools at this many units per unit.
SCALE = 1000
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
# Tolerance of the double-precision checker (a sum of 100 square roots).
EPS = 1e-6


@dataclass(frozen=True)
class Node:
    """One row of the CUSTOMER table (node 0 is the depot)."""

    id: int
    x: float
    y: float
    demand: int
    ready: float
    due: float
    service: float


@dataclass(frozen=True)
class Instance:
    """A VRPTW instance as the file states it."""

    name: str
    vehicles: int
    capacity: int
    depot: Node
    customers: tuple[Node, ...]

    def node(self, node_id: int) -> Node:
        return self.depot if node_id == 0 else self._by_id[node_id]

    @property
    def _by_id(self) -> dict[int, Node]:
        cache = self.__dict__.get("_cache")
        if cache is None:
            cache = {c.id: c for c in self.customers}
            object.__setattr__(self, "_cache", cache)
        return cache


def parse(path: str | Path, customers: int | None = None) -> Instance:
    """Read a Solomon-format file; keep only the first ``customers`` customers if given."""
    lines = [line.strip() for line in Path(path).read_text().splitlines()]
    name = lines[0]
    vehicles = capacity = None
    rows: list[Node] = []
    for i, line in enumerate(lines):
        if line.upper().startswith("NUMBER"):
            vehicles, capacity = (int(v) for v in lines[i + 1].split()[:2])
        parts = line.split()
        if len(parts) == 7 and all(_is_number(p) for p in parts):
            cid, x, y, demand, ready, due, service = parts
            rows.append(
                Node(
                    int(cid),
                    float(x),
                    float(y),
                    int(float(demand)),
                    float(ready),
                    float(due),
                    float(service),
                )
            )
    if vehicles is None or capacity is None or not rows or rows[0].id != 0:
        raise ValueError(f"{path} is not a Solomon-format VRPTW instance")
    custs = tuple(rows[1:])
    if customers is not None:
        custs = custs[:customers]
    return Instance(name, vehicles, capacity, rows[0], custs)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def euclid(a: Node, b: Node) -> float:
    return math.hypot(a.x - b.x, a.y - b.y)


def to_problem(inst: Instance, scale: int = SCALE) -> tuple[RouteProblem, Matrix]:
    """Return the instance as a distance-minimising RouteProblem and its matrix.

    Travel times are rounded *up* to 1/scale, so a plan feasible here is feasible with exact
    distances; arc costs keep the exact distance times ``scale``.
    """
    depot = inst.depot
    horizon = _units(depot.due, scale)
    here = Point(0.0, 0.0)  # coordinates are planar; only the matrix below is used
    vehicles = tuple(
        VehicleSpec(
            id=f"v{k}",
            start=here,
            end=here,
            shift_start=_units(depot.ready, scale),
            shift_end=horizon,
            capacity=inst.capacity,
            max_size=0,
        )
        for k in range(inst.vehicles)
    )
    stops = tuple(
        StopSpec(
            id=str(c.id),
            location=here,
            window_start=_units(c.ready, scale),
            window_end=_units(c.due, scale),
            service_s=_units(c.service, scale),
            demand=c.demand,
            size=0,
        )
        for c in inst.customers
    )
    nodes = [depot] * (2 * inst.vehicles) + list(inst.customers)
    exact = [[euclid(a, b) for b in nodes] for a in nodes]
    matrix = Matrix(
        durations=[[math.ceil(d * scale - 1e-7) for d in row] for row in exact],
        distances=[[d * scale for d in row] for row in exact],
    )
    problem = RouteProblem(
        epoch=EPOCH, vehicles=vehicles, stops=stops, objective=Objective.DISTANCE
    )
    return problem, matrix


def _units(value: float, scale: int) -> int:
    return int(round(value * scale))


def solve_checked(
    inst: Instance, optimizer: RouteOptimizer, deadline: float
) -> tuple[list[list[int]], list[str]]:
    """Solve the instance until ``deadline`` (``time.perf_counter``); return routes and faults.

    The faults are every rule the routes break (``check``) and the customers the plan leaves
    out. The matrix is built before the clock is read, so the deadline covers it.
    """
    problem, matrix = to_problem(inst)
    plan = optimizer.solve(problem, matrix, max(0.05, deadline - time.perf_counter()))
    routes = plan_routes(plan)
    errors = check(inst, routes)
    if plan.dropped:
        errors.append(f"{len(plan.dropped)} customers not served: {sorted(plan.dropped)[:10]}")
    return routes, errors


def plan_routes(plan: RoutePlan) -> list[list[int]]:
    """Return the plan's routes as lists of customer ids in visit order."""
    return [[int(v.stop_id) for v in r.visits] for r in plan.routes if r.visits]


def route_distance(inst: Instance, routes: list[list[int]], trunc1: bool = False) -> float:
    """Return total distance; ``trunc1`` truncates each arc to one decimal (DIMACS)."""
    total = 0.0
    for route in routes:
        path = [0, *route, 0]
        for a, b in itertools.pairwise(path):
            d = euclid(inst.node(a), inst.node(b))
            total += math.floor(d * 10) / 10 if trunc1 else d
    return total


def check(inst: Instance, routes: list[list[int]]) -> list[str]:
    """Return every VRPTW rule the routes break, computed in double precision."""
    errors: list[str] = []
    if len(routes) > inst.vehicles:
        errors.append(f"{len(routes)} routes but only {inst.vehicles} vehicles")
    counts: dict[int, int] = {}
    for k, route in enumerate(routes):
        t = inst.depot.ready
        load = 0
        prev = inst.depot
        for cid in route:
            counts[cid] = counts.get(cid, 0) + 1
            if cid == 0 or cid not in inst._by_id:
                errors.append(f"route {k} visits unknown customer {cid}")
                continue
            c = inst.node(cid)
            t += euclid(prev, c)
            if t > c.due + EPS:
                errors.append(f"route {k} reaches {cid} at {t:.4f}, after due {c.due}")
            t = max(t, c.ready) + c.service
            load += c.demand
            prev = c
        t += euclid(prev, inst.depot)
        if t > inst.depot.due + EPS:
            errors.append(f"route {k} returns at {t:.4f}, after depot due {inst.depot.due}")
        if load > inst.capacity:
            errors.append(f"route {k} carries {load} > capacity {inst.capacity}")
    for c in inst.customers:
        n = counts.get(c.id, 0)
        if n != 1:
            errors.append(f"customer {c.id} visited {n} times")
    return errors


def bks(name: str, objective_type: str = "distance_dimacs", directory: Path = DATA) -> float | None:
    """Return the best known distance of ``name`` from ``directory``'s bks.csv, if listed."""
    import csv

    path = directory / "bks.csv"
    if not path.exists():
        return None
    # An instance can have several rows (an older list and a newer solution file): the
    # best of them is the best known.
    with path.open() as fh:
        known = [
            float(row["distance"])
            for row in csv.DictReader(fh)
            if row["instance"] == name.upper() and row["objective_type"] == objective_type
        ]
    return min(known, default=None)
