"""The small interfaces the domain and services need from the outside world."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from .proof import ProcessedPhoto
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
    """Send one text; return the provider's message id or raise SmsSendError.

    ``find_sent`` answers "did this text already go out?" after a send whose outcome is
    unknown (a timeout, a crashed sender): the provider's id if so, else None.
    """

    name: str

    def send(self, to: str, body: str, status_callback: str | None = None) -> str: ...

    def find_sent(self, to: str, body: str, since: datetime) -> str | None: ...


class PhoneNumbers(Protocol):
    """Turn a phone number as typed into E.164, or raise InvalidInput saying why not."""

    def normalise(self, raw: str) -> str: ...


class SmsTemplates(Protocol):
    """Render the text of one kind of message from plain values."""

    def render(self, kind: str, values: Mapping[str, Any]) -> str: ...


class Publisher(Protocol):
    """Push a live event to a Socket.IO room, from any process."""

    def publish(self, room: str, event: str, payload: dict[str, Any]) -> None: ...

    def publish_many(self, rooms: Sequence[str], event: str, payload: dict[str, Any]) -> None:
        """Push the same event to several rooms at once (encoded and queued once)."""
        ...


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

    def delete(self, key: str) -> None:
        """Remove the file under ``key``; an unknown key is no error."""
        ...


class Geocoder(Protocol):
    """Find where an address is (issue 13: carriers may announce parcels without lat/lng)."""

    def locate(self, line: str, postcode: str, city: str, country: str | None) -> Point | None:
        """Return the address's point, None when unknown; raise ServiceUnavailable when down."""
        ...


class PhotoProcessor(Protocol):
    """Check an uploaded photo by its content and re-encode it; raise InvalidInput if refused.

    The result is a JPEG without EXIF (the orientation applied first) plus a thumbnail.
    """

    def process(self, data: bytes) -> ProcessedPhoto: ...
