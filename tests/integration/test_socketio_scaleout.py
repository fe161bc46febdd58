"""Several web processes and a job worker share live events through the real Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.request
from datetime import UTC, datetime

import socketio

from lastmile_portal import create_app
from lastmile_portal.adapters.migrations import upgrade
from lastmile_portal.services import routing
from tests.builders import DRIVER_TOKEN, make_delivery, make_route, make_world
from tests.conftest import base_config
from tests.servers import ROOT, ServerProcess, free_port


def _events(
    url: str, token: str
) -> tuple[socketio.Client, list[tuple[str, dict]], threading.Event]:  # type: ignore[type-arg]
    got: list[tuple[str, dict]] = []  # type: ignore[type-arg]
    arrived = threading.Event()
    client = socketio.Client(reconnection=False)
    for name in ("snapshot", "position", "eta", "status"):
        client.on(
            name, lambda p, name=name: (got.append((name, p)), arrived.set()), namespace="/live"
        )
    client.connect(
        url, namespaces=["/live"], auth={"token": token}, transports=["websocket"], wait_timeout=10
    )
    return client, got, arrived


def _wait(got: list, name: str, timeout: float = 10.0, where=lambda p: True) -> dict:  # type: ignore[no-untyped-def, type-arg]
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for n, payload in list(got):
            if n == name and where(payload):
                return payload  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"no matching {name!r} within {timeout}s; got {got}")


def test_ping_to_one_process_reaches_a_customer_on_another(tmp_path, redis_url) -> None:
    queue = redis_url.rsplit("/", 1)[0] + "/14"
    config = {
        k: str(v)
        for k, v in base_config(
            tmp_path, SOCKETIO_MESSAGE_QUEUE=queue, REDIS_URL=redis_url, JOB_BACKEND="rq"
        ).items()
    }
    app = create_app(config)
    upgrade(app.config["SETTINGS"].database_url)
    services = app.extensions["lastmile"]
    world = make_world(services)
    first, mine = (
        make_delivery(world, window_hours=(0, 6)),
        make_delivery(world, window_hours=(0, 6), lng=13.45),
    )
    route_id = make_route(world, [first, mine])

    a, b = (
        ServerProcess(config, free_port(), demo=False),
        ServerProcess(config, free_port(), demo=False),
    )
    a.start()
    b.start()
    client = None
    try:
        client, got, _ = _events(b.url, mine.tracking_token)
        assert _wait(got, "snapshot")["status"] == "out_for_delivery"

        body = json.dumps(
            {
                "positions": [
                    {"lat": 52.515, "lng": 13.41, "recorded_at": datetime.now(UTC).isoformat()}
                ]
            }
        ).encode()
        request = urllib.request.Request(
            a.url + "/api/v1/driver/positions",
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {DRIVER_TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response)["accepted"] == 1

        position = _wait(got, "position")
        assert (position["lat"], position["lng"]) == (52.515, 13.41)

        # A job worker, a third process, re-plans the route; its ETA reaches the customer too.
        got.clear()
        routing.request_reoptimization(services, route_id, "customer asked for a later slot")
        worker = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", "worker", "--burst"],
            cwd=ROOT,
            env={**os.environ, **config},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert worker.returncode == 0, worker.stderr
        # (ETAs from the ping, plan version 1, may still be on their way: wait for the re-plan's.)
        eta = _wait(got, "eta", where=lambda p: p["plan_version"] == 2)
        assert eta["stops_before"] in (0, 1)
    finally:
        if client is not None:
            client.disconnect()
        a.stop()
        b.stop()
