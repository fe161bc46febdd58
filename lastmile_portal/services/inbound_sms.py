"""Texts from recipients: keywords answered with the same use cases and rules as the web page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..domain import model as m
from ..domain import rescheduling as slot_rules
from ..domain.errors import DomainError, InvalidInput
from ..domain.events import Actor, ChoicesOffered, SmsReceived
from ..domain.sms import Command, Keyword, ReplyKind, gsm_safe, parse_reply
from ..domain.status import EN_ROUTE, DeliveryStatus
from ..domain.text import printable
from . import Services, instructions, lockers, notifications, ratings, rescheduling, tracking

# A parcel that is over for the recipient: questions are about another one, if any.
FINISHED = frozenset(
    {
        DeliveryStatus.DELIVERED,
        DeliveryStatus.COLLECTED,
        DeliveryStatus.RETURNED,
        DeliveryStatus.CANCELLED,
    }
)
RATING_WINDOW = timedelta(days=7)


MAX_INBOUND_CHARS = 1600


@dataclass(frozen=True)
class _Parcel:
    id: int
    token: str
    tracking_number: str


@dataclass(frozen=True)
class _Sender:
    """Who texted: the parcel a question is about, and the last one handed over (to rate)."""

    phone: str
    current: _Parcel | None
    delivered: _Parcel | None


def receive_sms(services: Services, *, provider_sid: str, from_phone: str, body: str) -> str:
    """Act on a recipient's text and return the reply to send back.

    A webhook delivered twice gets the first reply again and changes nothing more.
    """
    if not provider_sid:
        raise InvalidInput("MessageSid is missing.")
    # Stored, shown to support and parsed for keywords: printable text only, and no
    # longer than the longest text Twilio delivers.
    body = printable(body)[:MAX_INBOUND_CHARS]
    with services.uow() as uow:
        seen = uow.repo.inbound_by_provider_sid(provider_sid)
        if seen is not None:
            return seen.reply or ""
    sender = _sender(services, from_phone)
    command = parse_reply(body)
    kind, values, about = _answer(services, command, sender)
    reply = (
        notifications.render(services, kind, values)
        if isinstance(kind, ReplyKind)
        else services.sms_templates.render(str(kind), values)
    )
    now = services.clock.now()
    with services.uow() as uow:
        if uow.repo.inbound_by_provider_sid(provider_sid) is None:
            uow.repo.add(
                m.InboundSms(
                    provider_sid=provider_sid,
                    from_phone=sender.phone,
                    body=body,
                    received_at=now,
                    delivery_id=about,
                    reply=reply,
                )
            )
            d = uow.repo.get(m.Delivery, about) if about is not None else None
            if d is not None:
                d.record(
                    SmsReceived(
                        delivery_id=about,
                        occurred_at=now,
                        actor=Actor.SMS,
                        body=body[:160],
                        keyword=str(command.keyword),
                        reply=reply,
                    )
                )
            uow.commit()
    return reply


def _sender(services: Services, raw_phone: str) -> _Sender:
    try:
        phone = services.phones.normalise(raw_phone)
    except InvalidInput:
        return _Sender(phone=printable(raw_phone)[:20], current=None, delivered=None)
    now = services.clock.now()
    with services.uow() as uow:
        parcels = uow.repo.deliveries_for_phone(phone)  # newest first
        active = sorted(
            (d for d in parcels if d.status not in FINISHED), key=lambda d: d.status not in EN_ROUTE
        )
        current = active[0] if active else (parcels[0] if parcels else None)
        delivered = max(
            (
                d
                for d in parcels
                if d.status in m.RATABLE and now - (d.updated_at or d.created_at) <= RATING_WINDOW
            ),
            key=lambda d: d.updated_at or d.created_at,
            default=None,
        )
        return _Sender(phone=phone, current=_parcel(current), delivered=_parcel(delivered))


def _parcel(d: m.Delivery | None) -> _Parcel | None:
    if d is None or d.id is None:
        return None
    return _Parcel(id=d.id, token=d.tracking_token, tracking_number=d.tracking_number)


def _answer(
    services: Services, command: Command, sender: _Sender
) -> tuple[ReplyKind, dict[str, Any], int | None]:
    """Run what the text asks for; return the reply's kind, its values, and the parcel."""
    parcel = sender.current
    link = services.tracking_url(parcel.token) if parcel else ""
    about = parcel.id if parcel else None
    word = command.keyword
    if word is Keyword.STOP:
        notifications.opt_out(services, sender.phone)
        return ReplyKind.STOPPED, {}, about
    if word is Keyword.START:
        notifications.opt_in(services, sender.phone)
        return ReplyKind.STARTED, {}, about
    offer = _open_offer(services, parcel) if parcel and word is Keyword.DIGIT else None
    if word is Keyword.DIGIT and parcel is not None and offer is not None:
        # A numbered offer we just texted is open: its digits choose, nothing else.
        return _choose(services, parcel, offer, int(command.text), link)
    if word is Keyword.DIGIT and sender.delivered is not None and int(command.text) <= 5:
        # No offer is open, so a digit after a delivery is a rating.
        rated = sender.delivered
        try:
            ratings.rate_delivery(services, rated.id, int(command.text), actor=Actor.SMS)
        except DomainError as error:
            return _refused(error, link, rated.id)
        values = {"tracking_number": rated.tracking_number, "score": int(command.text)}
        return ReplyKind.RATED, values, rated.id
    if parcel is None:
        return ReplyKind.UNKNOWN_SENDER, {}, None
    if word is Keyword.ETA:
        return _eta(services, parcel, link)
    if word is Keyword.SAFE:
        try:
            where = instructions.set_safe_place(services, parcel.id, command.text, actor=Actor.SMS)
        except DomainError as error:
            return _refused(error, link, about)
        values = {"tracking_number": parcel.tracking_number, "safe_place": gsm_safe(where, 60)}
        return ReplyKind.SAFE_PLACE_SET, values, about
    if word is Keyword.LOCKER:
        return _offer_lockers(services, parcel, link)
    if (word is Keyword.DIGIT and int(command.text) <= 3) or (
        word is Keyword.UNCLEAR and slot_rules.asks_for_slots(command.text)
    ):
        # A digit with no offer open, or "SLOT": offer the slots the page would offer.
        return _offer_slots(services, parcel, link)
    return ReplyKind.HELP, {"link": link}, about


def _eta(
    services: Services, parcel: _Parcel, link: str
) -> tuple[ReplyKind, dict[str, Any], int | None]:
    view = tracking.get_tracking(services, parcel.token)
    if view.en_route and view.eta_earliest and view.eta_latest:
        values: dict[str, Any] = {
            "tracking_number": view.tracking_number,
            "eta": notifications.time_span(services, view.eta_earliest, view.eta_latest),
            "stops_before": view.stops_before,
            "link": link,
        }
        return ReplyKind.ETA, values, parcel.id
    values = {
        "tracking_number": view.tracking_number,
        "status": view.status_label,
        "window": notifications.time_span(services, view.window_start, view.window_end),
        "link": link,
    }
    return ReplyKind.STATUS, values, parcel.id


def _refused(
    error: DomainError, link: str, about: int | None
) -> tuple[ReplyKind, dict[str, Any], int | None]:
    return ReplyKind.REFUSED, {"reason": error.message, "link": link}, about


# ---------------------------------------------------------------- numbered choices (issue 11)


@dataclass(frozen=True)
class _Offer:
    what: str  # "slots" or "lockers"
    ids: tuple[int, ...]


def _open_offer(services: Services, parcel: _Parcel) -> _Offer | None:
    """Return the numbered offer texted about ``parcel`` if it is still open.

    Open: the newest offer, not expired, and nothing chosen since (a move or a locker).
    """
    now = services.clock.now()
    with services.uow() as uow:
        entries = uow.repo.timeline(parcel.id)
    offered = [i for i, e in enumerate(entries) if e.kind == "ChoicesOffered"]
    if not offered:
        return None
    last = entries[offered[-1]]
    chosen_since = any(
        e.kind in ("DeliveryRescheduled", "LockerChosen") for e in entries[offered[-1] + 1 :]
    )
    if chosen_since or datetime.fromisoformat(last.data["expires_at"]) <= now:
        return None
    return _Offer(what=str(last.data["what"]), ids=tuple(int(i) for i in last.data["ids"]))


def _record_offer(services: Services, parcel: _Parcel, what: str, ids: list[int]) -> None:
    now = services.clock.now()
    with services.uow() as uow:
        d = uow.repo.get(m.Delivery, parcel.id)
        if d is None:
            return
        d.record(
            ChoicesOffered(
                delivery_id=parcel.id,
                occurred_at=now,
                actor=Actor.SMS,
                what=what,
                ids=tuple(ids),
                expires_at=now + slot_rules.OFFER_OPEN_FOR,
            )
        )
        uow.commit()


def _slot_label(services: Services, starts_at: datetime, ends_at: datetime) -> str:
    day = starts_at.astimezone(ZoneInfo(services.settings.timezone)).strftime("%a %-d %b")
    return f"{day} {notifications.time_span(services, starts_at, ends_at)}"


def _offer_slots(
    services: Services, parcel: _Parcel, link: str
) -> tuple[ReplyKind, dict[str, Any], int | None]:
    """Text the first slots the page offers, numbered; the digits then choose one."""
    try:
        offered = rescheduling.sms_offer(services, parcel.id)
    except DomainError as error:
        return _refused(error, link, parcel.id)
    if not offered:
        none = {"tracking_number": parcel.tracking_number, "what": "other slot", "link": link}
        return ReplyKind.NO_CHOICES, none, parcel.id
    _record_offer(services, parcel, "slots", [o.slot_id for o in offered])
    choices = [_slot_label(services, o.starts_at, o.ends_at) for o in offered]
    values: dict[str, Any] = {
        "tracking_number": parcel.tracking_number,
        "choices": choices,
        "link": link,
    }
    return ReplyKind.SLOTS_OFFERED, values, parcel.id


def _offer_lockers(
    services: Services, parcel: _Parcel, link: str
) -> tuple[ReplyKind, dict[str, Any], int | None]:
    """Text the nearest lockers with room for the parcel, numbered."""
    try:
        near = lockers.nearby(services, parcel.id, slot_rules.SMS_CHOICES)
    except DomainError as error:
        return _refused(error, link, parcel.id)
    if not near:
        none = {"tracking_number": parcel.tracking_number, "what": "locker", "link": link}
        return ReplyKind.NO_CHOICES, none, parcel.id
    _record_offer(services, parcel, "lockers", [o.locker_id for o in near])
    choices = [f"{gsm_safe(o.name, 30)} ({_distance(o.distance_m)})" for o in near]
    values: dict[str, Any] = {
        "tracking_number": parcel.tracking_number,
        "choices": choices,
        "link": link,
    }
    return ReplyKind.LOCKERS_OFFERED, values, parcel.id


def _distance(metres: float) -> str:
    return f"{round(metres / 10) * 10} m" if metres < 1000 else f"{metres / 1000:.1f} km"


def _choose(
    services: Services, parcel: _Parcel, offer: _Offer, digit: int, link: str
) -> tuple[ReplyKind, dict[str, Any], int | None]:
    """Act on a digit answering an open offer, through the page's own use cases."""
    if digit > len(offer.ids):
        # Not one of the numbers we texted: say them again rather than guess.
        return (_offer_slots if offer.what == "slots" else _offer_lockers)(services, parcel, link)
    chosen = offer.ids[digit - 1]
    try:
        if offer.what == "lockers":
            choice = lockers.choose_locker(services, parcel.token, chosen)
            by = notifications.local_time(services, choice.by) if choice.by else None
            chosen_values = {
                "tracking_number": parcel.tracking_number,
                "locker": gsm_safe(choice.locker_name, 40),
                "by": by,
            }
            return ReplyKind.LOCKER_CHOSEN, chosen_values, parcel.id
        moved = rescheduling.move_to_slot(services, parcel.token, chosen, actor=Actor.SMS)
    except DomainError as error:
        return _refused(error, link, parcel.id)
    values: dict[str, Any] = {
        "tracking_number": parcel.tracking_number,
        "window": _slot_label(services, moved.window_start, moved.window_end),
        "same_day": moved.same_day,
    }
    return ReplyKind.SLOT_MOVED, values, parcel.id
