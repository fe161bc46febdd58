"""Latency of the what-if previews inside a request, on the demo city: slots and lockers.

    python bench/preview.py                 # every demo parcel still open for changes
    python bench/preview.py --parcels 20    # the first 20 of them

Seeds the demo city (SQLite, today's routes planned and dispatched), then for each parcel
whose changes are still open: the slot page's list (``offered_slots``: one dry run per slot
of the route's day plus the baseline, the other days by their capacity), one
``preview_slot`` per offered slot, the slot page over HTTP (Flask's test client: render
included), and one ``preview_locker`` for its nearest locker. Each dry run is the pure-Python
repair (OR-Tools never runs in a request). Prints one JSON line: per measurement the count,
median, 95th percentile and maximum in milliseconds of wall time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lastmile_portal import create_app  # noqa: E402
from lastmile_portal.adapters.migrations import upgrade  # noqa: E402
from lastmile_portal.demo import ensure_demo  # noqa: E402
from lastmile_portal.domain import model as m  # noqa: E402
from lastmile_portal.services import rescheduling  # noqa: E402
from tests.conftest import base_config  # noqa: E402

try:  # the locker feature may be missing on an older tree
    from lastmile_portal.services import lockers
except ImportError:  # pragma: no cover
    lockers = None  # type: ignore[assignment]


def _timed(call: Callable[[], Any], into: list[float]) -> Any:
    started = time.perf_counter()
    result = call()
    into.append((time.perf_counter() - started) * 1000)
    return result


def _stats(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "n": len(values),
        "median_ms": round(statistics.median(values), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(ordered[-1], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parcels", type=int, default=0, help="at most this many (0: all)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="preview-bench-"))
    (tmp / "instance").mkdir()
    app = create_app(base_config(tmp, LOG_LEVEL="ERROR", JOB_BACKEND="inline"))
    upgrade(app.config["SETTINGS"].database_url)
    services = app.extensions["lastmile"]
    ensure_demo(services, "bench-secret", "staff@example.org", "bench-password")
    client = app.test_client()

    with services.uow() as uow:
        tokens = [
            d.tracking_token
            for d in uow.repo.all(m.Delivery)
            if d.option is m.DeliveryOption.DOOR and d.stop_id is not None
        ]
    page_ms: list[float] = []
    http_ms: list[float] = []
    slot_ms: list[float] = []
    same_day_ms: list[float] = []
    locker_ms: list[float] = []
    measured = offered = 0
    for token in tokens:
        if args.parcels and measured >= args.parcels:
            break
        page = _timed(lambda t=token: rescheduling.offered_slots(services, t), page_ms)
        if not page.summary.open:
            page_ms.pop()  # closed: no dry run ran, nothing to measure
            continue
        measured += 1
        response = _timed(lambda t=token: client.get(f"/t/{t}/slots"), http_ms)
        assert response.status_code == 200, response.status_code
        for slot in page.offered:
            offered += 1
            into = slot_ms if slot.planned_later else same_day_ms
            _timed(lambda t=token, s=slot.slot_id: rescheduling.preview_slot(services, t, s), into)
        if lockers is not None:
            with services.uow() as uow:
                d = uow.repo.delivery_by_token(token)
                delivery_id = d.id if d else None
            near = lockers.nearby(services, delivery_id, 1) if delivery_id else []
            if near:
                _timed(
                    lambda t=token, lid=near[0].locker_id: lockers.preview_locker(services, t, lid),
                    locker_ms,
                )

    print(
        json.dumps(
            {
                "parcels": measured,
                "offered_slots": offered,
                "slot_page_service": _stats(page_ms),
                "slot_page_http": _stats(http_ms),
                "slot_preview_route_day": _stats(same_day_ms),
                "slot_preview_other_day": _stats(slot_ms),
                "slot_preview_all": _stats(same_day_ms + slot_ms),
                "locker_preview": _stats(locker_ms) if lockers is not None else "not built",
            }
        )
    )


if __name__ == "__main__":
    main()
