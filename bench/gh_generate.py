"""Write a Gehring-Homberger-like VRPTW instance in Solomon format (the real files are not here).

    python bench/gh_generate.py --kind RC1 --customers 1000 --seed 1 --out /tmp/gh/RC1_1000_1.txt
    python bench/vrptw.py /tmp/gh/RC1_1000_1.txt --time-limit 60

What it imitates (Gehring and Homberger 1999, 1000-customer set): a 500 x 500 grid with the
depot in the middle; R = uniformly random customers, C = customers in clusters, RC = half of
each; type 1 = a short horizon (many short routes), type 2 = a long one (few long routes);
250 vehicles of capacity 200; service time 90 (``--service``). Demands are 10..40 (about 100
routes' worth of load at capacity 200). A share of customers (``--tw-share``) get a time
window of ``--tw-width`` (type 1) or four times that (type 2) around a random moment they can
be reached and left in time; the others may be served any time in the horizon. Every
customer on its own is feasible (there and back in time with capacity to spare), so a
feasible plan always exists with enough vehicles; whether 250 suffice is what the solver shows.

These are not the published instances and their best-known solutions do not apply: the files
test scale and feasibility, not the gap.
"""

from __future__ import annotations

import argparse
import math
import random
from pathlib import Path

SIZE = 500
DEPOT = (250, 250)
HORIZON = {"1": 1400, "2": 5000}


def generate(
    kind: str,
    customers: int,
    seed: int,
    vehicles: int = 250,
    capacity: int = 200,
    service: int = 90,
    tw_share: float = 0.75,
    tw_width: int = 120,
) -> str:
    """Return the instance text."""
    family, horizon_type = kind[:-1].upper(), kind[-1]
    if family not in {"R", "C", "RC"} or horizon_type not in HORIZON:
        raise ValueError("kind must be R1, R2, C1, C2, RC1 or RC2")
    rng = random.Random(seed)
    horizon = HORIZON[horizon_type]
    width = tw_width * (1 if horizon_type == "1" else 4)
    points = _points(rng, family, customers)
    rows = [(0, *DEPOT, 0, 0, horizon, 0)]
    for cid, (x, y) in enumerate(points, start=1):
        away = math.hypot(x - DEPOT[0], y - DEPOT[1])
        earliest = math.ceil(away)  # reached from the depot at time 0
        latest = math.floor(horizon - service - away)  # still home in time
        if rng.random() < tw_share:
            centre = rng.uniform(earliest, latest)
            ready = max(0, int(centre - width / 2))
            due = min(latest, int(centre + width / 2))
            due = max(due, earliest)
        else:
            ready, due = 0, latest
        rows.append((cid, x, y, rng.randint(10, 40), ready, due, service))
    name = f"{kind.upper()}_{customers}_S{seed}"
    lines = [
        name,
        "",
        "VEHICLE",
        "NUMBER     CAPACITY",
        f"  {vehicles:<10d} {capacity}",
        "",
        "CUSTOMER",
        "CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE TIME",
        "",
    ]
    lines += [
        f"{c:5d} {x:8d} {y:9d} {d:10d} {r:10d} {u:10d} {s:10d}" for c, x, y, d, r, u, s in rows
    ]
    return "\n".join(lines) + "\n"


def _points(rng: random.Random, family: str, n: int) -> list[tuple[int, int]]:
    def uniform() -> tuple[int, int]:
        return rng.randint(0, SIZE), rng.randint(0, SIZE)

    if family == "R":
        return [uniform() for _ in range(n)]
    n_clustered = n if family == "C" else n // 2
    centres = [uniform() for _ in range(max(1, n_clustered // 10))]
    clustered = []
    for _ in range(n_clustered):
        cx, cy = rng.choice(centres)
        x = min(SIZE, max(0, round(rng.gauss(cx, 8))))
        y = min(SIZE, max(0, round(rng.gauss(cy, 8))))
        clustered.append((x, y))
    points = clustered + [uniform() for _ in range(n - n_clustered)]
    rng.shuffle(points)
    return points


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", default="RC1", help="R1, R2, C1, C2, RC1 or RC2")
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--vehicles", type=int, default=250)
    parser.add_argument("--capacity", type=int, default=200)
    parser.add_argument("--service", type=int, default=90)
    parser.add_argument("--tw-share", type=float, default=0.75)
    parser.add_argument("--tw-width", type=int, default=120)
    parser.add_argument("--out", required=True, help="file to write (keep it out of the repo)")
    args = parser.parse_args(argv)
    text = generate(
        args.kind,
        args.customers,
        args.seed,
        args.vehicles,
        args.capacity,
        args.service,
        args.tw_share,
        args.tw_width,
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
