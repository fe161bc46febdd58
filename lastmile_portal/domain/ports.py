"""The small interfaces the domain and services need from the outside world."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from .routing import Matrix, Point, RoutePlan, RouteProblem


class Clock(Protocol):
    """Tell the current time (aware UTC), so tests can stop and move it."""

    def now(self) -> datetime: ...


class TravelTimes(Protocol):
    """Estimate driving durations and distances between points."""

    def matrix(self, points: Sequence[Point], depart_at: datetime) -> Matrix: ...


class RouteOptimizer(Protocol):
    """Turn a routing problem into a plan within a time limit."""

    def solve(self, problem: RouteProblem, matrix: Matrix, time_limit_s: float) -> RoutePlan: ...


class SmsGateway(Protocol):
    """Send one text; return the provider's message id or raise SmsSendError."""

    name: str

    def send(self, to: str, body: str, status_callback: str | None = None) -> str: ...


class Publisher(Protocol):
    """Push a live event to a Socket.IO room, from any process."""

    def publish(self, room: str, event: str, payload: dict[str, Any]) -> None: ...


class JobQueue(Protocol):
    """Run a job later, somewhere else.

    ``job`` names a function in ``lastmile_portal.jobs``; arguments must be plain values
    (they may cross a process boundary). While a job with the same ``key`` is waiting,
    another request for it is merged into the waiting one.
    """

    name: str

    def enqueue(self, job: str, *args: Any, key: str | None = None) -> None: ...


class PhotoStore(Protocol):
    """Keep proof-of-delivery images under opaque keys."""

    def put(self, data: bytes, content_type: str) -> str: ...

    def get(self, key: str) -> bytes: ...
