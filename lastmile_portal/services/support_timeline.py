"""One page per delivery for support: its details and everything that happened, merged.

Read only (and the proof photos it links to). The timeline merges, oldest first:
the delivery's own timeline lines (customer changes, driver events, proof with the
geofence distance and its "too far" flag, every re-plan with why the ETA moved, support's
actions), every text we sent with its delivery status as the provider last reported it,
and every text the recipient sent us. The SMS bookkeeping lines (queued, sent, status
reported) are left out: the text's own line says the same, once. Access codes are never
part of the page: only that there is one (a supervisor may reveal it, on the timeline).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..domain import model as m
from ..domain import photo_links
from ..domain.errors import NotFound
from ..domain.events import Actor, TimelineEntry
from ..domain.status import LABELS
from . import Services
from .proof_view import LinkExpired, LinkInvalid, PhotoFile
from .unit_of_work import UnitOfWork

STAFF = "staff"
# Event summaries carry ISO times ("arrival 2026-12-02T10:17:20+00:00"): shown as local HH:MM.
_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d)")
# A text's tracking link is the recipient's key to their parcel: the timeline never shows it.
_TRACKING_LINK = re.compile(r"(/t/)[A-Za-z0-9_-]{16,}")
MAX_ID = 2**31 - 1
# The outbox row is the text's line; these are its bookkeeping on the delivery's timeline.
TEXT_BOOKKEEPING = frozenset(
    {"SmsQueued", "SmsSent", "SmsFailed", "SmsCancelled", "SmsStatusReported", "SmsReceived"}
)
ACTOR_WORDS = {
    Actor.CUSTOMER.value: "Recipient",
    Actor.DRIVER.value: "Driver",
    Actor.SUPPORT.value: "Support",
    Actor.SYSTEM.value: "System",
    Actor.OPTIMIZER.value: "Optimizer",
    Actor.SMS.value: "Recipient by text",
}


@dataclass(frozen=True)
class Photo:
    """A proof photo behind signed staff links (thumbnail and full size)."""

    id: int
    thumb_url: str
    full_url: str


@dataclass(frozen=True)
class Item:
    """One line of the merged timeline."""

    at: datetime
    source: str  # "event" | "text_out" | "text_in"
    kind: str
    summary: str
    who: str
    detail: str = ""
    flagged: bool = False  # a proof too far from the address, a text that did not arrive
    photos: tuple[Photo, ...] = ()


@dataclass(frozen=True)
class DeliveryPage:
    """What support sees of one delivery."""

    delivery_id: int
    tracking_number: str
    reference: str | None
    recipient_name: str
    phone: str
    email: str | None
    address_line: str
    postcode: str
    city: str
    status: str
    status_label: str
    version: int
    service_date: Any
    window_start: datetime | None
    window_end: datetime | None
    option: str
    safe_place: str | None
    neighbour: str | None
    instructions: str | None
    has_access_code: bool
    locker_name: str | None
    driver_name: str | None
    driver_id: int | None
    expected_arrival: datetime | None
    items: tuple[Item, ...] = field(default_factory=tuple)


def delivery_page(services: Services, tracking_number: str) -> DeliveryPage:
    """Return the delivery's details and its merged timeline; NotFound for no such parcel."""
    with services.uow() as uow:
        d = uow.repo.delivery_by_tracking_number(tracking_number.strip().upper()[:32])
        if d is None or d.id is None:
            raise NotFound("No parcel with that tracking number.")
        stop = uow.repo.get(m.Stop, d.stop_id) if d.stop_id is not None else None
        route = uow.repo.get(m.Route, stop.route_id) if stop and stop.route_id else None
        driver = uow.repo.get(m.Driver, route.driver_id) if route else None
        locker = uow.repo.get(m.Locker, d.locker_id) if d.locker_id is not None else None
        items = _items(services, uow, d)
        return DeliveryPage(
            delivery_id=d.id,
            tracking_number=d.tracking_number,
            reference=d.reference,
            recipient_name=d.recipient_name,
            phone=d.phone,
            email=d.email,
            address_line=d.address_line,
            postcode=d.postcode,
            city=d.city,
            status=d.status.value,
            status_label=LABELS[d.status],
            version=d.version,
            service_date=d.service_date,
            window_start=d.window_start,
            window_end=d.window_end,
            option=d.option.value,
            safe_place=d.safe_place,
            neighbour=d.neighbour,
            instructions=d.instructions,
            has_access_code=bool(d.access_code),
            locker_name=locker.name if locker else None,
            driver_name=driver.name if driver else None,
            driver_id=driver.id if driver else None,
            expected_arrival=(stop.expected_arrival or stop.planned_arrival) if stop else None,
            items=items,
        )


def _items(services: Services, uow: UnitOfWork, d: m.Delivery) -> tuple[Item, ...]:
    assert d.id is not None
    entries = [e for e in uow.repo.timeline(d.id) if e.kind not in TEXT_BOOKKEEPING]
    names = _names(uow, entries)
    merged: list[tuple[datetime, int, Item]] = []
    for order, e in enumerate(entries):
        merged.append((e.occurred_at, order, _event_item(services, d, e, names)))
    for text in uow.repo.outbox_of(d.id):
        status = text.status.value
        bad = status in ("failed", "undelivered", "cancelled")
        detail = f"{text.kind.replace('_', ' ')} · {status}"
        if text.error:
            detail += f": {text.error}"
        merged.append(
            (
                text.created_at,
                10**6 + (text.id or 0),
                Item(
                    text.created_at,
                    "text_out",
                    text.kind,
                    _TRACKING_LINK.sub(r"\1…", text.body),
                    "Text to recipient",
                    detail,
                    flagged=bad,
                ),
            )
        )
    for inbound in uow.repo.inbound_of(d.id):
        detail = f"our answer: {inbound.reply}" if inbound.reply else ""
        merged.append(
            (
                inbound.received_at,
                2 * 10**6 + (inbound.id or 0),
                Item(
                    inbound.received_at,
                    "text_in",
                    "text_in",
                    inbound.body,
                    "Text from recipient",
                    detail,
                ),
            )
        )
    merged.sort(key=lambda t: (t[0], t[1]))
    return tuple(item for _, _, item in merged)


def _names(uow: UnitOfWork, entries: list[TimelineEntry]) -> dict[tuple[str, str], str]:
    """Return the names behind staff and driver ids on the timeline."""
    names: dict[tuple[str, str], str] = {}
    for e in entries:
        key = (e.actor, e.actor_id or "")
        if key in names or not (e.actor_id or "").isdigit() or int(e.actor_id or 0) > MAX_ID:
            continue
        if e.actor == Actor.SUPPORT.value:
            staff = uow.repo.get(m.StaffUser, int(e.actor_id or 0))
            if staff is not None:
                names[key] = staff.name
        elif e.actor == Actor.DRIVER.value:
            driver = uow.repo.get(m.Driver, int(e.actor_id or 0))
            if driver is not None:
                names[key] = driver.name
    return names


def _event_item(
    services: Services, d: m.Delivery, e: TimelineEntry, names: dict[tuple[str, str], str]
) -> Item:
    who = ACTOR_WORDS.get(e.actor, e.actor.title())
    name = names.get((e.actor, e.actor_id or ""))
    if name:
        who = f"{who} · {name}"
    elif e.actor_id and e.actor in (Actor.SYSTEM.value,):
        who = f"{who} · {e.actor_id}"
    photos: tuple[Photo, ...] = ()
    flagged = False
    if e.kind == "ProofRecorded":
        flagged = bool(e.data.get("flagged"))
        ids = [int(i) for i in e.data.get("photo_ids") or [] if isinstance(i, int)]
        photos = tuple(_photo(services, d, i) for i in ids)
    summary = _local_times(e.summary, ZoneInfo(services.settings.timezone), e.occurred_at)
    return Item(e.occurred_at, "event", e.kind, summary, who, flagged=flagged, photos=photos)


def _local_times(text: str, tz: ZoneInfo, day_of: datetime) -> str:
    """Return ``text`` with its ISO timestamps as local times (the day too, if not ``day_of``'s)."""
    today = day_of.astimezone(tz).date()

    def local(found: re.Match[str]) -> str:
        try:
            at = datetime.fromisoformat(found.group(0).replace("Z", "+00:00")).astimezone(tz)
        except ValueError:
            return found.group(0)
        return f"{at:%H:%M}" if at.date() == today else f"{at:%a} {at.day} {at:%b} {at:%H:%M}"

    return _ISO_TIME.sub(local, text)


def _photo(services: Services, d: m.Delivery, photo_id: int) -> Photo:
    now = services.clock.now().timestamp()
    urls: dict[str, str] = {}
    for size in ("thumb", "full"):
        expires, sig = photo_links.sign(
            services.settings.photo_link_key,
            audience=STAFF,
            delivery_id=d.id,  # type: ignore[arg-type]
            photo_id=photo_id,
            size=size,
            now=now,
            ttl_s=services.settings.photo_url_ttl_s,
        )
        urls[size] = (
            f"/support/deliveries/{d.tracking_number}/photos/{photo_id}"
            f"?size={size}&expires={expires}&sig={sig}"
        )
    return Photo(photo_id, urls["thumb"], urls["full"])


def open_photo(
    services: Services, tracking_number: str, photo_id: int, size: str, expires: str, sig: str
) -> PhotoFile:
    """Return a proof photo a signed staff link names (LinkInvalid 403, LinkExpired 410).

    The link must be signed for the staff audience: a recipient's link opens nothing here,
    and a staff link nothing on the tracking page.
    """
    with services.uow() as uow:
        d = uow.repo.delivery_by_tracking_number(tracking_number.strip().upper()[:32])
        photo = uow.repo.get(m.ProofPhoto, photo_id) if 0 < photo_id <= MAX_ID else None
        if d is None or photo is None or photo.delivery_id != d.id:
            raise NotFound("No such photo.")
        key = photo.thumbnail_key if size == "thumb" and photo.thumbnail_key else photo.storage_key
        content_type = photo.content_type
    now = services.clock.now().timestamp()
    stamp = int(expires) if expires.isascii() and expires.isdigit() and len(expires) <= 12 else -1
    verdict = photo_links.check(
        services.settings.photo_link_key,
        audience=STAFF,
        delivery_id=photo.delivery_id,
        photo_id=photo_id,
        size=size,
        expires=stamp,
        sig=sig,
        now=now,
    )
    if verdict is photo_links.LinkCheck.INVALID:
        raise LinkInvalid("This photo link is not valid. Open the photo from the timeline.")
    if verdict is photo_links.LinkCheck.EXPIRED:
        raise LinkExpired("This photo link has expired. Reload the timeline to open it again.")
    try:
        data = services.photos.get(key)
    except KeyError:
        raise NotFound("No such photo.") from None
    return PhotoFile(data=data, content_type=content_type, max_age_s=max(0, stamp - int(now)))
