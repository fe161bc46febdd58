"""A daemon thread that calls a function every few seconds (the outbox's retry sweep)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("lastmile.jobs")


class Every:
    """Call ``action`` every ``seconds`` on a daemon thread until ``stop()``."""

    def __init__(self, seconds: float, action: Callable[[], None], name: str) -> None:
        self.seconds = seconds
        self._action = action
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Every:
        """Start ticking; the first call comes after one interval."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the current call, if any."""
        self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.wait(self.seconds):
            try:
                self._action()
            except Exception:
                log.exception("periodic %s failed", self._thread.name)
