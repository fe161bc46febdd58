"""Clocks: the real one, a settable one for tests and simulations, and the demo's."""

from __future__ import annotations

import json
import math
import threading
import time as _time
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo


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


class DemoClock:
    """Tell the demo's time: a working day's, whatever the hour the demo is started.

    It runs at real speed from an anchor: ``start_day`` (called when the demo city is
    seeded) makes "now" today's ``day_starts`` in ``timezone`` — 09:30 — so windows,
    ETAs, quiet hours and texts look like a working day at 21:50 too. The anchor is the
    pair (real time, demo time) kept in ``anchor_file`` (the instance folder): a restart
    the same day carries on where the demo's day was instead of jumping back and breaking
    its routes, and other processes of the install (a worker, ``flask demo-links``) read
    the same time; they notice a new anchor within ``RELOAD_S``. Without an anchor the
    day would start now; nothing is written until the demo is seeded.
    """

    RELOAD_S = 5.0

    def __init__(
        self,
        real: SystemClock | FrozenClock,
        anchor_file: str | Path,
        timezone: str,
        day_starts: time = time(9, 30),
    ) -> None:
        self.real = real
        self.path = Path(anchor_file)
        self.zone = ZoneInfo(timezone)
        self.day_starts = day_starts
        self._lock = threading.Lock()
        self._checked = -math.inf
        self._stamp: float | None = None
        self._offset = self._fresh_offset()
        self._reload()

    def now(self) -> datetime:
        """Return the demo's current time (aware UTC)."""
        if _time.monotonic() - self._checked >= self.RELOAD_S:
            self._reload()
        return self.real.now() + self._offset

    def start_day(self) -> datetime:
        """Start the demo's day now at ``day_starts`` and keep the anchor; return that time."""
        with self._lock:
            self._offset = self._fresh_offset()
            real = self.real.now()
            body = {"real": real.isoformat(), "demo": (real + self._offset).isoformat()}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_suffix(".tmp")
            partial.write_text(json.dumps(body))
            partial.replace(self.path)  # readers never see half a file
            self._stamp = self.path.stat().st_mtime
            return real + self._offset

    def _fresh_offset(self) -> timedelta:
        real = self.real.now()
        start = datetime.combine(real.astimezone(self.zone).date(), self.day_starts, self.zone)
        return start.astimezone(UTC) - real

    def _reload(self) -> None:
        with self._lock:
            self._checked = _time.monotonic()
            try:
                stamp = self.path.stat().st_mtime
                if stamp == self._stamp:
                    return
                body = json.loads(self.path.read_text())
                offset = datetime.fromisoformat(body["demo"]) - datetime.fromisoformat(body["real"])
            except (OSError, ValueError, KeyError, TypeError):
                return  # no anchor yet (or a damaged one): keep the time we have
            self._stamp, self._offset = stamp, offset
