"""The OSRM adapter against a small local server that answers with OSRM's documented JSON."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lastmile_portal.adapters.travel_times import HaversineTravelTimes, OsrmTravelTimes
from lastmile_portal.domain.routing import Point

POINTS = [Point(52.52, 13.40), Point(52.53, 13.41), Point(52.50, 13.45)]
WHEN = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


class FakeOsrm(BaseHTTPRequestHandler):
    """Answer /table/v1/<profile>/<lng,lat;...> like osrm-routed: duration = 100*|i-j|."""

    requests: list[str] = []
    mode = "ok"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        type(self).requests.append(self.path)
        if self.mode == "error":
            self._send(400, {"code": "InvalidQuery", "message": "Query string malformed"})
            return
        coords = self.path.split("/")[4].split("?")[0].split(";")
        n = len(coords)
        durations = [[100.0 * abs(i - j) for j in range(n)] for i in range(n)]
        distances = [[1000.0 * abs(i - j) for j in range(n)] for i in range(n)]
        if self.mode == "null":
            durations[0][2] = None  # type: ignore[call-overload]
            distances[0][2] = None  # type: ignore[call-overload]
        self._send(
            200,
            {
                "code": "Ok",
                "durations": durations,
                "distances": distances,
                "sources": [],
                "destinations": [],
            },
        )

    def _send(self, status: int, body: dict) -> None:  # type: ignore[type-arg]
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def osrm() -> Iterator[str]:
    FakeOsrm.requests = []
    FakeOsrm.mode = "ok"
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOsrm)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_matrix_comes_from_the_table_service(osrm: str) -> None:
    matrix = OsrmTravelTimes(osrm).matrix(POINTS, WHEN)
    assert matrix.durations[0][2] == 200 and matrix.durations[2][1] == 100
    assert matrix.distances[1][0] == 1000.0
    path = FakeOsrm.requests[0]
    # lng,lat order, as OSRM expects, and both annotations asked for.
    assert path.startswith("/table/v1/driving/13.400000,52.520000;13.410000,52.530000;")
    assert "annotations=duration,distance" in path


def test_null_cells_fall_back_to_the_estimate(osrm: str) -> None:
    FakeOsrm.mode = "null"
    matrix = OsrmTravelTimes(osrm).matrix(POINTS, WHEN)
    estimate = HaversineTravelTimes().matrix(POINTS, WHEN)
    assert matrix.durations[0][2] == estimate.durations[0][2]
    assert matrix.durations[0][1] == 100


def test_error_answer_or_dead_server_falls_back_to_estimates(osrm: str) -> None:
    FakeOsrm.mode = "error"
    estimate = HaversineTravelTimes().matrix(POINTS, WHEN)
    assert OsrmTravelTimes(osrm).matrix(POINTS, WHEN).durations == estimate.durations
    dead = OsrmTravelTimes("http://127.0.0.1:1", timeout_s=0.5)
    assert dead.matrix(POINTS, WHEN).durations == estimate.durations
