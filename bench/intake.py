"""Parcels in: a CSV import and the announcement API under concurrent clients, on PostgreSQL.

    python bench/intake.py                          # 10,000 CSV rows, 2,000 API calls
    python bench/intake.py --rows 2000 --calls 500 --clients 20
    python bench/intake.py --rows 100 --calls 1200 --clients 20 --rate 2   # 40 requests/s
    python bench/intake.py --servers 1              # one gunicorn server instead of two
    python bench/intake.py --database-url sqlite:///tmp/x.db

Each run works in a fresh PostgreSQL schema (dropped afterwards) on
PG_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test), migrated, with one
depot. The CSV import is ``intake.import_csv`` (the import-deliveries command's service);
the API calls are POST /api/v1/deliveries to the production setup of docs/deployment.md on
this machine: ``--servers`` gunicorn servers (``lastmile_portal.gunicorn_conf``, one gthread
process each) on 127.0.0.1, jobs queued to RQ on Redis (``BENCH_REDIS_URL``, default db 12, emptied
afterwards; no worker runs: the parcels' insertion jobs wait, as they would for a worker on
another machine), from ``--clients`` threads in this process, each its own keep-alive
connection to one server (a balancer spreading connections), back to back (saturation) or
at ``--rate`` requests a second each (a load it can carry). Prints one JSON line: rows per second
and total seconds for the import, requests per second and latency median / p95 / max for
the API.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from lastmile_portal import create_app  # noqa: E402
from lastmile_portal.adapters.migrations import upgrade  # noqa: E402
from lastmile_portal.services import api_keys, intake  # noqa: E402
from tests.builders import make_world  # noqa: E402
from tests.conftest import base_config  # noqa: E402
from tests.servers import GUNICORN, free_port  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# Its own variable, never REDIS_URL: the bench empties this database when it ends.
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
HEADER = "reference,name,phone,address,postcode,city,lat,lng,window_start,window_end,size\n"


def _csv(rows: int, start: Any) -> str:
    out = io.StringIO()
    out.write(HEADER)
    ws, we = (start + timedelta(hours=2)).isoformat(), (start + timedelta(hours=5)).isoformat()
    for i in range(rows):
        out.write(
            f"CSV-{i},Recipient {i},+49 30 2312{5000 + i % 1000},Teststraße {i % 200},"
            f"10115,Berlin,{52.50 + (i % 97) / 1000},{13.35 + (i % 89) / 1000},{ws},{we},M\n"
        )
    return out.getvalue()


def _body(i: int, start: Any) -> bytes:
    return json.dumps(
        {
            "reference": f"API-{i}",
            "depot": "TST",
            "recipient": {"name": f"Recipient {i}", "phone": f"+49 30 2312{6000 + i % 1000}"},
            "address": {
                "line": f"Apistraße {i % 300}",
                "postcode": "10115",
                "city": "Berlin",
                "lat": 52.50 + (i % 97) / 1000,
                "lng": 13.35 + (i % 89) / 1000,
            },
            "window": {
                "start": (start + timedelta(hours=2)).isoformat(),
                "end": (start + timedelta(hours=5)).isoformat(),
            },
            "parcel": {"size": "S"},
        }
    ).encode()


def _stats(values: list[float]) -> dict[str, float | int]:
    ordered = sorted(values)
    return {
        "n": len(values),
        "median_ms": round(statistics.median(values), 1),
        "p95_ms": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 1),
        "max_ms": round(ordered[-1], 1),
    }


def _serve(
    config: dict[str, Any], servers: int, tmp: Path
) -> list[tuple[subprocess.Popen[bytes], int]]:
    """Start ``servers`` gunicorn servers on free ports; return them, with their ports, once up."""
    served = []
    for n in range(servers):
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in {"DEMO", "HOST", "PORT"}}
        env.update({k: str(v) for k, v in config.items()})
        env.update(
            HOST="127.0.0.1",
            PORT=str(port),
            JOB_BACKEND="rq",
            TESTING="0",
            ENV="production",
            SECRET_KEY=secrets.token_hex(32),
        )
        with (tmp / f"gunicorn-{n}.log").open("wb") as log:
            proc = subprocess.Popen(
                GUNICORN, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        served.append((proc, port))
    for n, (proc, port) in enumerate(served):
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                _stop(served)
                log_text = (tmp / f"gunicorn-{n}.log").read_text()
                raise SystemExit(f"gunicorn did not come up:\n{log_text}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
    return served


def _stop(served: list[tuple[subprocess.Popen[bytes], int]]) -> None:
    for proc, _port in served:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc, _port in served:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def run(
    database_url: str, rows: int, calls: int, clients: int, rate: float, servers: int
) -> dict[str, Any]:
    """Measure one import of ``rows`` rows and ``calls`` API announcements."""
    with tempfile.TemporaryDirectory() as tmp:
        config = base_config(
            Path(tmp),
            DATABASE_URL=database_url,
            REDIS_URL=REDIS_URL,
            AUTH_FAILURE_RATE_LIMIT="100000 per minute",
            LOG_LEVEL="WARNING",
        )
        app = create_app(config)
        upgrade(app.config["SETTINGS"].database_url)
        services = app.extensions["lastmile"]
        make_world(services)
        now = services.clock.now()
        text = _csv(rows, now)
        started = time.perf_counter()
        report = intake.import_csv(services, io.StringIO(text), "TST")
        import_s = time.perf_counter() - started
        assert report.accepted == rows, report.rejected[:3]

        key = api_keys.create_api_key(services, "bench").key
        served = _serve(config, servers, Path(tmp))
        latencies: list[float] = []
        lock = threading.Lock()
        local = threading.local()

        def call(i: int) -> int:
            conn = getattr(local, "conn", None)
            if conn is None:
                port = served[local.client % servers][1]
                conn = local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            t0 = time.perf_counter()
            conn.request(
                "POST",
                "/api/v1/deliveries",
                body=_body(i, now),
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            response.read()
            with lock:
                latencies.append((time.perf_counter() - t0) * 1000)
            return response.status

        def client(c: int) -> list[int]:
            # Open loop at ``rate`` requests a second per client (0: back to back).
            local.client = c
            mine = list(range(c, calls, clients))
            # Clients spread over the period, as independent carriers' systems are: in step,
            # 20 clients would send bursts of 20 at once and measure the burst's queue.
            started = time.perf_counter() + (c / clients / rate if rate > 0 else 0.0)
            out = []
            for n, i in enumerate(mine):
                if rate > 0:
                    time.sleep(max(0.0, started + n / rate - time.perf_counter()))
                out.append(call(i))
            return out

        try:
            wall = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                statuses = [s for part in pool.map(client, range(clients)) for s in part]
            wall = time.perf_counter() - wall
        finally:
            _stop(served)
            redis.Redis.from_url(REDIS_URL).flushdb()
        assert set(statuses) == {201}, {s: statuses.count(s) for s in set(statuses)}
        return {
            "database": database_url.split(":", 1)[0],
            "csv_rows": rows,
            "csv_import_s": round(import_s, 2),
            "csv_rows_per_s": round(rows / import_s),
            "api_servers": servers,
            "api_clients": clients,
            "api_rate_per_client": rate,
            "api_requests_per_s": round(calls / wall, 1),
            "api_post": _stats(latencies),
        }


def main() -> int:
    """Parse the arguments, run, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument(
        "--rate", type=float, default=0.0, help="requests/s per client (0: back to back)"
    )
    parser.add_argument("--servers", type=int, default=2, help="gunicorn servers")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    if args.database_url:
        print(
            json.dumps(
                run(args.database_url, args.rows, args.calls, args.clients, args.rate, args.servers)
            )
        )
        return 0
    schema = "bench_" + secrets.token_hex(4)
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        url = f"{PG_URL}?options=-csearch_path%3D{schema}"
        print(json.dumps(run(url, args.rows, args.calls, args.clients, args.rate, args.servers)))
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
