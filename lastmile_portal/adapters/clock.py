"""Clocks: the real one and a settable one for tests and simulations."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SystemClock:
    """Tell the real time in UTC."""

    def now(self) -> datetime:
        """Return the current aware UTC time."""
        return datetime.now(UTC)


class FrozenClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, at: datetime) -> None:
        self._at = at
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the clock's current time."""
        with self._lock:
            return self._at

    def set(self, at: datetime) -> None:
        """Jump to ``at``."""
        with self._lock:
            self._at = at

    def advance(self, **delta: float) -> datetime:
        """Move forward by a timedelta given as keywords (``minutes=5``)."""
        with self._lock:
            self._at += timedelta(**delta)
            return self._at
