"""A bare python-socketio relay: the ceiling the live fan-out benchmark compares the stack to.

    python bench/bare_socketio_server.py --port PORT --world WORLD.json

Same engine as the portal (python-socketio ``async_mode="threading"``, simple-websocket,
the Werkzeug threaded server on 127.0.0.1), same contract, none of the work:

- ``/live`` takes ``auth={"token": <tracking token>}``, joins ``delivery:<id>`` and emits a
  small ``snapshot``; unknown tokens are refused.
- ``POST /api/v1/driver/positions`` with ``Authorization: Bearer <driver token>`` and
  ``{"positions": [{"lat", "lng", "recorded_at"}]}`` emits ``position``
  ``{"lat", "lng", "at"}`` of the newest fix to every room of that driver's deliveries.
- ``/driver`` takes ``auth={"token": <driver token>}``; a ``positions`` event with the same
  body relays the same way and is acknowledged with the same counts.
- ``GET /healthz`` answers ``{"status": "ok"}``.

WORLD.json: ``{"drivers": [{"token": str, "deliveries": [{"id": int, "token": str}]}]}``
(what live_fanout.py writes). No database, no ETA model, no auth beyond dict look-ups.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

import socketio
from werkzeug.serving import make_server


def build(world: dict[str, Any]) -> Any:
    """Return the WSGI app relaying pings of ``world``'s drivers to their deliveries' rooms."""
    sio = socketio.Server(async_mode="threading", logger=False, engineio_logger=False)
    delivery_of_token: dict[str, int] = {}
    rooms_of_driver: dict[str, list[str]] = {}
    for driver in world["drivers"]:
        rooms_of_driver[driver["token"]] = [f"delivery:{d['id']}" for d in driver["deliveries"]]
        for d in driver["deliveries"]:
            delivery_of_token[d["token"]] = d["id"]

    @sio.on("connect", namespace="/live")
    def connect(sid: str, _environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        delivery_id = delivery_of_token.get(token) if isinstance(token, str) else None
        if delivery_id is None:
            raise socketio.exceptions.ConnectionRefusedError("unknown tracking token")
        sio.enter_room(sid, f"delivery:{delivery_id}", namespace="/live")
        sio.emit("snapshot", {"delivery_id": delivery_id}, to=sid, namespace="/live")

    rooms_of_sid: dict[str, list[str]] = {}

    @sio.on("connect", namespace="/driver")
    def driver_connect(sid: str, _environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        rooms = rooms_of_driver.get(token) if isinstance(token, str) else None
        if rooms is None:
            raise socketio.exceptions.ConnectionRefusedError("bad driver token")
        rooms_of_sid[sid] = rooms

    @sio.on("disconnect", namespace="/driver")
    def driver_disconnect(sid: str, *_args: Any) -> None:
        rooms_of_sid.pop(sid, None)

    @sio.on("positions", namespace="/driver")
    def driver_positions(sid: str, data: Any = None) -> dict[str, Any]:
        try:
            positions = data["positions"]
            payload = _newest(positions)
        except (ValueError, KeyError, TypeError):
            return {"error": "bad body", "status": 422}
        for room in rooms_of_sid.get(sid, []):
            sio.emit("position", payload, to=room, namespace="/live")
        return {"accepted": len(positions), "ignored": 0}

    def http(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == "/healthz":
            return _json(start_response, "200 OK", {"status": "ok"})
        if path != "/api/v1/driver/positions" or method != "POST":
            return _json(start_response, "404 Not Found", {"error": "not found"})
        auth = environ.get("HTTP_AUTHORIZATION", "")
        rooms = rooms_of_driver.get(auth[7:].strip()) if auth[:7].lower() == "bearer " else None
        if rooms is None:
            return _json(start_response, "401 Unauthorized", {"error": "bad driver token"})
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            positions = json.loads(environ["wsgi.input"].read(length))["positions"]
            payload = _newest(positions)
        except (ValueError, KeyError, TypeError):
            return _json(start_response, "422 Unprocessable Entity", {"error": "bad body"})
        for room in rooms:
            sio.emit("position", payload, to=room, namespace="/live")
        return _json(start_response, "200 OK", {"accepted": len(positions), "ignored": 0})

    return socketio.WSGIApp(sio, http)


def _newest(positions: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the ``position`` payload of the newest fix."""
    newest = max(positions, key=lambda p: p["recorded_at"])
    return {"lat": newest["lat"], "lng": newest["lng"], "at": newest["recorded_at"]}


def _json(start_response: Any, status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


def main() -> None:
    """Serve on 127.0.0.1 until terminated."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--world", required=True)
    args = parser.parse_args()
    with open(args.world) as f:
        world = json.load(f)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no per-request log lines
    # Threaded Werkzeug server, as Flask-SocketIO's socketio.run uses in threading mode.
    server = make_server("127.0.0.1", args.port, build(world), threaded=True)
    print(f"bare server on http://127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
