"""Real servers for tests: in a thread on a free port, or `python app.py` as a process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

ROOT = Path(__file__).resolve().parents[1]
# The production server as `make serve` starts it (after its migration).
GUNICORN = [sys.executable, "-m", "gunicorn", "--config", "python:lastmile_portal.gunicorn_conf"]


def free_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """Serve an app on a fixed free port; can be stopped and started again (a restart)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: BaseWSGIServer | None = None

    def start(self) -> None:
        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class ServerProcess:
    """`python app.py` as an operator runs it (demo seeded, simulated drivers off)."""

    def __init__(
        self, config: dict[str, str], port: int, demo: bool = True, log: Path | None = None
    ) -> None:
        self.env = {
            **os.environ,
            **config,
            "PORT": str(port),
            "DEMO": str(demo).lower(),
            "DEMO_SIMULATE": "false",
            "HOST": "127.0.0.1",
        }
        self.url = f"http://127.0.0.1:{port}"
        self.log = log  # where its output goes (appended across restarts), or nowhere
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "app.py"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT if self.log else subprocess.DEVNULL,
            )
        finally:
            if self.log:
                out.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("server did not come up")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
            self.proc = None
