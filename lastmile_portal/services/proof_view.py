"""What a recipient sees of a proof: one sentence, and the photos behind short-lived signed links.

Read only. The proof itself is the newest ``ProofRecorded`` line of the delivery's timeline
(written by ``proof_photos.store_proof_photos`` in the commit that closed the stop) and the
``ProofPhoto`` rows it names. The tracking page, the socket snapshot and the live ``proof``
event all build it here, and ``open_photo`` serves the file a link names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..domain import live_payloads as payloads
from ..domain import model as m
from ..domain import photo_links
from ..domain.errors import DomainError, Forbidden, NotFound
from ..domain.events import TimelineEntry
from ..domain.status import EN_ROUTE, DeliveryStatus
from . import Services
from .unit_of_work import UnitOfWork

RECIPIENT = "recipient"
# Closer than this, a phone's GPS cannot tell the door from the pavement: a number of metres
# would be false precision, so the sentence says "at your door".
NEAR_M = 15.0
THUMB_EDGE = 320  # the thumbnail's long side (adapters/photo_images)
MAX_ID = 2**31 - 1
HANDED_OVER = frozenset(
    {DeliveryStatus.DELIVERED, DeliveryStatus.AT_LOCKER, DeliveryStatus.COLLECTED}
)
NOT_VALID = "This tracking link is not valid."


class LinkInvalid(Forbidden):
    """Raise when a photo link was not made by us for exactly this photo and size."""


class LinkExpired(DomainError):
    """Raise when a photo link we made has passed its expiry."""

    status_code = 410


@dataclass(frozen=True)
class ProofPhotoLink:
    """One photo of a proof, with signed links to its thumbnail and to the full photo."""

    id: int
    thumb_url: str
    full_url: str
    width: int
    height: int
    thumb_width: int
    thumb_height: int


@dataclass(frozen=True)
class ProofView:
    """The proof a recipient's page shows: the driver's photos of the hand-over or attempt."""

    kind: str  # "delivered" | "attempt"
    heading: str
    summary: str  # "Delivered 40 m from your door at 14:07"
    at: datetime
    distance_m: float | None
    photos: tuple[ProofPhotoLink, ...]
    expires: int  # unix seconds: when the links stop working
    ttl_s: int


@dataclass(frozen=True)
class PhotoFile:
    """The bytes of a photo a valid link names, and how long a browser may keep them."""

    data: bytes
    content_type: str
    max_age_s: int


# ---------------------------------------------------------------- wording (pure)

HEADINGS = {"delivered": "Proof of delivery", "attempt": "The driver's photo of the attempt"}
# Where the parcel goes, by how it is handed over: what the recipient calls that place, and
# what the driver did there.
PLACES = {
    "door": ("your door", "Delivered"),
    "car": ("where you pinned your car", "Put in your car's boot"),
    "locker": ("the locker", "Put in the locker"),
    "pickup_point": ("the pickup point", "Left at the pickup point"),
}


def distance_words(metres: float) -> str:
    """Return a distance rounded as far as a phone's GPS can be trusted ("40 m", "1.2 km")."""
    if metres < 97.5:
        return f"{5 * round(metres / 5)} m"
    if metres < 995:
        return f"{10 * round(metres / 10)} m"
    return f"{metres / 1000:.1f} km"


def describe(kind: str, place: str, distance_m: float | None, when: str) -> str:
    """Return the proof's sentence: what happened, how far from the place, and ``when``.

    No position means no distance: the sentence then says only what the driver recorded.
    """
    noun, done = PLACES[place]
    near = distance_m is not None and distance_m < NEAR_M
    far = distance_words(distance_m) if distance_m is not None and not near else None
    if kind == "attempt":
        spot = "your car" if place == "car" else noun
        if near:
            return f"Taken at {spot} {when}"
        return f"Taken {far} from {noun} {when}" if far else f"Taken {when}"
    if place == "door":
        if near:
            return f"Delivered at your door {when}"
        return f"Delivered {far} from your door {when}" if far else f"Delivered {when}"
    return f"{done} {when}, photo taken {far} from {noun}" if far else f"{done} {when}"


def _when(at: datetime, now: datetime, timezone: str) -> str:
    tz = ZoneInfo(timezone)
    local = at.astimezone(tz)
    if local.date() == now.astimezone(tz).date():
        return f"at {local:%H:%M}"
    return f"on {local:%a} {local.day} {local:%b} at {local:%H:%M}"


def _place(d: m.Delivery) -> str:
    if d.locker_id is not None and d.option is m.DeliveryOption.LOCKER:
        return "locker"
    if d.locker_id is not None and d.option is m.DeliveryOption.PICKUP_POINT:
        return "pickup_point"
    if d.option is m.DeliveryOption.VEHICLE_TRUNK and d.trunk_lat is not None:
        return "car"
    return "door"


# ---------------------------------------------------------------- the proof a page shows


def proof_for(
    services: Services,
    uow: UnitOfWork,
    d: m.Delivery,
    timeline: list[TimelineEntry],
    *,
    audience: str = RECIPIENT,
) -> ProofView | None:
    """Return the proof ``d``'s page shows now, with freshly signed links; None without one.

    The newest proof counts. A hand-over's photos show once the parcel is handed over; an
    attempt's photos show after the failed attempt, until the parcel is on its way again or
    handed over: they are the recipient's evidence that the driver was there.
    """
    entries = [e for e in timeline if e.kind == "ProofRecorded"]
    if not entries or d.id is None:
        return None
    entry = max(entries, key=lambda e: (e.occurred_at, e.id or 0))
    kind = "attempt" if entry.data.get("failed_attempt") else "delivered"
    shown = (
        d.status in HANDED_OVER if kind == "delivered" else d.status not in EN_ROUTE | HANDED_OVER
    )
    if not shown:
        return None
    now = services.clock.now()
    ttl = services.settings.photo_url_ttl_s
    photos: list[ProofPhotoLink] = []
    expires = 0
    for photo_id in entry.data.get("photo_ids") or []:
        photo = uow.repo.get(m.ProofPhoto, int(photo_id))
        if photo is None or photo.id is None or photo.delivery_id != d.id:
            continue  # removed since (retention): the others still show
        urls = {}
        for size in ("thumb", "full"):
            expires, sig = photo_links.sign(
                services.settings.photo_link_key,
                audience=audience,
                delivery_id=d.id,
                photo_id=photo.id,
                size=size,
                now=now.timestamp(),
                ttl_s=ttl,
            )
            urls[size] = (
                f"/t/{d.tracking_token}/proof/{photo.id}?size={size}&expires={expires}&sig={sig}"
            )
        scale = min(1.0, THUMB_EDGE / max(photo.width, photo.height, 1))
        photos.append(
            ProofPhotoLink(
                id=photo.id,
                thumb_url=urls["thumb"],
                full_url=urls["full"],
                width=photo.width,
                height=photo.height,
                thumb_width=max(1, round(photo.width * scale)),
                thumb_height=max(1, round(photo.height * scale)),
            )
        )
    if not photos:
        return None
    distance = entry.data.get("distance_m")
    distance_m = float(distance) if isinstance(distance, int | float) else None
    return ProofView(
        kind=kind,
        heading=HEADINGS[kind],
        summary=describe(
            kind,
            _place(d),
            distance_m,
            _when(entry.occurred_at, now, services.settings.timezone),
        ),
        at=entry.occurred_at,
        distance_m=distance_m,
        photos=tuple(photos),
        expires=expires,
        ttl_s=ttl,
    )


def payload(view: ProofView) -> dict[str, Any]:
    """Return the ``proof`` event's payload for ``view``."""
    return payloads.proof(
        kind=view.kind,
        heading=view.heading,
        summary=view.summary,
        at=view.at,
        distance_m=view.distance_m,
        photos=[(p.id, p.thumb_url, p.full_url, p.width, p.height) for p in view.photos],
        expires=view.expires,
        ttl_s=view.ttl_s,
    )


def live_proof(services: Services, delivery_id: int) -> dict[str, Any] | None:
    """Return the ``proof`` payload of a delivery as just committed, None if it shows none."""
    with services.uow() as uow:
        d = uow.repo.get(m.Delivery, delivery_id)
        if d is None:
            return None
        view = proof_for(services, uow, d, uow.repo.timeline(delivery_id))
        return payload(view) if view else None


# ---------------------------------------------------------------- serving a photo


def open_photo(
    services: Services,
    token: str,
    photo_id: int,
    size: str,
    expires: str,
    sig: str,
    *,
    audience: str = RECIPIENT,
) -> PhotoFile:
    """Return the photo a tracking token's signed link names.

    The token must open the delivery the photo belongs to: any other photo is NotFound, with
    the same words as an unknown token. The link must be ours for exactly this delivery,
    photo and size (LinkInvalid, 403) and not expired (LinkExpired, 410).
    """
    from .tracking import is_well_formed_token  # tracking builds its view from this module

    if not is_well_formed_token(token):
        raise NotFound(NOT_VALID)
    with services.uow() as uow:
        d = uow.repo.delivery_by_token(token)
        # An id past the column's range is no photo (and overflows the database driver).
        photo = uow.repo.get(m.ProofPhoto, photo_id) if 0 < photo_id <= MAX_ID else None
        if d is None or photo is None or photo.delivery_id != d.id:
            raise NotFound(NOT_VALID)
        key = photo.thumbnail_key if size == "thumb" and photo.thumbnail_key else photo.storage_key
        content_type = photo.content_type
    now = services.clock.now().timestamp()
    verdict = photo_links.check(
        services.settings.photo_link_key,
        audience=audience,
        delivery_id=photo.delivery_id,
        photo_id=photo_id,
        size=size,
        expires=int(expires)
        if expires.isascii() and expires.isdigit() and len(expires) <= 12
        else -1,
        sig=sig,
        now=now,
    )
    if verdict is photo_links.LinkCheck.INVALID:
        raise LinkInvalid("This photo link is not valid. Open the photo from your tracking page.")
    if verdict is photo_links.LinkCheck.EXPIRED:
        raise LinkExpired(
            "This photo link has expired. Go back to your tracking page and open the photo again."
        )
    try:
        data = services.photos.get(key)
    except KeyError:
        raise NotFound(NOT_VALID) from None
    return PhotoFile(
        data=data, content_type=content_type, max_age_s=max(0, int(expires) - int(now))
    )
