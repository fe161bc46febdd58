"""CPU of one 5-second store of a driver's live state, in-process: cached and full path.

    python bench/store_cost.py               # median of 200 stores each way
    python bench/store_cost.py --stores 500

One driver on a dispatched 20-parcel route, on SQLite, 5.5 km from the next stop. Each
measured call takes one fix 5 s after the last (``PERSIST_EVERY``), so every call stores:
the buffered history, the driver's position and the live ETAs of the route. ``cached`` is
the steady state (the route cache of the last store is reused); ``full`` forgets the rooms
and the cache before each call, as after a re-plan or a stop event. Prints one JSON line
with the median and the 90th percentile in milliseconds of CPU.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lastmile_portal import create_app  # noqa: E402
from lastmile_portal.adapters.clock import FrozenClock  # noqa: E402
from lastmile_portal.adapters.migrations import upgrade  # noqa: E402
from lastmile_portal.adapters.socketio_publisher import RecordingPublisher  # noqa: E402
from tests.builders import make_delivery, make_route, make_world  # noqa: E402
from tests.conftest import MORNING, base_config  # noqa: E402

try:  # the GPS intake has its own module since issue 10; older trees kept it in tracking
    from lastmile_portal.services.gps_intake import record_positions
except ImportError:  # pragma: no cover - only when measuring an older commit
    from lastmile_portal.services.tracking import record_positions  # type: ignore[no-redef]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="store-cost-"))
    try:
        (tmp / "instance").mkdir()
        clock = FrozenClock(MORNING)
        publisher = RecordingPublisher()
        app = create_app(base_config(tmp, LOG_LEVEL="ERROR"), clock=clock, publisher=publisher)
        upgrade(app.config["SETTINGS"].database_url)
        services = app.extensions["lastmile"]
        world = make_world(services)
        make_route(world, [make_delivery(world, window_hours=(0, 8)) for _ in range(20)])
        driver_id = world.driver_ids[0]
        step = [0]

        def store() -> None:
            step[0] += 1
            clock.advance(seconds=5)
            # 5.5 km north of the stops, creeping so no fix is a duplicate.
            fix = {
                "lat": 52.57 + step[0] * 1e-6,
                "lng": 13.40,
                "recorded_at": clock.now().isoformat(),
            }
            record_positions(services, driver_id, [fix])
            publisher.published.clear()

        def full() -> None:
            services.live.forget_rooms()
            store()

        result: dict[str, object] = {"stores": args.stores}
        for name, call in (("cached", store), ("full", full)):
            result[name] = _measure(call, args.warmup, args.stores)
        print(json.dumps(result))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _measure(call: Callable[[], None], warmup: int, times: int) -> dict[str, float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(times):
        started = time.process_time()
        call()
        samples.append((time.process_time() - started) * 1000)
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples), 3),
        "p90_ms": round(samples[int(0.9 * (len(samples) - 1))], 3),
    }


if __name__ == "__main__":
    main()
