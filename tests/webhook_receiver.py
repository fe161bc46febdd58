"""A carrier's webhook receiver for tests: a real HTTP server on 127.0.0.1, in a thread."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    """One POST as the receiver got it, with the status it answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """Record every POST; answer the scripted statuses in turn, then 200."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._script: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._started = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    script = receiver._script.get(self.path, [])
                    status = script.pop(0) if script else 200
                    receiver.received.append(
                        Received(self.path, dict(self.headers.items()), body, status)
                    )
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(self, path: str, *statuses: int) -> None:
        """Answer the next POSTs to ``path`` with ``statuses`` (then 200 again)."""
        with self._lock:
            self._script.setdefault(path, []).extend(statuses)

    def to(self, path: str) -> list[Received]:
        """Return what was POSTed to ``path``, in the order it arrived."""
        with self._lock:
            return [r for r in self.received if r.path == path]

    def start(self) -> WebhookReceiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self._started = True
        return self

    def stop(self) -> None:
        if self._started:  # shutdown() waits for serve_forever: only after start()
            self._server.shutdown()
        self._server.server_close()
