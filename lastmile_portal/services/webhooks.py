"""Webhooks to carriers' systems: subscribers, the outbox written with the events, the sender.

``write_outbox`` runs inside every unit of work's commit (bootstrap wires it), so the
rows to send are stored in the transaction that records the delivery events, or not at
all. After the commit a ``webhook_outbox`` job runs ``send_due``, which claims one row at a
time, POSTs it signed outside any transaction, and records the try in another.

Guarantees: at least once (a sender that dies mid-send leaves a lease that runs out, and
the row is sent again; receivers deduplicate on the event id); in order per delivery and
subscriber (a row waits while an earlier row of the same delivery for the same subscriber
is unsent); retries double from WEBHOOK_RETRY_SECONDS up to WEBHOOK_RETRY_MAX_SECONDS; after
WEBHOOK_MAX_ATTEMPTS tries a row is marked failed and the delivery's later events go on.
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..domain import model as m
from ..domain import webhooks as wh
from ..domain.errors import NotFound
from ..domain.events import DeliveryStatusChanged, EtaChanged, Event
from ..domain.webhook_signing import EVENT_ID_HEADER, SIGNATURE_HEADER, sign
from . import Services
from .unit_of_work import Repository

log = logging.getLogger("lastmile.webhooks")

WEBHOOK_JOB = "webhook_outbox"
EVENT_TYPE_HEADER = "X-Lastmile-Event-Type"
DELIVERY_API_PATH = "/api/v1/deliveries/"  # the integration API's GET of one delivery
LOG_LIMIT = 50
REMOVED = "the subscription was removed"


# ---------------------------------------------------------------- subscribers


@dataclass(frozen=True)
class NewSubscription:
    """A subscriber just added; ``secret`` is shown this once."""

    id: int
    url: str
    events: tuple[str, ...]
    secret: str


@dataclass(frozen=True)
class SubscriptionInfo:
    """A subscriber as the operator lists it (never its secret)."""

    id: int
    url: str
    events: tuple[str, ...]
    active: bool
    created_at: datetime


@dataclass(frozen=True)
class LogLine:
    """One try at sending one event to a subscriber."""

    attempted_at: datetime
    event_id: str
    event_type: str
    attempt: int
    status_code: int | None
    error: str | None
    state: str  # where the event is now: delivered, pending (a retry is due), failed...


def add_subscription(services: Services, url: str, events: str) -> NewSubscription:
    """Subscribe ``url`` to the comma-separated event types; return it with its new secret."""
    url = wh.check_url(url)
    types = tuple(sorted(wh.parse_event_types(events)))
    secret = "whsec_" + secrets.token_urlsafe(32)
    with services.uow() as uow:
        subscription = wh.WebhookSubscription(
            url=url, events=",".join(types), secret=secret, created_at=services.clock.now()
        )
        uow.repo.add(subscription)
        uow.repo.flush()
        new = NewSubscription(id=subscription.id, url=url, events=types, secret=secret)  # type: ignore[arg-type]
        uow.commit()
    log.info("webhook subscription %s added for %s (%s)", new.id, url, ",".join(types))
    return new


def list_subscriptions(services: Services) -> list[SubscriptionInfo]:
    """Return every subscriber, removed ones too (their log stays readable)."""
    with services.uow() as uow:
        return [
            SubscriptionInfo(
                id=s.id,  # type: ignore[arg-type]
                url=s.url,
                events=tuple(sorted(s.event_types)),
                active=s.active,
                created_at=s.created_at,
            )
            for s in uow.repo.webhook_subscriptions(active_only=False)
        ]


def remove_subscription(services: Services, subscription_id: int) -> int:
    """Stop sending to a subscriber; cancel what it has not received; return how many."""
    with services.uow() as uow:
        subscription = uow.repo.get(wh.WebhookSubscription, subscription_id)
        if subscription is None:
            raise NotFound(f"There is no webhook subscription {subscription_id}.")
        subscription.active = False
        cancelled = uow.repo.cancel_webhook_messages(subscription_id, REMOVED)
        uow.commit()
    log.info("webhook subscription %s removed, %d unsent cancelled", subscription_id, cancelled)
    return cancelled


def delivery_log(services: Services, subscription_id: int, limit: int = LOG_LIMIT) -> list[LogLine]:
    """Return a subscriber's latest tries, newest first."""
    with services.uow() as uow:
        if uow.repo.get(wh.WebhookSubscription, subscription_id) is None:
            raise NotFound(f"There is no webhook subscription {subscription_id}.")
        return [
            LogLine(
                attempted_at=a.attempted_at,
                event_id=msg.event_id,
                event_type=msg.event_type,
                attempt=a.attempt,
                status_code=a.status_code,
                error=a.error,
                state=str(msg.status),
            )
            for a, msg in uow.repo.webhook_log(subscription_id, limit)
        ]


# ---------------------------------------------------------------- into the outbox


def has_webhook_events(events: list[Event]) -> bool:
    """Return whether any of ``events`` may have put webhooks in the outbox."""
    return any(e.delivery_id is not None and wh.event_type_of(e) for e in events)


def write_outbox(services: Services, repo: Repository, events: list[Event]) -> int:
    """Add one outbox row per event and interested subscriber, in the caller's transaction.

    Called by the unit of work as it commits, with the events in the order they happened.
    ``delivery.eta_changed`` goes to a subscriber only when the window moved more than
    WEBHOOK_ETA_MINUTES from the last window that subscriber was told (see docs/webhooks.md).
    """
    typed = [(e, t) for e in events if e.delivery_id is not None and (t := wh.event_type_of(e))]
    if not typed:
        return 0
    subscribers = repo.webhook_subscriptions()
    if not subscribers:
        return 0
    now = services.clock.now()
    base = services.settings.public_base_url
    told: dict[tuple[int | None, int], dict[str, Any] | None] = {}
    status_of = _status_at([e for e, _ in typed])
    written = 0
    for index, (event, event_type) in enumerate(typed):
        receivers = [s for s in subscribers if s.wants(event_type)]
        d = repo.get(m.Delivery, event.delivery_id) if receivers else None  # type: ignore[arg-type]
        if d is None or d.id is None:
            continue
        event_id = "evt_" + secrets.token_hex(12)
        for subscriber in receivers:
            previous: dict[str, Any] | None = None
            if isinstance(event, EtaChanged):
                key = (subscriber.id, d.id)
                if key not in told:
                    body = repo.last_webhook_body(subscriber.id, d.id, wh.ETA_CHANGED)  # type: ignore[arg-type]
                    told[key] = wh.told_eta(body) if body else None
                previous = told[key]
                window = wh.eta_window(event)
                if not wh.eta_moved(previous, window, services.settings.webhook_eta_minutes):
                    continue
                told[key] = window
            body = wh.payload_body(
                event_id=event_id,
                event_type=event_type,
                created_at=event.occurred_at,
                tracking_number=d.tracking_number,
                reference=d.reference,
                status=status_of(index, d),
                data=wh.event_data(
                    event,
                    delivery_url=f"{base}{DELIVERY_API_PATH}{d.tracking_number}",
                    previous_eta=previous,
                ),
            )
            repo.add(
                wh.WebhookMessage(
                    event_id=event_id,
                    subscription_id=subscriber.id,  # type: ignore[arg-type]
                    delivery_id=d.id,
                    event_type=event_type,
                    body=body,
                    created_at=now,
                    next_attempt_at=now,
                )
            )
            written += 1
    return written


def _status_at(events: list[Event]) -> Any:
    """Return a function giving a delivery's status as of the ``index``-th event.

    The status after the last change at or before that event; before the first change in
    this batch, that change's old status; with no change in the batch, the current one.
    """
    changes: dict[int, list[tuple[int, str, str]]] = {}
    for index, event in enumerate(events):
        if isinstance(event, DeliveryStatusChanged) and event.delivery_id is not None:
            changes.setdefault(event.delivery_id, []).append((index, event.old, event.new))

    def status_of(index: int, d: m.Delivery) -> str:
        mine = changes.get(d.id or -1, [])
        before = [new for i, _old, new in mine if i <= index]
        if before:
            return before[-1]
        if mine:
            return mine[0][1]
        return str(d.status)

    return status_of


# ---------------------------------------------------------------- out of the outbox


@dataclass(frozen=True)
class _Claim:
    """A row one sender holds until ``lease``; the lease doubles as the claim's identity."""

    id: int
    lease: datetime
    subscription_id: int
    url: str
    secret: str
    body: str
    event_id: str
    event_type: str
    attempts: int


def send_due(services: Services, limit: int = 200) -> dict[str, int]:
    """Send every webhook that is due; return how many ended each way.

    Each row is claimed alone (a short UPDATE), POSTed outside any transaction, and its
    outcome recorded in another, with a line in the subscriber's delivery log.
    """
    outcomes: Counter[str] = Counter()
    silent: set[int] = set()
    for _ in range(limit):
        claim = _claim_next(services, silent)
        if claim is None:
            break
        if isinstance(claim, str):
            outcomes[claim] += 1
            continue
        outcome, answered = _attempt(services, claim)
        outcomes[outcome] += 1
        if not answered:
            # A subscriber that did not answer (down, timing out) costs one timeout per run,
            # not one per event: the job queue's other work waits behind this run.
            silent.add(claim.subscription_id)
    else:
        # More may be due: queue another run rather than hold this worker for ever.
        services.jobs.enqueue(WEBHOOK_JOB, key=WEBHOOK_JOB)
    if outcomes:
        log.info("webhook run: %s", ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items())))
    return dict(outcomes)


def _claim_next(services: Services, skip: set[int]) -> _Claim | str | None:
    now = services.clock.now()
    lease = now + timedelta(seconds=services.settings.webhook_claim_s)
    with services.uow() as uow:
        message = uow.repo.claim_webhook_message(now, lease, sorted(skip))
        if message is None:
            return None
        subscription = uow.repo.get(wh.WebhookSubscription, message.subscription_id)
        if subscription is None or not subscription.active:
            message.cancel(REMOVED)
            uow.commit()
            return "cancelled"
        claim = _Claim(
            id=message.id,  # type: ignore[arg-type]
            lease=lease,
            subscription_id=message.subscription_id,
            url=subscription.url,
            secret=subscription.secret,
            body=message.body,
            event_id=message.event_id,
            event_type=message.event_type,
            attempts=message.attempts,
        )
        uow.commit()
        return claim


def _attempt(services: Services, claim: _Claim) -> tuple[str, bool]:
    """POST a claimed row and record the outcome; say whether the subscriber answered."""
    body = claim.body.encode()
    timestamp = int(services.clock.now().timestamp())
    headers = {
        SIGNATURE_HEADER: sign(claim.secret, body, timestamp),
        EVENT_ID_HEADER: claim.event_id,
        EVENT_TYPE_HEADER: claim.event_type,
    }
    try:
        response = services.webhook_transport.post(
            claim.url, body, headers, services.settings.webhook_timeout_s
        )
    except Exception as error:
        # A bug met by one row must not stop the rows behind it: it is retried like any failure.
        log.exception("webhook %s: unexpected error from the transport", claim.id)
        response = wh.WebhookResponse(None, f"unexpected error: {error!r}")
    return _record(services, claim, response), response.status_code is not None


def _record(services: Services, claim: _Claim, response: wh.WebhookResponse) -> str:
    now = services.clock.now()
    error = response.error or (None if response.ok else f"HTTP {response.status_code}")
    with services.uow() as uow:
        uow.repo.add(
            wh.WebhookAttempt(
                message_id=claim.id,
                subscription_id=claim.subscription_id,
                attempt=claim.attempts,
                attempted_at=now,
                status_code=response.status_code,
                error=error[: wh.MAX_ERROR_LENGTH] if error else None,
            )
        )
        message = uow.repo.get(wh.WebhookMessage, claim.id)
        if message is None or not message.is_claimed_until(claim.lease):
            outcome = "superseded"  # this sender stalled past its lease; another took over
        elif response.ok:
            message.delivered(response.status_code, at=now)  # type: ignore[arg-type]
            outcome = "delivered"
        elif claim.attempts >= services.settings.webhook_max_attempts:
            message.give_up(
                status_code=response.status_code,
                error=f"gave up after {claim.attempts} attempts: {error}",
            )
            outcome = "failed"
        else:
            delay = wh.retry_delay(
                claim.attempts,
                services.settings.webhook_retry_s,
                services.settings.webhook_retry_max_s,
                claim.id,
            )
            message.retry_at(now + delay, status_code=response.status_code, error=error or "")
            outcome = "retrying"
        uow.commit()
    if outcome != "delivered":
        log.warning(
            "webhook %s to subscription %s, attempt %d: %s (%s)",
            claim.event_id,
            claim.subscription_id,
            claim.attempts,
            error,
            outcome,
        )
    return outcome
