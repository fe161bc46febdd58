"""Rate limits on every entry (sockets, failed tokens, driver pings) and no log floods."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import websocket

from lastmile_portal import create_app
from lastmile_portal.extensions import limiter, socketio
from tests.builders import DRIVER_TOKEN, make_delivery, make_route, make_world
from tests.servers import LiveServer

WRONG_TRACKING_TOKEN = "a" * 32  # well formed, so the database is asked
WRONG_DRIVER_TOKEN = "not-a-driver-token-but-long-enough"


def _app(config, clock, publisher, **limits: str):  # type: ignore[no-untyped-def]
    """Build an app with the given limits (keys like LIVE_CONNECT_RATE_LIMIT)."""
    return create_app({**config, **limits}, clock=clock, publisher=publisher)


def _count_database_use(monkeypatch, services) -> list[int]:  # type: ignore[no-untyped-def]
    """Count units of work opened from now on (each one is a database round trip)."""
    opened = [0]
    real = services.uow

    def counting():  # type: ignore[no-untyped-def]
        opened[0] += 1
        return real()

    monkeypatch.setattr(services, "uow", counting)
    return opened


def _live(app, token: object, flask_client=None):  # type: ignore[no-untyped-def]
    return socketio.test_client(
        app, namespace="/live", auth={"token": token}, flask_test_client=flask_client
    )


def _driver(app, token: object, flask_client=None):  # type: ignore[no-untyped-def]
    return socketio.test_client(
        app, namespace="/driver", auth={"token": token}, flask_test_client=flask_client
    )


def _ping(clock) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {"positions": [{"lat": 52.5, "lng": 13.4, "recorded_at": clock.now().isoformat()}]}


def _post(client, authorization: str | None, body: dict[str, Any]):  # type: ignore[no-untyped-def]
    headers = {"Authorization": authorization} if authorization is not None else {}
    return client.post("/api/v1/driver/positions", json=body, headers=headers)


# --- /live: connects and failed tokens per client address ------------------------------


def test_live_connects_are_limited_per_client_address(config, clock, publisher) -> None:
    app = _app(config, clock, publisher, LIVE_CONNECT_RATE_LIMIT="3 per minute")
    world = make_world(app.extensions["lastmile"])
    delivery = make_delivery(world)
    here, elsewhere = app.test_client(), app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.0.0.2"

    accepted = [_live(app, delivery.tracking_token, here).is_connected("/live") for _ in range(4)]

    assert accepted == [True, True, True, False]
    assert _live(app, delivery.tracking_token, elsewhere).is_connected("/live")


def test_wrong_tracking_tokens_lock_the_address_out_without_a_database_lookup(
    config, clock, publisher, monkeypatch
) -> None:
    app = _app(config, clock, publisher, AUTH_FAILURE_RATE_LIMIT="3 per minute")
    services = app.extensions["lastmile"]
    delivery = make_delivery(make_world(services))
    here, elsewhere = app.test_client(), app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.0.0.2"
    for _ in range(3):
        assert not _live(app, WRONG_TRACKING_TOKEN, here).is_connected("/live")
    opened = _count_database_use(monkeypatch, services)

    # Over the budget even the right token is refused, and nothing is looked up.
    assert not _live(app, delivery.tracking_token, here).is_connected("/live")
    assert not _live(app, WRONG_TRACKING_TOKEN, here).is_connected("/live")
    assert opened == [0]
    assert _live(app, delivery.tracking_token, elsewhere).is_connected("/live")


def test_wrong_driver_tokens_over_http_and_socket_share_the_failure_budget(
    config, clock, publisher, monkeypatch
) -> None:
    app = _app(config, clock, publisher, AUTH_FAILURE_RATE_LIMIT="3 per minute")
    services = app.extensions["lastmile"]
    make_world(services)
    client = app.test_client()
    assert _post(client, f"Bearer {WRONG_DRIVER_TOKEN}", _ping(clock)).status_code == 401
    assert not _driver(app, WRONG_DRIVER_TOKEN, client).is_connected("/driver")
    assert not _live(app, WRONG_TRACKING_TOKEN, client).is_connected("/live")
    opened = _count_database_use(monkeypatch, services)

    refused = _post(client, f"Bearer {WRONG_DRIVER_TOKEN}x", _ping(clock))
    manifest = client.get(
        "/api/v1/driver/manifest", headers={"Authorization": f"Bearer {WRONG_DRIVER_TOKEN}y"}
    )

    assert refused.status_code == 429 and refused.get_json()["status"] == 429
    assert manifest.status_code == 429
    assert not _driver(app, WRONG_DRIVER_TOKEN + "z", client).is_connected("/driver")
    assert opened == [0]


def test_socket_limits_count_in_the_configured_redis(config, clock, publisher, redis_url) -> None:
    import redis

    app = _app(
        config,
        clock,
        publisher,
        RATELIMIT_STORAGE_URI=redis_url,
        LIVE_CONNECT_RATE_LIMIT="2 per minute",
    )
    delivery = make_delivery(make_world(app.extensions["lastmile"]))
    client = app.test_client()

    accepted = [_live(app, delivery.tracking_token, client).is_connected("/live") for _ in range(3)]
    assert not _driver(app, WRONG_DRIVER_TOKEN, client).is_connected("/driver")

    assert accepted == [True, True, False]
    keys = [key.decode() for key in redis.Redis.from_url(redis_url).keys("*")]
    assert any("live-connects" in key for key in keys)
    assert any("token-failures" in key for key in keys)
    assert not any(WRONG_DRIVER_TOKEN in key or WRONG_TRACKING_TOKEN in key for key in keys)


# --- /live resync per connection ---------------------------------------------------------


def test_resync_is_limited_per_connection(config, clock, publisher) -> None:
    app = _app(config, clock, publisher, RESYNC_RATE_LIMIT="2 per minute")
    delivery = make_delivery(make_world(app.extensions["lastmile"]))
    page = _live(app, delivery.tracking_token)
    page.get_received("/live")  # the snapshot on connecting

    for _ in range(4):
        page.emit("resync", namespace="/live")
    received = page.get_received("/live")

    assert [e["name"] for e in received] == ["snapshot", "snapshot", "error", "error"]
    assert received[2]["args"][0]["status"] == 429
    assert page.is_connected("/live")
    other_page = _live(app, delivery.tracking_token)
    other_page.get_received("/live")
    other_page.emit("resync", namespace="/live")
    assert [e["name"] for e in other_page.get_received("/live")] == ["snapshot"]


# --- driver pings: one budget per driver over HTTP and the socket -----------------------


def test_socket_pings_share_the_drivers_http_budget(config, clock, publisher) -> None:
    app = _app(config, clock, publisher, DRIVER_RATE_LIMIT="3 per minute")
    make_world(app.extensions["lastmile"])
    client = app.test_client()
    assert _post(client, f"Bearer {DRIVER_TOKEN}", _ping(clock)).status_code == 200
    phone = _driver(app, DRIVER_TOKEN)

    acks = [phone.emit("positions", _ping(clock), namespace="/driver", callback=True)]
    acks.append(phone.emit("positions", _ping(clock), namespace="/driver", callback=True))
    over = phone.emit("positions", _ping(clock), namespace="/driver", callback=True)

    assert all("accepted" in ack for ack in acks)
    assert over["status"] == 429 and over["error"]
    assert _post(client, f"Bearer {DRIVER_TOKEN}", _ping(clock)).status_code == 429
    assert phone.is_connected("/driver")


@pytest.mark.parametrize(
    "variant",
    [f"bearer {DRIVER_TOKEN}", f"BEARER   {DRIVER_TOKEN} ", f"  Bearer {DRIVER_TOKEN}\t"],
)
def test_the_http_ping_limit_counts_the_token_not_its_spelling(
    config, clock, publisher, variant
) -> None:
    app = _app(config, clock, publisher, DRIVER_RATE_LIMIT="2 per minute")
    make_world(app.extensions["lastmile"])
    client = app.test_client()
    assert _post(client, f"Bearer {DRIVER_TOKEN}", _ping(clock)).status_code == 200
    assert _post(client, f"Bearer {DRIVER_TOKEN}", _ping(clock)).status_code == 200

    assert _post(client, variant, _ping(clock)).status_code == 429


def test_the_limit_storage_never_holds_a_raw_token(config, clock, publisher) -> None:
    app = _app(config, clock, publisher)
    make_world(app.extensions["lastmile"])
    client = app.test_client()
    _post(client, f"Bearer {DRIVER_TOKEN}", _ping(clock))
    _post(client, f"Bearer {WRONG_DRIVER_TOKEN}", _ping(clock))
    _post(client, None, _ping(clock))

    keys = list(limiter.storage.storage)  # memory:// keeps its counters in a dict
    assert any("driver-pings" in key for key in keys)
    assert not any(DRIVER_TOKEN in key or WRONG_DRIVER_TOKEN in key for key in keys)
    assert not any("Bearer" in key for key in keys)


# --- the default namespace ---------------------------------------------------------------


def test_the_default_namespace_refuses_connections(app) -> None:
    assert not socketio.test_client(app).is_connected("/")
    assert not socketio.test_client(app, auth={"token": DRIVER_TOKEN}).is_connected("/")


# --- garbage frames: at most one short warning each, real errors still logged ------------


@pytest.fixture
def served(config, clock, publisher) -> Iterator[tuple[Any, str, str, int]]:  # type: ignore[no-untyped-def]
    app = _app(config, clock, publisher)
    world = make_world(app.extensions["lastmile"])
    delivery = make_delivery(world)
    make_route(world, [delivery])
    server = LiveServer(app)
    server.start()
    yield app, delivery.tracking_token, server.url, server.port
    server.stop()


class RawSocket:
    """A websocket speaking Engine.IO by hand, to send what no real client would."""

    def __init__(self, port: int) -> None:
        url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
        self.ws = websocket.create_connection(url, timeout=5)
        assert self.ws.recv().startswith("0")  # Engine.IO open

    def join(self, namespace: str, auth: str) -> None:
        self.ws.send(f"40{namespace},{auth}")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.ws.recv().startswith(f"40{namespace},"):
                return
        raise AssertionError(f"could not join {namespace}")

    def send(self, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            self.ws.send_binary(frame)
        else:
            self.ws.send(frame)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.ws.close()


@pytest.fixture
def thread_errors(monkeypatch) -> list[BaseException]:  # type: ignore[no-untyped-def]
    """Collect exceptions that escape background threads (they print a traceback to stderr)."""
    seen: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append(args.exc_value))
    return seen


def _settle(records: Callable[[], list[logging.LogRecord]], quiet: float = 0.4) -> None:
    """Wait until no new log record arrived for ``quiet`` seconds (the server is done)."""
    count, since = -1, time.monotonic()
    while time.monotonic() - since < quiet:
        if len(records()) != count:
            count, since = len(records()), time.monotonic()
        time.sleep(0.05)


ENGINEIO_GARBAGE: list[str | bytes] = ["x", "", "\x00\x01garbage", "b!!!"]
SOCKETIO_GARBAGE: list[str | bytes] = [
    '42["positions"',
    "4",
    "4{",
    "4-1",
    "44",
    "49",
    "4\u00e9",
    '45-["a"]',
    '4999999999999-["a"]',
    "42" + "[" * 5000,
    b"\x00\xff\xfe",
]
# Sent after joining /live (token) and /driver (driver token) on the same socket.
NAMESPACE_GARBAGE: list[str | bytes] = [
    "42/live,[]",
    "42/live,{}",
    "42/live,null",
    '42/live,["resync",1,2,3]',
    '42/live,["connect",{"token":"x"}]',
    '42/live,["connect"]',
    '42/driver,1["positions",1,2]',
    '42/driver,2["positions"]',
    '451-/driver,3["positions",{"_placeholder":true,"num":5}]',
    b"\x01\x02",
]

BAD_REQUEST_LINES = [b"\x88\x82\x8a4\x9c\x90\x89\xdc", b"\x81\x81`DZ,Q", b"\x81" * 5000]


def test_garbage_frames_cost_at_most_one_short_warning_each(served, caplog, thread_errors) -> None:
    _app_, tracking_token, _url, port = served
    caplog.set_level(logging.INFO)
    frames = ENGINEIO_GARBAGE + SOCKETIO_GARBAGE
    for frame in frames:
        raw = RawSocket(port)
        raw.send(frame)
        time.sleep(0.05)
        raw.close()
    raw = RawSocket(port)
    raw.join("/live", f'{{"token":"{tracking_token}"}}')
    raw.join("/driver", f'{{"token":"{DRIVER_TOKEN}"}}')
    for frame in NAMESPACE_GARBAGE:
        raw.send(frame)
    # A websocket's last frames read as the next HTTP request once the socket is done (the
    # dev server keeps the connection): Werkzeug refuses the "request line".
    for line in BAD_REQUEST_LINES:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as tcp:
            tcp.sendall(line + b"\r\n\r\n")
            assert b"400" in tcp.recv(1024)
    _settle(lambda: caplog.records)
    raw.close()

    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not loud, [f"{r.name} {r.levelname} {r.getMessage()[:200]}" for r in loud]
    assert not thread_errors
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) <= len(frames) + len(NAMESPACE_GARBAGE) + len(BAD_REQUEST_LINES)
    assert all("\n" not in r.getMessage() and len(r.getMessage()) < 300 for r in warnings)


def test_socket_library_lines_are_printed_once(app) -> None:
    # The libraries' own bare handler next to the root one printed each line twice.
    for name in ("engineio.server", "socketio.server"):
        logger = logging.getLogger(name)
        assert logger.propagate and logger.getEffectiveLevel() >= logging.WARNING
        assert not [h for h in logger.handlers if type(h) is logging.StreamHandler], name


def test_a_real_error_in_our_handler_is_still_logged_with_its_traceback(
    served, caplog, monkeypatch, thread_errors
) -> None:
    _app_, tracking_token, _url, port = served
    raw = RawSocket(port)
    raw.join("/live", f'{{"token":"{tracking_token}"}}')
    caplog.set_level(logging.INFO)

    def broken(*_args: object) -> None:
        raise ValueError("a bug of ours, not the client's")

    monkeypatch.setattr("lastmile_portal.services.tracking.live_snapshot", broken)
    raw.send('42/live,["resync"]')
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(r.exc_info for r in caplog.records):
        time.sleep(0.05)
    raw.close()

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert errors, [f"{r.name} {r.getMessage()}" for r in caplog.records] or thread_errors
    assert "a bug of ours" in str(errors[0].exc_info[1])  # type: ignore[index]


def test_wrong_tracking_links_spend_the_same_budget_and_say_when_to_retry(
    config, clock, publisher
) -> None:
    app = _app(config, clock, publisher, AUTH_FAILURE_RATE_LIMIT="3 per minute")
    delivery = make_delivery(make_world(app.extensions["lastmile"]))
    client = app.test_client()
    for _ in range(2):
        assert client.get(f"/t/{WRONG_TRACKING_TOKEN}").status_code == 404
    assert not _live(app, WRONG_TRACKING_TOKEN, client).is_connected("/live")

    refused = client.get(f"/t/{delivery.tracking_token}")

    assert refused.status_code == 429
    # Seconds until the window ends (Flask-Limiter may count down from its own window).
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["Cache-Control"] == "no-store"


def _polling_session(url: str) -> str:
    with urllib.request.urlopen(f"{url}/socket.io/?EIO=4&transport=polling", timeout=5) as r:
        return str(json.loads(r.read().decode()[1:])["sid"])


def _poll_post(url: str, sid: str, body: bytes) -> int:
    request = urllib.request.Request(
        f"{url}/socket.io/?EIO=4&transport=polling&sid={sid}",
        data=body,
        method="POST",
        headers={"Content-Type": "text/plain;charset=UTF-8"},
    )
    try:
        # python-engineio used to hang for good on some of these: no answer is a failure.
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"9", 400),  # an unknown packet type
        (b"6", 400),  # a noop, which only the server sends
        (b"4hello\x1e7", 400),
        (b"\xff\xfe", 400),  # not UTF-8
        (b"3" * 1_000_001, 413),  # past Engine.IO's own buffer limit
    ],
    ids=["unknown-type", "noop", "unknown-type-later", "not-utf8", "too-large"],
)
def test_long_polling_garbage_is_answered_at_once_with_a_4xx(served, caplog, body, status) -> None:  # type: ignore[no-untyped-def]
    _app_, _token, url, _port = served
    sid = _polling_session(url)

    assert _poll_post(url, sid, body) == status
    # The session is still usable after the refusal (nothing of it was handed over).
    assert _poll_post(url, sid, b"3") == 200  # a pong
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_a_post_to_a_closed_polling_session_is_a_400_not_a_500(served, caplog) -> None:  # type: ignore[no-untyped-def]
    _app_, _token, url, _port = served
    sid = _polling_session(url)
    assert _poll_post(url, sid, b"1") == 200  # the client closes its session

    assert _poll_post(url, sid, b"40/live,{}") == 400
    assert not [r for r in caplog.records if r.exc_info]
