"""Fakes with real parts: a Twilio Messages API on 127.0.0.1 for the real client, a job recorder."""

from __future__ import annotations

import base64
import json
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fake-twilio-auth-token-0123456789"
FROM_NUMBER = "+4930231259999"

# What a send can run into; the numbers are the Twilio error codes the real API returns.
FAULTS: dict[str, tuple[int, int, str]] = {
    "500": (500, 20500, "Internal Server Error"),
    "503": (503, 20503, "Service Unavailable"),
    "429": (429, 20429, "Too Many Requests"),
    "invalid": (400, 21211, "The 'To' number is not a valid phone number."),
    "unsubscribed": (400, 21610, "Attempt to send to unsubscribed recipient"),
}
# "timeout": Twilio never got it (answers too late, records nothing).
# "timeout_after": Twilio took it but the answer comes too late (the ambiguous case).
# "hang": took it, then holds the answer until release() (a sender killed mid-send).
SLOW_FAULTS = {"timeout", "timeout_after", "hang"}


@dataclass
class Received:
    """One request the fake got."""

    method: str
    path: str
    form: dict[str, str]
    fault: str | None = None


@dataclass
class FakeTwilio:
    """Twilio's Messages API (create and list) on a free 127.0.0.1 port.

    Records every request, accepts texts like Twilio (201 with a message resource) and can
    fail on purpose: ``fail_next("500", "timeout")`` for the next sends, or
    ``random_faults(0.3, [...], seed)`` for a share of all sends.
    """

    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    slow_s: float = 1.5
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    received: list[Received] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    hanging: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._planned: list[str] = []
        self._rate = 0.0
        self._modes: list[str] = []
        self._random = random.Random(0)
        self._hang_at: int | None = None
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Return the base URL to give TWILIO_API_BASE."""
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> FakeTwilio:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------ steering

    def fail_next(self, *modes: str) -> None:
        """Make the next sends fail with ``modes``, in order."""
        with self._lock:
            self._planned.extend(modes)

    def random_faults(self, rate: float, modes: list[str], seed: int = 0) -> None:
        """Make a share ``rate`` of all later sends fail with one of ``modes``."""
        with self._lock:
            self._rate, self._modes, self._random = rate, modes, random.Random(seed)

    def hang_at(self, nth_send: int) -> None:
        """Accept the ``nth_send``-th send (1-based), then hold its answer until release()."""
        self._hang_at = nth_send

    def release(self) -> None:
        """Let a held answer go (the caller may be dead by then)."""
        self._release.set()

    # ------------------------------------------------------------ reading

    def sends(self) -> list[Received]:
        """Return every send request, faulty or not."""
        with self._lock:
            return [r for r in self.received if r.method == "POST"]

    def accepted(self) -> list[tuple[str, str]]:
        """Return (to, body) of every text Twilio took, in order."""
        with self._lock:
            return [(msg["to"], msg["body"]) for msg in self.messages]

    # ------------------------------------------------------------ serving

    def _next_fault(self) -> str | None:
        with self._lock:
            sends = sum(1 for r in self.received if r.method == "POST")
            if self._hang_at is not None and sends + 1 == self._hang_at:
                return "hang"
            if self._planned:
                return self._planned.pop(0)
            if self._rate and self._random.random() < self._rate:
                return self._random.choice(self._modes)
            return None

    def _accept(self, form: dict[str, str]) -> dict[str, Any]:
        now = format_datetime(self.clock().astimezone(UTC), usegmt=True)
        sid = "SM" + secrets.token_hex(16)
        message = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": form.get("Body", ""),
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {},
            "to": form.get("To"),
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        with self._lock:
            self.messages.append(message)
        return message


def _handler(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    base = f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length", 0))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            fault = fake._next_fault() if self.path == base else None
            with fake._lock:
                fake.received.append(Received("POST", self.path, form, fault))
            if not self._authorised():
                return
            if self.path != base:
                self._send(404, {"code": 20404, "message": "Not found", "status": 404})
                return
            if fault in FAULTS:
                status, code, text = FAULTS[fault]
                self._send(status, {"code": code, "message": text, "status": status})
                return
            if fault == "timeout":
                time.sleep(fake.slow_s)
                self._send(503, {"code": 20503, "message": "too late", "status": 503})
                return
            message = fake._accept(form)
            if fault == "timeout_after":
                time.sleep(fake.slow_s)
            elif fault == "hang":
                fake.hanging.set()
                fake._release.wait(30)
            self._send(201, message)

        def do_GET(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            with fake._lock:
                fake.received.append(Received("GET", self.path, query))
            if not self._authorised():
                return
            if url.path != base:
                self._send(404, {"code": 20404, "message": "Not found", "status": 404})
                return
            size = int(query.get("PageSize", 50))
            with fake._lock:
                found = [m for m in reversed(fake.messages) if m["to"] == query.get("To")]
            self._send(
                200,
                {
                    "messages": found[:size],
                    "end": min(size, len(found)) - 1,
                    "first_page_uri": self.path,
                    "next_page_uri": None,
                    "page": 0,
                    "page_size": size,
                    "previous_page_uri": None,
                    "start": 0,
                    "uri": self.path,
                },
            )

        def _authorised(self) -> bool:
            expected = (
                "Basic "
                + base64.b64encode(f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
            )
            if self.headers.get("Authorization") == expected:
                return True
            self._send(401, {"code": 20003, "message": "Authenticate", "status": 401})
            return False

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up waiting (a timeout we caused on purpose)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def running_fake_twilio(**kwargs: Any) -> Iterator[FakeTwilio]:
    """Yield a started FakeTwilio and stop it afterwards (for fixtures)."""
    fake = FakeTwilio(**kwargs).start()
    try:
        yield fake
    finally:
        fake.stop()


@dataclass
class RecordingJobQueue:
    """A job queue that only remembers what it was asked to run."""

    name: str = "recording"
    jobs: list[tuple[str, tuple[Any, ...], str | None]] = field(default_factory=list)

    def enqueue(self, job: str, *args: Any, key: str | None = None) -> None:
        self.jobs.append((job, args, key))


def twilio_config(fake: FakeTwilio, **extra: Any) -> dict[str, str]:
    """Return the settings that point the real Twilio adapter at ``fake``."""
    return {
        "SMS_BACKEND": "twilio",
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "TWILIO_AUTH_TOKEN": fake.auth_token,
        "TWILIO_FROM": FROM_NUMBER,
        "TWILIO_API_BASE": fake.url,
        "TWILIO_TIMEOUT": "0.5",
        **{k: str(v) for k, v in extra.items()},
    }
