"""What this process keeps in memory about drivers between pings (never the source of truth).

A driver pings every second. Writing each ping to the database and recomputing every ETA
made a ping cost tens of milliseconds and, on SQLite, queue behind the write lock. So the
newest position, the rooms watching the driver and the not-yet-stored history live here;
the database is brought up to date every few seconds (``PERSIST_EVERY``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..domain import model as m
from ..domain.status import DeliveryStatus

PERSIST_EVERY = timedelta(seconds=5)
TOKEN_TTL = timedelta(seconds=60)


@dataclass(frozen=True)
class OpenStop:
    """What the live ETA needs of one open stop, and the ETA stored for it."""

    id: int
    lat: float
    lng: float
    arrived: bool  # the driver is there: no drive to it
    travel_s: float  # the plan's drive from the previous stop
    service_s: float
    opens: datetime | None  # m.stop_window's start
    stored: tuple[datetime | None, datetime | None, datetime | None]  # expected, earliest, latest
    parcels: tuple[tuple[int, DeliveryStatus, int], ...]  # (id, status, attempts)


@dataclass(frozen=True)
class RouteCache:
    """A driver's in-progress route as the 5-second store last loaded it.

    ``key`` is what ``Repository.live_route_key`` returns while nothing has changed: the
    store compares it (one light query) before trusting the rest.
    """

    key: tuple[object, ...]
    plan_version: int
    pace: float
    stops: tuple[OpenStop, ...]  # in visiting order


@dataclass
class DriverLive:
    """One driver's hot state; hold ``lock`` while reading or changing it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    lat: float | None = None
    lng: float | None = None
    at: datetime | None = None
    doubts: tuple[tuple[float, float, datetime], ...] = ()  # fixes that disagreed (gps.Track)
    seeded: bool = False
    stored: tuple[float, float, datetime] | None = None  # newest fix kept for history
    buffer: list[m.DriverPosition] = field(default_factory=list)
    persisting: bool = False  # a thread is storing a batch right now
    persisted_at: datetime | None = None  # server time of the last store
    persisted_fix_at: datetime | None = None  # the phone's time of the newest fix then
    rooms: list[tuple[str, int]] | None = None  # (delivery room, stops before it)
    # Outbox keys of "approaching" texts already stored: the check is a query per stop,
    # and a stored key never goes away, so each is asked about once per process.
    texted: set[str] = field(default_factory=set)
    route: RouteCache | None = None  # dropped with the rooms
    depot_id: int | None = None  # issue 14: the driver's depot, whose staff fleet room watches


class LiveState:
    """Process-wide, thread-safe registry of DriverLive and of recently seen driver tokens."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._drivers: dict[int, DriverLive] = {}
        self._tokens: dict[str, tuple[int, datetime]] = {}
        # Integration API keys: hash -> (name, scopes, confirmed at).
        self._api_keys: dict[str, tuple[str, str, datetime]] = {}

    def driver(self, driver_id: int) -> DriverLive:
        """Return the driver's hot state, creating an empty one on first use."""
        with self._lock:
            return self._drivers.setdefault(driver_id, DriverLive())

    def peek(self, driver_id: int) -> DriverLive | None:
        """Return the driver's hot state if this process has one."""
        with self._lock:
            return self._drivers.get(driver_id)

    def forget_rooms(self, driver_ids: list[int] | None = None) -> None:
        """Drop cached rooms and routes (after a re-plan or a stop event): the next ping reloads."""
        with self._lock:
            targets = (
                list(self._drivers.values())
                if driver_ids is None
                else [self._drivers[i] for i in driver_ids if i in self._drivers]
            )
        for live in targets:
            with live.lock:
                live.rooms = live.route = None

    def driver_for_token(self, token_hash: str, now: datetime) -> int | None:
        """Return the driver id a token hash was recently confirmed for."""
        with self._lock:
            hit = self._tokens.get(token_hash)
        return hit[0] if hit and now - hit[1] < TOKEN_TTL else None

    def remember_token(self, token_hash: str, driver_id: int, now: datetime) -> None:
        """Remember a confirmed token for TOKEN_TTL (a deactivated driver is out within it)."""
        with self._lock:
            if len(self._tokens) > 10_000:
                self._tokens.clear()
            self._tokens[token_hash] = (driver_id, now)

    def forget_tokens_of(self, driver_id: int) -> None:
        """Drop the driver's confirmed tokens (a rotated token must fail on its next use)."""
        with self._lock:
            self._tokens = {h: hit for h, hit in self._tokens.items() if hit[0] != driver_id}

    def api_key_for(self, key_hash: str, now: datetime) -> tuple[str, str] | None:
        """Return (name, scopes) of an API key confirmed less than TOKEN_TTL ago."""
        with self._lock:
            hit = self._api_keys.get(key_hash)
        return (hit[0], hit[1]) if hit and now - hit[2] < TOKEN_TTL else None

    def remember_api_key(self, key_hash: str, name: str, scopes: str, now: datetime) -> None:
        """Remember a confirmed API key for TOKEN_TTL (a revoked one is out within it)."""
        with self._lock:
            if len(self._api_keys) > 10_000:
                self._api_keys.clear()
            self._api_keys[key_hash] = (name, scopes, now)

    def forget_api_key(self, name: str) -> None:
        """Drop a revoked key from this process's cache at once."""
        with self._lock:
            self._api_keys = {h: hit for h, hit in self._api_keys.items() if hit[0] != name}
