"""A real `python app.py` takes every bad input we know of with a clear 4xx and no traceback.

The inputs are the ones seen breaking the portal (issue: "bad input never breaks
anything"); each has its own test elsewhere, and this one proves the whole process, with
its logging, stays clean — and that a driver whose pings were bad is tracked again at once.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

import pytest
import socketio
import websocket
from twilio.request_validator import RequestValidator

from lastmile_portal import create_app
from tests.conftest import base_config
from tests.servers import ServerProcess, free_port

AUTH_TOKEN = "bad-input-test-auth-token"


def http(url: str, body: bytes | None = None, method: str = "POST", **headers: str) -> int:
    """Send one request; return the status, whatever it is."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("bad-input")
    port = free_port()
    config = {
        k: str(v)
        for k, v in base_config(
            tmp,
            JOB_BACKEND="thread",
            LOG_LEVEL="INFO",
            DEMO_CLOCK="off",  # the fixes below carry the wall clock's time, as a phone's do
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        ).items()
    }
    log = tmp / "server.log"
    process = ServerProcess(config, port, log=log)
    process.start()
    try:
        app = create_app(config)
        demo = json.loads(app.test_cli_runner().invoke(args=["demo-links", "--json"]).output)
        yield process, demo, log
    finally:
        process.stop()


def test_bad_input_gets_4xx_no_traceback_and_tracking_goes_on(server) -> None:  # type: ignore[no-untyped-def]
    process, demo, log = server
    base = process.url
    token = demo["drivers"][0]["token"]
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    positions = f"{base}/api/v1/driver/positions"
    statuses: list[tuple[str, int]] = []

    def driver_post(name: str, body: bytes) -> None:
        statuses.append((name, http(positions, body, **auth)))

    def fix(**overrides: object) -> bytes:
        one = {"lat": 52.52, "lng": 13.40, "recorded_at": now_iso(), **overrides}
        return json.dumps({"positions": [one]}).encode()

    # A first fix from year one (this driver has no stored position yet).
    driver_post("year one", fix(recorded_at="0001-01-01T00:00:00+01:00"))
    driver_post("lat true", fix(lat=True))
    driver_post("lat text", fix(lat="52.5"))
    driver_post("speed negative", fix(speed=-4))
    driver_post("heading 9999", fix(heading=9999))
    driver_post("huge number", b'{"positions": [{"lat": 1' + b"0" * 5000 + b', "lng": 13}]}')
    driver_post("beyond float", b'{"positions": [{"lat": 1e999, "lng": 13, "recorded_at": "x"}]}')
    driver_post("NaN", b'{"positions": [{"lat": NaN, "lng": 13, "recorded_at": "x"}]}')
    driver_post("deep nesting", b"[" * 100_000 + b"]" * 100_000)
    driver_post("not json", b"\xff\xfe garbage")
    statuses.append(
        ("spaced token", http(positions, fix(), **{**auth, "Authorization": f"bearer  {token} "}))
    )

    # Twilio's webhooks: a JSON body with any signature, and odd values in signed forms.
    statuses.append(
        (
            "webhook json",
            http(
                f"{base}/webhooks/twilio/sms",
                b'{"Body": "STOP"}',
                **{"Content-Type": "application/json", "X-Twilio-Signature": "abc"},
            ),
        )
    )
    validator = RequestValidator(AUTH_TOKEN)
    for name, path, form in [
        (
            "callback superscript",
            "/webhooks/twilio/status?m=%C2%B2",
            {"MessageSid": "SM" + "a" * 32, "MessageStatus": "sent"},
        ),
        (
            "callback huge id",
            "/webhooks/twilio/status?m=" + "9" * 40,
            {"MessageSid": "SM" + "a" * 32, "MessageStatus": "sent"},
        ),
        (
            "callback odd code",
            "/webhooks/twilio/status",
            {"MessageSid": "SM" + "a" * 32, "MessageStatus": "failed", "ErrorCode": "٣"},
        ),
        (
            "sms nul",
            "/webhooks/twilio/sms",
            {
                "MessageSid": "SM" + "c" * 32,
                "From": demo["deliveries"][0]["phone"],
                "Body": "SAFE \x00under\x07 the mat",
            },
        ),
        (
            "sms long sid",
            "/webhooks/twilio/sms",
            {"MessageSid": "SM" + "d" * 200, "From": "+4930231250001", "Body": "HELP"},
        ),
    ]:
        url = f"{base}{path}"
        signature = validator.compute_signature(url, form)
        body = urllib.parse.urlencode(form).encode()
        statuses.append(
            (
                name,
                http(
                    url,
                    body,
                    **{
                        "Content-Type": "application/x-www-form-urlencoded",
                        "X-Twilio-Signature": signature,
                    },
                ),
            )
        )
    statuses.append(("405", http(f"{base}/healthz", b"", method="DELETE")))

    # The sockets: random tracking tokens, bad pings, garbage frames.
    for _ in range(3):
        live = socketio.Client(reconnection=False)
        try:
            live.connect(
                base, namespaces=["/live"], auth={"token": "x" * 32}, transports=["websocket"]
            )
        except socketio.exceptions.ConnectionError:
            pass
        finally:
            live.disconnect()
    driver = socketio.Client(reconnection=False)
    driver.connect(base, namespaces=["/driver"], auth={"token": token}, transports=["websocket"])
    bad_ack = driver.call(
        "positions",
        {"positions": [{"lat": 52.5, "lng": 13.4, "recorded_at": "0001-01-01T00:00:00+01:00"}]},
        namespace="/driver",
    )
    good_ack = driver.call("positions", json.loads(fix()), namespace="/driver")
    driver.disconnect()
    raw = websocket.create_connection(
        f"ws://127.0.0.1:{base.rsplit(':', 1)[1]}/socket.io/?EIO=4&transport=websocket", timeout=5
    )
    raw.recv()  # the open packet
    for frame in ["42[", "4x", "40/driver,{", "451-/live,[", "9", '42/nope,["positions"]']:
        try:
            raw.send(frame)
        except (OSError, websocket.WebSocketException):
            break
    with contextlib.suppress(OSError, websocket.WebSocketException):
        raw.send_binary(b"\x00\xff\x13garbage")
    raw.close()

    # After all that the driver is tracked at once over HTTP.
    time.sleep(0.5)
    http_after = http(positions, fix(), **auth)

    assert all(status < 500 for _, status in statuses), statuses
    assert dict(statuses)["year one"] == 422
    assert dict(statuses)["webhook json"] == 403
    assert bad_ack["status"] == 422 and "plausible" in bad_ack["error"]
    assert good_ack.get("status") is None and good_ack["accepted"] + good_ack["ignored"] == 1
    assert http_after == 200
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-4000:]
    assert " ERROR " not in text, [line for line in text.splitlines() if " ERROR " in line]
    # One access line per request would drown the log (every driver ping is one).
    assert "POST /api/v1/driver/positions" not in text


def test_the_server_still_listens(server) -> None:  # type: ignore[no-untyped-def]
    process, _demo, _log = server
    host, port = process.url.rsplit("/", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=5):
        pass
    assert http(f"{process.url}/healthz", method="GET") == 200
