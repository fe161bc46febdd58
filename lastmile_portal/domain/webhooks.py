"""Outbound webhooks: the event names (a contract), their payloads, subscribers and the outbox.

A carrier's system subscribes a URL to some event types; every delivery event of those
types becomes one row per subscriber in the webhook outbox, written in the transaction
that recorded the event, and is POSTed later, signed (domain/webhook_signing), in order
per delivery and subscriber. Payloads name the parcel by tracking number and the
carrier's reference only: no recipient name, phone or address (the carrier has them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import urlsplit

from .errors import InvalidInput, InvalidTransition
from .events import (
    DeliveryAttemptFailed,
    DeliveryStatusChanged,
    EtaChanged,
    Event,
    ProofRecorded,
)

STATUS_CHANGED = "delivery.status_changed"
ETA_CHANGED = "delivery.eta_changed"
PROOF_ADDED = "delivery.proof_added"
ATTEMPT_FAILED = "delivery.attempt_failed"

# The contract: names never change meaning; new ones may be added.
EVENT_TYPES: dict[str, str] = {
    STATUS_CHANGED: "the delivery moved to another status (old, new, at)",
    ETA_CHANGED: "the expected arrival window moved more than WEBHOOK_ETA_MINUTES",
    PROOF_ADDED: "the driver's photos of a hand-over or failed attempt were stored",
    ATTEMPT_FAILED: "the driver could not deliver (reason, attempt)",
}

_TYPE_OF: dict[type[Event], str] = {
    DeliveryStatusChanged: STATUS_CHANGED,
    EtaChanged: ETA_CHANGED,
    ProofRecorded: PROOF_ADDED,
    DeliveryAttemptFailed: ATTEMPT_FAILED,
}

MAX_URL_LENGTH = 2000
MAX_ERROR_LENGTH = 500


def event_type_of(event: Event) -> str | None:
    """Return the webhook event type a domain event is sent as, or None if it is not sent."""
    return _TYPE_OF.get(type(event))


def parse_event_types(text: str) -> frozenset[str]:
    """Return the event types named in a comma-separated list; refuse unknown or none."""
    names = {part.strip() for part in text.split(",") if part.strip()}
    if not names:
        raise InvalidInput(f"Name at least one event type: {', '.join(EVENT_TYPES)}.")
    unknown = sorted(names - EVENT_TYPES.keys())
    if unknown:
        raise InvalidInput(
            f"Unknown event type {', '.join(unknown)}; the types are {', '.join(EVENT_TYPES)}."
        )
    return frozenset(names)


def check_url(url: str) -> str:
    """Return ``url`` if a webhook can be POSTed to it (http or https with a host)."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise InvalidInput(
            f"A webhook URL must start with http:// or https://, not {parts.scheme or 'nothing'}"
            f"{'://' if parts.scheme else ''} ({url!r})."
        )
    if not parts.hostname:
        raise InvalidInput(f"A webhook URL needs a host name ({url!r}).")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"A webhook URL may have at most {MAX_URL_LENGTH} characters.")
    if parts.username or parts.password:
        raise InvalidInput("Put no user name or password in a webhook URL; the body is signed.")
    return url


# ---------------------------------------------------------------- payloads


def iso(at: datetime) -> str:
    """Return ``at`` in UTC as ISO 8601 with a Z (what every payload timestamp looks like)."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _utc_text(value: str | None) -> str | None:
    if value is None:
        return None
    return iso(datetime.fromisoformat(value))


def eta_window(event: EtaChanged) -> dict[str, str | None]:
    """Return the window an ETA event announces, as payload values."""
    return {
        "expected": _utc_text(event.new_arrival),
        "earliest": _utc_text(event.eta_earliest),
        "latest": _utc_text(event.eta_latest),
    }


def event_data(
    event: Event, *, delivery_url: str, previous_eta: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Return the ``data`` object of the webhook for ``event`` (no personal data in it)."""
    at = iso(event.occurred_at)
    if isinstance(event, DeliveryStatusChanged):
        return {"old": event.old, "new": event.new, "at": at}
    if isinstance(event, EtaChanged):
        return {
            "eta": eta_window(event),
            "previous": previous_eta,
            "stops_before": event.stops_before,
            "at": at,
        }
    if isinstance(event, ProofRecorded):
        return {
            "photo_count": len(event.photo_ids),
            "distance_m": None if event.distance_m is None else round(event.distance_m),
            "flagged": event.flagged,
            "failed_attempt": event.failed_attempt,
            "at": at,
            # Photos are personal: the carrier fetches the proof with its own API key.
            "delivery_url": delivery_url,
        }
    if isinstance(event, DeliveryAttemptFailed):
        return {"reason": event.reason, "attempt": event.attempt, "at": at}
    raise ValueError(f"{type(event).__name__} is not sent as a webhook")


def payload_body(
    *,
    event_id: str,
    event_type: str,
    created_at: datetime,
    tracking_number: str,
    reference: str | None,
    status: str,
    data: dict[str, Any],
) -> str:
    """Return the JSON body sent for one event (compact, keys sorted: stable for retries)."""
    delivery: dict[str, Any] = {"tracking_number": tracking_number, "status": status}
    if reference:
        delivery["reference"] = reference
    document = {
        "id": event_id,
        "type": event_type,
        "created_at": iso(created_at),
        "delivery": delivery,
        "data": data,
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def told_eta(body: str) -> dict[str, Any] | None:
    """Return the ETA window an ``eta_changed`` body announced (what the subscriber knows)."""
    try:
        eta = json.loads(body)["data"]["eta"]
    except (ValueError, KeyError, TypeError):
        return None
    return eta if isinstance(eta, dict) else None


def eta_moved(previous: dict[str, Any] | None, new: dict[str, Any], minutes: float) -> bool:
    """Return whether the window ``new`` is more than ``minutes`` from ``previous``.

    Compared edge by edge (earliest, latest; the expected time when an edge is missing);
    a subscriber told nothing yet is always told.
    """
    if previous is None:
        return True
    limit = timedelta(minutes=minutes)
    compared = False
    for key in ("earliest", "latest", "expected"):
        before, after = previous.get(key), new.get(key)
        if not before or not after:
            continue
        compared = True
        if abs(datetime.fromisoformat(after) - datetime.fromisoformat(before)) > limit:
            return True
        if key == "latest":
            break  # both edges compared: the expected time lies between them
    return not compared


def retry_delay(attempts: int, first_s: float, cap_s: float, spread: int = 0) -> timedelta:
    """Return the wait after ``attempts`` failed tries: doubling from ``first_s``, capped.

    ``spread`` (the row id) shifts each row by up to ±20 %, so a backlog left by an outage
    at one subscriber does not come back in the same second.
    """
    jitter = 0.8 + 0.4 * ((spread * 2654435761) % 1000) / 1000
    seconds = min(first_s * 2 ** max(attempts - 1, 0), cap_s)
    return timedelta(seconds=seconds * jitter)


# ---------------------------------------------------------------- subscribers and the outbox


@dataclass(eq=False, kw_only=True)
class WebhookSubscription:
    """A URL of a carrier's system that receives some event types, signed with ``secret``."""

    url: str
    events: str  # comma-separated event types, sorted
    secret: str  # encrypted at rest by the storage adapter; shown once on creation
    created_at: datetime
    active: bool = True
    id: int | None = None

    @property
    def event_types(self) -> frozenset[str]:
        """Return the event types this subscriber receives."""
        return frozenset(e for e in self.events.split(",") if e)

    def wants(self, event_type: str) -> bool:
        """Return whether this subscriber receives ``event_type`` now."""
        return self.active and event_type in self.event_types


class WebhookStatus(StrEnum):
    """Where one outbox row is: waiting, held by a sender, or finished one way or another."""

    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after WEBHOOK_MAX_ATTEMPTS; later events go on
    CANCELLED = "cancelled"  # its subscriber was removed


UNFINISHED = frozenset({WebhookStatus.PENDING, WebhookStatus.SENDING})


@dataclass(eq=False, kw_only=True)
class WebhookMessage:
    """One event for one subscriber in the outbox; ``body`` is sent byte for byte each try.

    While SENDING, ``next_attempt_at`` is the sender's lease (its claim's identity);
    while PENDING, when the next try is due.
    """

    event_id: str
    subscription_id: int
    delivery_id: int
    event_type: str
    body: str
    created_at: datetime
    status: WebhookStatus = WebhookStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_status_code: int | None = None
    error: str | None = None
    sent_at: datetime | None = None
    id: int | None = None

    def is_claimed_until(self, lease: datetime) -> bool:
        """Return whether a sender still holds the row under the claim that ends at ``lease``."""
        return self.status is WebhookStatus.SENDING and self.next_attempt_at == lease

    def delivered(self, status_code: int, *, at: datetime) -> None:
        """Record that the subscriber answered 2xx."""
        self._require_sending("delivered")
        self.status = WebhookStatus.DELIVERED
        self.last_status_code = status_code
        self.error = None
        self.sent_at = at
        self.next_attempt_at = None

    def retry_at(self, when: datetime, *, status_code: int | None, error: str) -> None:
        """Try again at ``when``; the last try got ``status_code`` (None: no answer)."""
        self._require_sending("retried")
        self.status = WebhookStatus.PENDING
        self.next_attempt_at = when
        self.last_status_code = status_code
        self.error = error[:MAX_ERROR_LENGTH]

    def give_up(self, *, status_code: int | None, error: str) -> None:
        """Stop trying; the subscriber's later events of this delivery go out after it."""
        self._require_sending("given up")
        self.status = WebhookStatus.FAILED
        self.next_attempt_at = None
        self.last_status_code = status_code
        self.error = error[:MAX_ERROR_LENGTH]

    def cancel(self, reason: str) -> None:
        """Drop an unsent row (its subscriber is gone)."""
        if self.status not in UNFINISHED:
            raise InvalidTransition(f"A webhook already {self.status} cannot be cancelled.")
        self.status = WebhookStatus.CANCELLED
        self.next_attempt_at = None
        self.error = reason

    def _require_sending(self, what: str) -> None:
        if self.status is not WebhookStatus.SENDING:
            raise InvalidTransition(f"Only a webhook being sent can be {what}, not {self.status}.")


@dataclass(eq=False, kw_only=True)
class WebhookAttempt:
    """One POST of an outbox row, for the subscriber's delivery log."""

    message_id: int
    subscription_id: int
    attempt: int
    attempted_at: datetime
    status_code: int | None = None  # None: no HTTP answer (refused, timed out)
    error: str | None = None
    id: int | None = None


# ---------------------------------------------------------------- the HTTP port


@dataclass(frozen=True)
class WebhookResponse:
    """What one POST got: an HTTP status, or no answer and why."""

    status_code: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Return whether the subscriber took the event (any 2xx)."""
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookTransport(Protocol):
    """POST a body to a subscriber's URL with a short timeout; never raise for HTTP trouble."""

    def post(
        self, url: str, body: bytes, headers: dict[str, str], timeout_s: float
    ) -> WebhookResponse:
        """Return the status the URL answered, or None and the reason it did not answer."""
        ...
