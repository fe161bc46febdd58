"""The app under its production server: gunicorn's gthread worker on 127.0.0.1, with
PostgreSQL and the Redis message queue, serving a page, the API and a WebSocket to /live."""

from __future__ import annotations

import gzip
import http.client
import json
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import socketio

from lastmile_portal import create_app
from lastmile_portal.adapters.migrations import upgrade
from lastmile_portal.domain.status import DeliveryStatus
from tests.builders import make_delivery, make_route, make_world
from tests.conftest import REDIS_URL, base_config, missing_service
from tests.servers import GUNICORN, ROOT, ServerProcess, free_port

ASSET = re.compile(r'(?:src|href)="(/static/[^"]+)"')
FINGERPRINTED = re.compile(r"^/static/.+\.[0-9a-f]{12}\.[a-z]+$")


@pytest.fixture
def queue_url() -> str:
    """Return a Redis URL for the Socket.IO message queue (pub/sub only: nothing to flush)."""
    url = REDIS_URL.rsplit("/", 1)[0] + "/13"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as error:
        missing_service(f"Redis not reachable at {url}: {error}")
    return url


@pytest.fixture
def served(tmp_path: Path, postgres_url: str, queue_url: str) -> Iterator[dict[str, Any]]:
    """Migrate PostgreSQL, seed a delivery on a dispatched route, serve it with gunicorn."""
    port = free_port()
    config = {
        k: str(v)
        for k, v in base_config(
            tmp_path,
            DATABASE_URL=postgres_url,
            REDIS_URL=queue_url,
            SOCKETIO_MESSAGE_QUEUE=queue_url,
            HOST="127.0.0.1",
            PORT=port,
        ).items()
    }
    app = create_app(config)
    upgrade(app.config["SETTINGS"].database_url)
    services = app.extensions["lastmile"]
    world = make_world(services)
    delivery = make_delivery(world, status=DeliveryStatus.SCHEDULED, window_hours=(0, 6))
    make_route(world, [delivery])

    log = tmp_path / "gunicorn.log"
    server_env = {**_environ(), **config, "JOB_BACKEND": "thread"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            GUNICORN,
            cwd=ROOT,
            env=server_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(port, proc, log)
        yield {"port": port, "token": delivery.tracking_token, "proc": proc, "log": log}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # gunicorn's graceful stop
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_gunicorn_serves_pages_api_and_live_websocket(served: dict[str, Any]) -> None:
    port, token = served["port"], served["token"]

    page = _get(port, f"/t/{token}")
    assert page.status == 200
    assert page.getheader("Server") == "gunicorn"  # not Werkzeug's development server
    html = page.body.decode()
    assets = ASSET.findall(html)
    assert len(assets) >= 4  # stylesheets, Leaflet, socket.io, the page's script
    for url in assets:
        assert FINGERPRINTED.match(url), url
        answer = _get(port, url, headers={"Accept-Encoding": "gzip, br"})
        assert answer.status == 200, url
        assert "immutable" in answer.getheader("Cache-Control", ""), url
        assert "max-age=31536000" in answer.getheader("Cache-Control", ""), url
        assert answer.getheader("Content-Encoding") == "gzip", url
        text = gzip.decompress(answer.body)
        plain = _get(port, url)  # a client without gzip gets the same file uncompressed
        assert plain.getheader("Content-Encoding") is None and plain.body == text, url
    script = next(u for u in assets if "/js/track." in u)
    on_disk = (ROOT / "static" / "js" / "track.js").read_bytes()
    assert gzip.decompress(_get(port, script, headers={"Accept-Encoding": "gzip"}).body) == on_disk

    health = _get(port, "/healthz")
    assert health.status == 200 and health.getheader("Content-Type") == "application/json"
    body = json.loads(health.body)
    assert body["status"] == "ok" and body["database"] == "postgresql"
    assert body["checks"] == {"database": "ok", "redis": "ok"}
    assert body["socketio_message_queue"] is True
    spec = _get(port, "/api/openapi.json")
    assert spec.status == 200 and "/api/v1/deliveries" in json.loads(spec.body)["paths"]

    snapshots: list[dict[str, Any]] = []
    arrived = threading.Event()
    client = socketio.Client(reconnection=False)
    client.on("snapshot", lambda p: (snapshots.append(p), arrived.set()), namespace="/live")
    client.connect(
        f"http://127.0.0.1:{port}",
        namespaces=["/live"],
        auth={"token": token},
        transports=["websocket"],
        wait_timeout=10,
    )
    try:
        assert client.transport() == "websocket"
        assert arrived.wait(10), "no snapshot over the WebSocket"
        assert snapshots[0]["status"] == "out_for_delivery"
    finally:
        client.disconnect()

    proc: subprocess.Popen[bytes] = served["proc"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0  # a clean, graceful stop
    log = served["log"].read_text()
    assert "Werkzeug" not in log and "development server" not in log
    assert "Traceback" not in log, log


def test_make_run_serves_under_gunicorn_without_werkzeug_warnings(tmp_path: Path) -> None:
    config = {k: str(v) for k, v in base_config(tmp_path).items()}
    log = tmp_path / "app.log"
    server = ServerProcess({**config, "LOG_LEVEL": "INFO"}, free_port(), demo=False, log=log)
    server.start()  # `python app.py`, as `make run` starts it: migrate, then exec gunicorn
    try:
        port = int(server.url.rsplit(":", 1)[1])
        assert _get(port, "/healthz").getheader("Server") == "gunicorn"
    finally:
        server.stop()
    output = log.read_text()
    assert "Using worker: gthread" in output
    assert "Werkzeug" not in output and "development server" not in output


def test_gunicorn_refuses_several_workers(tmp_path: Path) -> None:
    config = {k: str(v) for k, v in base_config(tmp_path, PORT=free_port()).items()}
    result = subprocess.run(
        [*GUNICORN, "--workers", "3"],
        cwd=ROOT,
        env={**_environ(), **config},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "one worker (not 3)" in result.stderr + result.stdout
    assert "sticky load balancer" in result.stderr + result.stdout


class _Answer:
    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.getheader = response.getheader
        self.body = response.read()


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> _Answer:
    """GET without urllib's or requests' decoding, so Content-Encoding is seen as sent."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        return _Answer(conn.getresponse())
    finally:
        conn.close()


def _environ() -> dict[str, str]:
    import os

    # The test run's own settings (say a developer's DEMO=1) must not leak into the server.
    return {k: v for k, v in os.environ.items() if k not in {"DEMO", "PORT", "HOST"}}


def _wait_until_up(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited {proc.returncode}:\n{log.read_text()}")
        try:
            if _get(port, "/healthz").status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"gunicorn did not come up:\n{log.read_text()}")
