"""SMS gateways that need no provider: console (dev) and an in-memory fake (tests)."""

from __future__ import annotations

import logging
import secrets
import threading
from datetime import datetime

from ..domain.sms import SmsSendError

__all__ = ["ConsoleSmsGateway", "FakeSmsGateway", "SmsSendError"]

log = logging.getLogger("lastmile.sms")


class ConsoleSmsGateway:
    """Print texts to the log instead of sending them (the outbox keeps them for support)."""

    name = "console"

    def send(self, to: str, body: str, status_callback: str | None = None) -> str:
        """Log the text and return a made-up message id."""
        sid = "CONSOLE" + secrets.token_hex(8)
        log.info("SMS to %s: %s", to, body)
        return sid

    def find_sent(self, to: str, body: str, since: datetime) -> str | None:
        """Return None: the log cannot be asked (showing a text twice in dev is harmless)."""
        return None


class FakeSmsGateway:
    """Keep sent texts in memory for assertions; ``failures`` makes the next sends fail."""

    name = "fake"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.sids: list[str] = []
        self.callbacks: list[str | None] = []
        self.failures: list[Exception] = []
        self._lock = threading.Lock()

    def send(self, to: str, body: str, status_callback: str | None = None) -> str:
        """Record the text and return a made-up message id (or raise the next failure)."""
        with self._lock:
            if self.failures:
                error = self.failures.pop(0)
                if not getattr(error, "in_doubt", False):
                    raise error
                # An unanswered request that did arrive: the text is out, the caller can't know.
                self._record(to, body, status_callback)
                raise error
            return self._record(to, body, status_callback)

    def find_sent(self, to: str, body: str, since: datetime) -> str | None:
        """Return the id of a text already sent with this body to ``to``."""
        with self._lock:
            for sid, (number, text) in zip(self.sids, self.sent, strict=True):
                if (number, text) == (to, body):
                    return sid
            return None

    def _record(self, to: str, body: str, status_callback: str | None) -> str:
        self.sent.append((to, body))
        self.callbacks.append(status_callback)
        # Unique across instances too: a restarted test server writes to the same database.
        self.sids.append(f"FAKE{len(self.sent):06d}{secrets.token_hex(4)}")
        return self.sids[-1]
