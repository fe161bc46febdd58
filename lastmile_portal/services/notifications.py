"""Texts to recipients: the transactional outbox, the sender that empties it, provider reports.

Use cases call ``queue_message`` inside their own unit of work, so a text is stored with
the change that causes it, or not at all; after the commit a ``send_outbox`` job runs
``send_due``, which hands due texts to the SmsGateway one claimed row at a time.

A text's life: PENDING (or DEFERRED for quiet hours) → SENDING (claimed by one sender,
until its lease runs out) → QUEUED (the provider took it) → SENT → DELIVERED /
UNDELIVERED / FAILED from the provider's status reports; or CANCELLED (opted out, no longer
relevant) or FAILED (invalid number, unsubscribed, too many attempts) without a send.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..domain import instructions as handover_rules
from ..domain import model as m
from ..domain.errors import InvalidInput
from ..domain.events import (
    Event,
    SmsCancelled,
    SmsFailed,
    SmsQueued,
    SmsSent,
    SmsStatusReported,
)
from ..domain.sms import (
    MAX_SEGMENTS,
    PROVIDER_STATUS,
    URGENT,
    MessageKind,
    ReplyKind,
    SendOutcome,
    SmsSendError,
    count_segments,
    gsm_safe,
    idempotency_key,
    parse_quiet_hours,
    retry_delay,
    why_not_send,
)
from . import Services
from .unit_of_work import UnitOfWork

log = logging.getLogger("lastmile.sms")

OUTBOX_JOB = "send_outbox"
STATUS_CALLBACK_PATH = "/webhooks/twilio/status"
# The provider's last word on a text: worth a line on the parcel's timeline.
SMS_OUTCOMES = frozenset({m.SmsStatus.DELIVERED, m.SmsStatus.UNDELIVERED, m.SmsStatus.FAILED})

HANDED_OVER: dict[m.DeliveryOption, str] = {
    m.DeliveryOption.DOOR: "handed over",
    m.DeliveryOption.SAFE_PLACE: "left at your safe place",
    m.DeliveryOption.NEIGHBOUR: "given to your neighbour",
    m.DeliveryOption.VEHICLE_TRUNK: "left in your car boot",
}


def render(services: Services, kind: MessageKind | ReplyKind, values: dict[str, Any]) -> str:
    """Render a text from its template; warn if it needs more than two SMS parts."""
    body = services.sms_templates.render(str(kind), values)
    parts = count_segments(body)
    if parts.count > MAX_SEGMENTS:
        log.warning("SMS %s needs %d %s parts: %r", kind, parts.count, parts.encoding, body)
    return body


def local_time(services: Services, at: datetime) -> str:
    """Return ``at`` as HH:MM in the operating time zone (the one the pages show)."""
    return at.astimezone(ZoneInfo(services.settings.timezone)).strftime("%H:%M")


def time_span(services: Services, start: datetime | None, end: datetime | None) -> str:
    """Return "13:00-15:00" (a plain hyphen: an en dash would make the text UCS-2)."""
    if start is None or end is None:
        return ""
    return f"{local_time(services, start)}-{local_time(services, end)}"


# ---------------------------------------------------------------- into the outbox


def queue_message(
    services: Services,
    uow: UnitOfWork,
    delivery: m.Delivery,
    kind: MessageKind,
    *,
    occasion: str | None = None,
    values: dict[str, Any] | None = None,
    not_before: datetime | None = None,
) -> bool:
    """Put a text about ``delivery`` in the outbox of the caller's unit of work.

    One text per (delivery, kind, occasion): asking again is a no-op that returns False.
    A text that must not go out (invalid number, opted out, that kind turned off) is still
    stored, with the reason, so support can see why the recipient heard nothing.
    ``not_before`` holds the text back until then (quiet hours may hold it longer).
    """
    if delivery.id is None:
        raise ValueError("flush the delivery before queueing texts about it")
    key = idempotency_key(delivery.id, kind, occasion)
    if uow.repo.outbox_message(key) is not None:
        return False
    now = services.clock.now()
    body = render(services, kind, {**_values(services, uow, delivery, kind), **(values or {})})
    message = m.OutboundSms(
        idempotency_key=key,
        kind=str(kind),
        to=delivery.phone,
        body=body,
        created_at=now,
        delivery_id=delivery.id,
    )
    event = _first_status(services, uow, delivery, message, now, not_before)
    if not uow.repo.add_outbox_message(message):
        return False  # a concurrent transaction queued the same text first
    delivery.record(event)
    return True


def _first_status(
    services: Services,
    uow: UnitOfWork,
    d: m.Delivery,
    message: m.OutboundSms,
    now: datetime,
    not_before: datetime | None = None,
) -> Event:
    """Decide how a new text starts its life, and return the timeline event saying so."""
    common: dict[str, Any] = {"delivery_id": d.id, "occurred_at": now}
    try:
        message.to = services.phones.normalise(d.phone)
    except InvalidInput as error:
        message.fail(error.message, at=now)
        return SmsFailed(**common, message_kind=message.kind, error=error.message)
    reason = _blocked(uow, d, message.to) or _muted(d, message.kind)
    if reason is not None:
        message.cancel(reason, at=now)
        return SmsCancelled(**common, message_kind=message.kind, reason=reason)
    until = _quiet_until(services, d, message.kind, max(now, not_before or now))
    if not_before is not None and not_before > now:
        until = max(until or not_before, not_before)
    if until is not None:
        message.defer(until)
    return SmsQueued(
        **common,
        message_kind=message.kind,
        idempotency_key=message.idempotency_key,
        deferred_until=local_time(services, until) if until else None,
    )


def _values(
    services: Services, uow: UnitOfWork, d: m.Delivery, kind: MessageKind
) -> dict[str, Any]:
    """Return what every template may use; callers add or override kind-specific values."""
    driver = ""
    if kind in (MessageKind.APPROACHING, MessageKind.ARRIVED) and d.stop_id is not None:
        stop = uow.repo.get(m.Stop, d.stop_id)
        route = uow.repo.get(m.Route, stop.route_id) if stop and stop.route_id else None
        person = uow.repo.get(m.Driver, route.driver_id) if route else None
        driver = gsm_safe(person.first_name, 20) if person else ""
    return {
        "first_name": gsm_safe(d.recipient_first_name, 20),
        "tracking_number": d.tracking_number,
        "link": services.tracking_url(d.tracking_token),
        "window": time_span(services, d.window_start, d.window_end),
        "driver": driver,
        "time": local_time(services, services.clock.now()),
        "where": HANDED_OVER.get(d.option, ""),
    }


def _blocked(uow: UnitOfWork, d: m.Delivery | None, phone: str) -> str | None:
    if d is not None and not d.sms_enabled:
        return "the recipient turned texts off"
    if uow.repo.opt_out_of(phone) is not None:
        return "the recipient texted STOP"
    return None


def _muted(d: m.Delivery | None, kind: str) -> str | None:
    """Return why a text of ``kind`` must not go out to a recipient who turned it off."""
    if d is not None and handover_rules.is_muted(d.sms_muted, kind):
        return f"the recipient turned '{kind.replace('_', ' ')}' texts off"
    return None


def _quiet_until(services: Services, d: m.Delivery, kind: str, now: datetime) -> datetime | None:
    if kind in URGENT:
        return None
    try:
        quiet = parse_quiet_hours(d.quiet_hours or services.settings.quiet_hours)
    except InvalidInput:
        log.warning("delivery %s has unreadable quiet hours %r", d.id, d.quiet_hours)
        quiet = parse_quiet_hours(services.settings.quiet_hours)
    return quiet.until(now, services.settings.timezone) if quiet else None


# ---------------------------------------------------------------- out of the outbox


@dataclass(frozen=True)
class _Claim:
    """A text one sender holds until ``lease``; the lease doubles as the claim's identity."""

    id: int
    lease: datetime
    to: str
    body: str
    kind: str
    attempts: int
    in_doubt: bool
    since: datetime
    delivery_id: int | None


def send_due(services: Services, limit: int = 500) -> dict[SendOutcome, int]:
    """Send every text that is due; return how many ended each way.

    Each text is claimed alone (a short UPDATE), sent outside any transaction, and its
    outcome recorded in another: two senders never hold the same text, and a sender that
    dies mid-send leaves a claim that expires and is checked with the provider before the
    text is sent again. A 429 ends the run early: the provider asked us to slow down.
    """
    outcomes: Counter[SendOutcome] = Counter()
    for _ in range(limit):
        claim = _claim_next(services)
        if claim is None:
            break
        if isinstance(claim, SendOutcome):  # cancelled or deferred without a send
            outcomes[claim] += 1
            continue
        outcome = _attempt(services, claim)
        outcomes[outcome] += 1
        if outcome is SendOutcome.RATE_LIMITED:
            break
    else:
        # More may be due: queue another run rather than hold this worker for ever.
        services.jobs.enqueue(OUTBOX_JOB, key=OUTBOX_JOB)
    if outcomes:
        log.info("outbox run: %s", ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items())))
    return dict(outcomes)


def _claim_next(services: Services) -> _Claim | SendOutcome | None:
    """Claim the next due text, or settle it at once if it must not go out now (say how)."""
    now = services.clock.now()
    lease = now + timedelta(seconds=services.settings.sms_claim_s)
    with services.uow() as uow:
        claimed = uow.repo.claim_outbox_message(now, lease)
        if claimed is None:
            return None
        message, in_doubt = claimed
        if not in_doubt:
            d = uow.repo.get(m.Delivery, message.delivery_id) if message.delivery_id else None
            held = _hold_back(services, uow, message, d, now)
            if held is not None:
                uow.commit()
                return held
            message.attempt()
        claim = _Claim(
            id=message.id,  # type: ignore[arg-type]
            lease=lease,
            to=message.to,
            body=message.body,
            kind=message.kind,
            attempts=message.attempts,
            in_doubt=in_doubt,
            since=message.created_at,
            delivery_id=message.delivery_id,
        )
        uow.commit()
        return claim


def _hold_back(
    services: Services,
    uow: UnitOfWork,
    message: m.OutboundSms,
    d: m.Delivery | None,
    now: datetime,
) -> SendOutcome | None:
    """Cancel or defer a claimed text if it must not go out now; return which, or None."""
    reason = _blocked(uow, d, message.to) or _muted(d, message.kind)
    if reason is None and d is not None:
        reason = why_not_send(message.kind, d.status, message.created_at, now)
    if reason is not None:
        message.cancel(reason, at=now)
        if d is not None:
            d.record(
                SmsCancelled(
                    delivery_id=d.id, occurred_at=now, message_kind=message.kind, reason=reason
                )
            )
        return SendOutcome.CANCELLED
    # A retry can drift into the night; quiet hours hold it until morning.
    until = _quiet_until(services, d, message.kind, now) if d is not None else None
    if until is not None:
        message.defer(until)
        return SendOutcome.DEFERRED
    return None


def _attempt(services: Services, claim: _Claim) -> SendOutcome:
    """Send a claimed text, or first ask the provider whether an earlier try got through."""
    try:
        if claim.in_doubt:
            sid = services.sms.find_sent(claim.to, claim.body, claim.since)
            if sid is None:
                return _release(services, claim)
        else:
            callback = f"{services.settings.public_base_url}{STATUS_CALLBACK_PATH}?m={claim.id}"
            sid = services.sms.send(claim.to, claim.body, status_callback=callback)
    except SmsSendError as error:
        return _record_failure(services, claim, error)
    except Exception as error:
        # A bug met by one text (its number, its body) must not stop the texts behind it:
        # it is retried with backoff like any failure, within SMS_MAX_ATTEMPTS.
        log.exception("SMS %s: unexpected error from the gateway", claim.id)
        return _record_failure(services, claim, SmsSendError(f"unexpected error: {error!r}"))
    return _record_sent(services, claim, sid)


def _record_sent(services: Services, claim: _Claim, sid: str) -> SendOutcome:
    now = services.clock.now()
    with services.uow() as uow:
        message = uow.repo.get(m.OutboundSms, claim.id)
        assert message is not None
        if message.provider_sid not in (None, sid):
            # Only a sender stalled past its lease gets here; the text went out twice.
            log.error("SMS %s was sent twice: %s and %s", claim.id, message.provider_sid, sid)
            return SendOutcome.DUPLICATE
        if message.accepted(sid, at=now):
            _record_on(
                uow,
                claim.delivery_id,
                SmsSent(
                    delivery_id=claim.delivery_id,
                    occurred_at=now,
                    message_kind=claim.kind,
                    provider_sid=sid,
                    attempts=claim.attempts,
                ),
            )
        uow.commit()
    return SendOutcome.RECOVERED if claim.in_doubt else SendOutcome.SENT


def _release(services: Services, claim: _Claim) -> SendOutcome:
    """Put an in-doubt text the provider never saw back in line (or give up on it)."""
    now = services.clock.now()
    with services.uow() as uow:
        message = uow.repo.get(m.OutboundSms, claim.id)
        if message is None or not message.is_claimed_until(claim.lease):
            return SendOutcome.SUPERSEDED
        if claim.attempts >= services.settings.sms_max_attempts:
            _fail(uow, message, claim, now, f"gave up after {claim.attempts} attempts")
            outcome = SendOutcome.FAILED
        else:
            message.retry_at(now)
            outcome = SendOutcome.RELEASED
        uow.commit()
    return outcome


def _record_failure(services: Services, claim: _Claim, error: SmsSendError) -> SendOutcome:
    now = services.clock.now()
    with services.uow() as uow:
        message = uow.repo.get(m.OutboundSms, claim.id)
        if message is None or not message.is_claimed_until(claim.lease):
            return SendOutcome.SUPERSEDED
        if error.opted_out and uow.repo.opt_out_of(claim.to) is None:
            uow.repo.add(m.SmsOptOut(phone=claim.to, opted_out_at=now))
        if error.permanent:
            _fail(uow, message, claim, now, str(error))
            outcome = SendOutcome.FAILED
        elif claim.attempts >= services.settings.sms_max_attempts and not error.in_doubt:
            _fail(uow, message, claim, now, f"gave up after {claim.attempts} attempts: {error}")
            outcome = SendOutcome.FAILED
        else:
            delay = retry_delay(claim.attempts, services.settings.sms_retry_s, claim.id)
            # A text that may have gone out is never given up or resent blindly: it stays
            # claimed, and when the wait is over the next sender asks the provider first.
            message.retry_at(now + delay, error=str(error), in_doubt=error.in_doubt)
            outcome = SendOutcome.RATE_LIMITED if error.rate_limited else SendOutcome.RETRYING
        uow.commit()
    log.warning("SMS %s attempt %d: %s (%s)", claim.id, claim.attempts, error, outcome)
    return outcome


def _fail(
    uow: UnitOfWork, message: m.OutboundSms, claim: _Claim, now: datetime, error: str
) -> None:
    message.fail(error, at=now)
    _record_on(
        uow,
        claim.delivery_id,
        SmsFailed(
            delivery_id=claim.delivery_id, occurred_at=now, message_kind=claim.kind, error=error
        ),
    )


def _record_on(uow: UnitOfWork, delivery_id: int | None, event: Event) -> None:
    """Put an SMS event on its delivery's timeline (loading a row changes nothing in it)."""
    d = uow.repo.get(m.Delivery, delivery_id) if delivery_id is not None else None
    if d is not None:
        d.record(event)


# ---------------------------------------------------------------- reports and preferences


def record_status(
    services: Services,
    *,
    provider_sid: str,
    status: str,
    error_code: str | None = None,
    outbox_id: int | None = None,
    opted_out: bool = False,
) -> bool:
    """Apply a provider's status report to a text; return whether the text changed.

    Reports only move a text forward, so duplicates and stragglers are harmless. A report
    may arrive before the sender has recorded the provider's id: ``outbox_id`` (from the
    callback URL) finds the text then.
    """
    reported = PROVIDER_STATUS.get(status.strip().lower())
    now = services.clock.now()
    with services.uow() as uow:
        message = uow.repo.outbox_by_provider_sid(provider_sid)
        if message is None and outbox_id is not None:
            candidate = uow.repo.get(m.OutboundSms, outbox_id)
            if candidate is not None and candidate.provider_sid in (None, provider_sid):
                message = candidate
                message.identify(provider_sid)
        if message is None:
            log.info("status %r for unknown SMS %s ignored", status, provider_sid)
            return False
        if opted_out and uow.repo.opt_out_of(message.to) is None:
            uow.repo.add(m.SmsOptOut(phone=message.to, opted_out_at=now))
        moved = reported is not None and message.apply_status(
            reported, at=now, error_code=error_code
        )
        if moved and message.status in SMS_OUTCOMES:
            _record_on(
                uow,
                message.delivery_id,
                SmsStatusReported(
                    delivery_id=message.delivery_id,
                    occurred_at=now,
                    message_kind=message.kind,
                    status=str(message.status),
                    error_code=error_code or None,
                ),
            )
        uow.commit()
        return moved


def opt_out(services: Services, phone: str) -> None:
    """Stop every text to ``phone`` (E.164); queued ones are cancelled when their turn comes."""
    with services.uow() as uow:
        if uow.repo.opt_out_of(phone) is None:
            uow.repo.add(m.SmsOptOut(phone=phone, opted_out_at=services.clock.now()))
            uow.commit()


def opt_in(services: Services, phone: str) -> None:
    """Allow texts to ``phone`` again after a STOP."""
    with services.uow() as uow:
        existing = uow.repo.opt_out_of(phone)
        if existing is not None:
            uow.repo.delete(existing)
            uow.commit()


# ---------------------------------------------------------------- after the hand-over (issue 11)

# Asked an hour after the hand-over, not with the "delivered" text: first the parcel, then
# the question (quiet hours may hold it until morning).
RATING_REQUEST_DELAY = timedelta(hours=1)


def queue_rating_request(services: Services, uow: UnitOfWork, d: m.Delivery) -> bool:
    """Queue the ``rating_request`` text for a parcel just delivered or collected, once."""
    if d.status not in m.RATABLE:
        return False
    return queue_message(
        services,
        uow,
        d,
        MessageKind.RATING_REQUEST,
        not_before=services.clock.now() + RATING_REQUEST_DELAY,
    )
