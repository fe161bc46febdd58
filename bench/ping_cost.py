"""CPU one driver ping costs in-process: the whole HTTP path, without sockets or a network.

    python bench/ping_cost.py                 # 3,000 pings after 200 to warm up
    python bench/ping_cost.py --pings 10000 --limiter off

One driver on a 10-stop route in progress, on SQLite, posts one fix a second of a frozen
clock through Flask's test client: WSGI wrappers, rate limits, token check, JSON, the fix
parser and track filter, the 5-second store (every fifth ping), the security headers.
``--limiter off`` leaves Flask-Limiter out, to see what the limits themselves cost (the
in-memory storage starts a timer thread per counted hit). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lastmile_portal import create_app  # noqa: E402
from lastmile_portal.adapters.clock import FrozenClock  # noqa: E402
from lastmile_portal.adapters.migrations import upgrade  # noqa: E402
from lastmile_portal.adapters.socketio_publisher import RecordingPublisher  # noqa: E402
from lastmile_portal.extensions import limiter  # noqa: E402
from tests.builders import DRIVER_TOKEN, make_delivery, make_route, make_world  # noqa: E402
from tests.conftest import MORNING, base_config  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pings", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--limiter", choices=("on", "off"), default="on")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="ping-cost-"))
    try:
        (tmp / "instance").mkdir()
        config = {
            **base_config(tmp, LOG_LEVEL="ERROR"),
            "DRIVER_RATE_LIMIT": "1000000 per minute",
        }
        clock = FrozenClock(MORNING)
        app = create_app(config, clock=clock, publisher=RecordingPublisher())
        upgrade(app.config["SETTINGS"].database_url)
        world = make_world(app.extensions["lastmile"])
        make_route(world, [make_delivery(world) for _ in range(10)])
        limiter.enabled = args.limiter == "on"
        client = app.test_client()
        headers = {"Authorization": f"Bearer {DRIVER_TOKEN}"}

        def ping(i: int) -> None:
            clock.advance(seconds=1)
            fix = {"lat": 52.52 + i * 1e-5, "lng": 13.40, "recorded_at": clock.now().isoformat()}
            response = client.post(
                "/api/v1/driver/positions", json={"positions": [fix]}, headers=headers
            )
            assert response.status_code == 200, response.get_data(as_text=True)

        for i in range(args.warmup):
            ping(i)
        started_cpu, started_wall = time.process_time(), time.perf_counter()
        for i in range(args.pings):
            ping(args.warmup + i)
        cpu = time.process_time() - started_cpu
        wall = time.perf_counter() - started_wall
        print(
            json.dumps(
                {
                    "pings": args.pings,
                    "limiter": args.limiter,
                    "cpu_ms_per_ping": round(cpu / args.pings * 1000, 3),
                    "wall_ms_per_ping": round(wall / args.pings * 1000, 3),
                }
            )
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
