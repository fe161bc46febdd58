"""The day: planning a 300-parcel depot day end to end, from the job queued to the routes stored.

    python bench/plan_day.py                        # 300 parcels, 10 vans, OPTIMIZER_TIME_LIMIT 2
    python bench/plan_day.py --parcels 150 --vans 5 --time-limit 1
    python bench/plan_day.py --database-url sqlite:///tmp/x.db

Each run works in a fresh PostgreSQL schema (dropped afterwards) on PG_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/test), migrated, with one depot in Berlin and
``--vans`` vans (capacity 50) and drivers; the parcels are spread over about 8 km around it
with two-hour windows through tomorrow's working day. The clock is the real one and the
optimizer runs as in production (not the tests' deterministic mode). The plan is asked for
the way the API does it (``day_jobs.request_plan``, the job on the thread queue) and the
job is polled until it is finished. Prints one JSON line: the end-to-end seconds, the
budget (optimizer time limit + 2 s), parcels planned and dropped (and why), routes; exits 1
unless every parcel was planned within the budget.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from lastmile_portal import create_app  # noqa: E402
from lastmile_portal.adapters.migrations import upgrade  # noqa: E402
from lastmile_portal.domain import model as m  # noqa: E402
from lastmile_portal.services import day_jobs  # noqa: E402
from tests.builders import make_world  # noqa: E402
from tests.conftest import base_config  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BUDGET_OVER_LIMIT_S = 2.0


def _parcels(services: Any, depot_id: int, day: Any, n: int) -> None:
    """Store ``n`` parcels of ``day`` around the depot, in two-hour windows from 09:00."""
    tz = ZoneInfo("Europe/Berlin")
    now = services.clock.now()
    with services.uow() as uow:
        for i in range(n):
            start = datetime.combine(day, datetime.min.time(), tz) + timedelta(hours=9 + i % 5 * 2)
            uow.repo.add(
                m.Delivery(
                    tracking_number=f"LMB{i:09d}",
                    tracking_token=m.new_tracking_token(),
                    recipient_name=f"Recipient {i}",
                    phone=f"+4930231{25000 + i % 1000}",
                    address_line=f"Benchstraße {i}",
                    postcode="10115",
                    city="Berlin",
                    lat=52.48 + (i * 37 % 97) / 1200,
                    lng=13.34 + (i * 53 % 89) / 740,
                    depot_id=depot_id,
                    created_at=now,
                    service_date=day,
                    window_start=start,
                    window_end=start + timedelta(hours=2),
                )
            )
        uow.commit()


def run(database_url: str, parcels: int, vans: int, time_limit: float) -> dict[str, Any]:
    """Plan one depot day of ``parcels`` parcels on ``vans`` vans and time it."""
    with tempfile.TemporaryDirectory() as tmp:
        config = base_config(
            Path(tmp),
            DATABASE_URL=database_url,
            TESTING="false",
            ENV="development",
            JOB_BACKEND="thread",
            OPTIMIZER_TIME_LIMIT=str(time_limit),
            SMS_SWEEP_SECONDS="0",
            WEBHOOK_SWEEP_SECONDS="0",
        )
        app = create_app(config)
        upgrade(app.config["SETTINGS"].database_url)
        services = app.extensions["lastmile"]
        world = make_world(services, vehicles=vans)
        # Tomorrow: a whole working day ahead, whatever the hour the bench is run.
        day = world.service_date + timedelta(days=1)
        _parcels(services, world.depot_id, day, parcels)

        started = time.perf_counter()
        job = day_jobs.request_plan(services, "TST", day)
        while job.state in ("queued", "running"):
            time.sleep(0.02)
            job = day_jobs.job_info(services, job.id)
        end_to_end = time.perf_counter() - started

        assert job.state == "done", job.error
        assert job.result is not None
        with services.uow() as uow:
            stored = sum(len(r.stops) for r in uow.repo.routes_on(day, world.depot_id))
        budget = time_limit + BUDGET_OVER_LIMIT_S
        return {
            "database": database_url.split(":", 1)[0],
            "parcels": parcels,
            "vans": vans,
            "optimizer_time_limit_s": time_limit,
            "end_to_end_s": round(end_to_end, 2),
            "budget_s": budget,
            # Within the budget only counts with the day planned: an empty plan is fast too.
            "within_budget": end_to_end <= budget and not job.result["dropped"],
            "planned": job.result["planned"],
            "dropped": len(job.result["dropped"]),
            "dropped_because": sorted({d["reason"] for d in job.result["dropped"]}),
            "routes": len(job.result["routes"]),
            "stops_stored": stored,
            "km": round(sum(r["distance_km"] for r in job.result["routes"]), 1),
        }


def main() -> int:
    """Parse the arguments, run, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parcels", type=int, default=300)
    parser.add_argument("--vans", type=int, default=10)
    parser.add_argument("--time-limit", type=float, default=2.0)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    if args.database_url:
        out = run(args.database_url, args.parcels, args.vans, args.time_limit)
        print(json.dumps(out))
        return 0 if out["within_budget"] else 1
    schema = "bench_" + secrets.token_hex(4)
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        url = f"{PG_URL}?options=-csearch_path%3D{schema}"
        out = run(url, args.parcels, args.vans, args.time_limit)
        print(json.dumps(out))
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
    return 0 if out["within_budget"] else 1


if __name__ == "__main__":
    sys.exit(main())
