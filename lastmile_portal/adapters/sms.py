"""SMS gateways that need no provider: console (dev) and an in-memory fake (tests)."""

from __future__ import annotations

import logging
import secrets
import threading

log = logging.getLogger("lastmile.sms")


class SmsSendError(Exception):
    """Raise when a text could not be handed to the provider; ``permanent`` says don't retry."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class ConsoleSmsGateway:
    """Print texts to the log instead of sending them (the outbox keeps them for support)."""

    name = "console"

    def send(self, to: str, body: str, status_callback: str | None = None) -> str:
        """Log the text and return a made-up message id."""
        sid = "CONSOLE" + secrets.token_hex(8)
        log.info("SMS to %s: %s", to, body)
        return sid


class FakeSmsGateway:
    """Keep sent texts in memory for assertions."""

    name = "fake"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def send(self, to: str, body: str, status_callback: str | None = None) -> str:
        """Record the text and return a made-up message id."""
        with self._lock:
            self.sent.append((to, body))
            return f"FAKE{len(self.sent):06d}"
