"""The webhook HTTP adapter against real sockets: answers, redirects, silence, TLS trouble."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from lastmile_portal.adapters.webhook_http import HttpWebhookTransport
from tests.webhook_receiver import WebhookReceiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver().start()
    yield r
    r.stop()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_a_post_carries_the_body_headers_and_query(receiver) -> None:  # type: ignore[no-untyped-def]
    answer = HttpWebhookTransport().post(
        receiver.url + "/hook?tenant=7", b'{"a":1}', {"X-Lastmile-Event-Id": "evt_1"}, 2
    )

    assert answer.ok and answer.status_code == 200
    (got,) = receiver.received
    assert got.path == "/hook?tenant=7" and got.body == b'{"a":1}'
    assert got.headers["X-Lastmile-Event-Id"] == "evt_1"
    assert got.headers["Content-Type"] == "application/json"


def test_a_redirect_is_a_failed_try_and_is_not_followed(receiver) -> None:  # type: ignore[no-untyped-def]
    receiver.answer("/old", 302)

    answer = HttpWebhookTransport().post(receiver.url + "/old", b"{}", {}, 2)

    assert answer.status_code == 302 and not answer.ok
    assert [r.path for r in receiver.received] == ["/old"]


def test_silence_ends_at_the_timeout_with_a_reason(silent_port: int) -> None:
    answer = HttpWebhookTransport().post(f"http://127.0.0.1:{silent_port}/", b"{}", {}, 0.2)

    assert answer.status_code is None and answer.error == "no answer within 0.2 s"


def test_https_to_a_plain_http_server_is_a_tls_error_not_a_crash(receiver) -> None:  # type: ignore[no-untyped-def]
    url = receiver.url.replace("http://", "https://")

    answer = HttpWebhookTransport().post(url, b"{}", {}, 2)

    assert answer.status_code is None and answer.error and answer.error.startswith("TLS error")
