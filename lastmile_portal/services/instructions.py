"""How the recipient wants the parcel handed over, which texts they get, and their rating.

One use case per form of the tracking page (and the SMS ``SAFE`` keyword). Each opens the
change with ``changes.open_change`` (a stale form gets a 409), lets the domain decide
(``Delivery.give_instructions``, ``choose_trunk``, ``set_text_preferences``, ``rate``),
and commits the change with its timeline event and, for instructions and the car boot, the
``change_confirmed`` text. Only the car boot moves the stop, so only it asks for a re-plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from zoneinfo import ZoneInfo

from ..domain import instructions as rules
from ..domain import model as m
from ..domain.errors import InvalidInput, InvalidTransition, NotFound
from ..domain.events import Actor
from ..domain.geo import haversine_m
from ..domain.routing import Point
from ..domain.status import TERMINAL
from . import Services, changes
from .unit_of_work import UnitOfWork

# ---------------------------------------------------------------- what the page shows


@dataclass(frozen=True)
class TextChoice:
    """One optional text and whether the recipient gets it."""

    kind: str
    label: str
    on: bool


@dataclass(frozen=True)
class HandOverView:
    """The hand-over, car boot, texts and rating part of the tracking page.

    The access code appears only masked; nothing here is sent over a socket.
    """

    version: int
    shown: bool  # the parcel goes to a door and has not ended
    open: bool
    closed_reason: str | None
    place: str  # the chosen radio: "in_person", a SAFE_PLACES key, "neighbour", ...
    free_text_place: str | None  # a safe place described by text (SMS), kept as it is
    places: tuple[tuple[str, str], ...]
    neighbour_name: str
    neighbour_number: str
    note: str
    note_max: int
    code_kinds: tuple[tuple[str, str], ...]
    code_kind: str | None
    code_label: str | None
    code_masked: str | None
    trunk_offered: bool
    trunk_open: bool
    trunk_closed_reason: str | None
    trunk_closes_at: datetime | None
    trunk_chosen: bool
    trunk_make: str
    trunk_colour: str
    trunk_plate: str
    trunk_spot: str
    trunk_lat: float | None
    trunk_lng: float | None
    trunk_from: datetime | None
    trunk_until: datetime | None
    trunk_bounds: tuple[datetime, datetime]
    texts_shown: bool
    texts: tuple[TextChoice, ...]
    always_sent: tuple[str, ...]
    quiet_from: str
    quiet_until: str
    default_quiet_hours: str | None
    ratable: bool
    rating_score: int | None
    rating_comment: str
    comment_max: int


def handover_view(services: Services, uow: UnitOfWork, d: m.Delivery) -> HandOverView:
    """Return what the page's hand-over forms show for ``d`` (for ``services/tracking``)."""
    to_locker = d.option in m.LOCKER_OPTIONS
    refusal = rules.handover_refusal(d.status, to_locker)
    window = changes.live_window(services, uow, d).window
    depot = uow.repo.get(m.Depot, d.depot_id)
    offered = bool(depot and depot.trunk_delivery) and not to_locker
    trunk_refusal = refusal or window.reason
    if not offered:
        trunk_refusal = trunk_refusal or "Your depot does not deliver to car boots."
    place = _place_of(d)
    kind, _ = rules.split_access_code(d.access_code)
    name, number = rules.split_neighbour(d.neighbour)
    quiet = (d.quiet_hours or "").partition("-")
    muted = rules.muted_kinds(d.sms_muted)
    rating = uow.repo.rating_of(d.id) if d.id is not None else None
    return HandOverView(
        version=d.version,
        shown=not to_locker and d.status not in TERMINAL,
        open=refusal is None,
        closed_reason=refusal,
        place=place,
        free_text_place=d.safe_place if place == rules.KEEP_CURRENT else None,
        places=tuple(rules.SAFE_PLACES.items()),
        neighbour_name=name,
        neighbour_number=number,
        note=d.instructions or "",
        note_max=rules.NOTE_MAX,
        code_kinds=tuple(rules.ACCESS_KINDS.items()),
        code_kind=kind,
        code_label=rules.ACCESS_KINDS.get(kind or "", "Access code") if d.access_code else None,
        code_masked=rules.mask_code(d.access_code),
        trunk_offered=offered,
        trunk_open=trunk_refusal is None,
        trunk_closed_reason=trunk_refusal,
        trunk_closes_at=window.closes_at if trunk_refusal is None else None,
        trunk_chosen=d.option is m.DeliveryOption.VEHICLE_TRUNK,
        trunk_make=d.trunk_make or "",
        trunk_colour=d.trunk_colour or "",
        trunk_plate=d.trunk_plate or "",
        trunk_spot=d.trunk_spot or "",
        trunk_lat=d.trunk_lat,
        trunk_lng=d.trunk_lng,
        trunk_from=d.trunk_from,
        trunk_until=d.trunk_until,
        trunk_bounds=_trunk_bounds(services, depot, d),
        texts_shown=d.status not in TERMINAL,
        texts=tuple(
            TextChoice(kind=k, label=label, on=k not in muted)
            for k, label in rules.OPTIONAL_TEXTS.items()
        ),
        always_sent=tuple(rules.ALWAYS_SENT.values()),
        quiet_from=quiet[0] if d.quiet_hours and quiet[1] else "",
        quiet_until=quiet[2] if d.quiet_hours and quiet[1] else "",
        default_quiet_hours=services.settings.quiet_hours,
        ratable=d.status in m.RATABLE,
        rating_score=rating.score if rating else None,
        rating_comment=(rating.comment or "") if rating else "",
        comment_max=rules.COMMENT_MAX,
    )


def _place_of(d: m.Delivery) -> str:
    if d.option is m.DeliveryOption.NEIGHBOUR:
        return rules.NEIGHBOUR
    if d.option is m.DeliveryOption.VEHICLE_TRUNK:
        return "trunk"
    if d.option is m.DeliveryOption.SAFE_PLACE and d.safe_place:
        for key, label in rules.SAFE_PLACES.items():
            if d.safe_place == label:
                return key
        return rules.KEEP_CURRENT
    return rules.IN_PERSON


def _trunk_bounds(
    services: Services, depot: m.Depot | None, d: m.Delivery
) -> tuple[datetime, datetime]:
    """Return when a car may take the parcel: its delivery window, else its whole day."""
    if d.window_start is not None and d.window_end is not None:
        return d.window_start, d.window_end
    tz = ZoneInfo(depot.timezone if depot else services.settings.timezone)
    day = d.service_date or services.today()
    opens = time.fromisoformat(depot.opens_at) if depot else time(7)
    closes = time.fromisoformat(depot.closes_at) if depot else time(21)
    return datetime.combine(day, opens, tz), datetime.combine(day, closes, tz)


# ---------------------------------------------------------------- the use cases


def set_instructions(
    services: Services,
    token: str,
    version: int | None,
    *,
    place: str,
    neighbour_name: str = "",
    neighbour_number: str = "",
    note: str = "",
    code_kind: str = "",
    code: str = "",
    remove_code: bool = False,
    actor: Actor = Actor.CUSTOMER,
    actor_id: str | None = None,
) -> str:
    """Save the hand-over instructions of the parcel behind ``token``; return what to say.

    Allowed until the driver is at the door: instructions reach the driver's phone at once
    and change no plan, so the re-plan cut-off does not close them.
    """
    with services.uow() as uow:
        change = changes.open_change(services, uow, token, version)
        d = change.delivery
        handover = rules.hand_over(
            place,
            current_safe_place=d.safe_place,
            neighbour_name=neighbour_name,
            neighbour_number=neighbour_number,
            note=note,
            code_kind=code_kind,
            code=code,
            remove_code=remove_code,
        )
        was_trunk = d.option is m.DeliveryOption.VEHICLE_TRUNK
        if not d.give_instructions(
            handover, at=services.clock.now(), actor=actor, actor_id=actor_id
        ):
            return "Nothing changed: these are already your instructions."
        moved = was_trunk and _follow_handover(uow, d)
        changes.confirm_change(services, uow, d, "new hand-over instructions")
        uow.commit()
    if moved:
        changes.replan_after(services, change.route_id, "the recipient left car boot delivery")
    return "Saved. The driver sees your instructions."


def set_safe_place(
    services: Services,
    delivery_id: int,
    text: str,
    *,
    actor: Actor = Actor.CUSTOMER,
    actor_id: str | None = None,
) -> str:
    """Have the parcel left at a safe place described in words (SMS ``SAFE``); return it.

    The same rule as the page's instructions: open until the driver is at the door.
    """
    with services.uow() as uow:
        d = uow.repo.get(m.Delivery, delivery_id)
        if d is None:
            raise NotFound(f"There is no delivery {delivery_id}.")
        refusal = rules.handover_refusal(d.status, d.option in m.LOCKER_OPTIONS)
        if refusal is not None:
            raise InvalidTransition(refusal)
        now = services.clock.now()
        moved = False
        if d.option is m.DeliveryOption.VEHICLE_TRUNK:
            d.cancel_trunk(at=now, actor=actor, actor_id=actor_id)
            moved = _follow_handover(uow, d)
        d.choose_safe_place(text, at=now, actor=actor, actor_id=actor_id)
        route_id = changes.live_window(services, uow, d).route_id
        uow.commit()
    if moved:
        changes.replan_after(services, route_id, "the recipient left car boot delivery")
    return d.safe_place or ""


def set_trunk(
    services: Services,
    token: str,
    version: int | None,
    *,
    make: str,
    colour: str,
    plate: str,
    spot: str,
    opens: str,
    closes: str,
    lat: str = "",
    lng: str = "",
    actor: Actor = Actor.CUSTOMER,
) -> str:
    """Have the parcel put in the recipient's car; the stop moves there and is re-planned.

    ``opens``/``closes`` are local "HH:MM" on the parcel's day; ``lat``/``lng`` the car's
    pin, when the page's map gave one.
    """
    with services.uow() as uow:
        change = changes.open_change(services, uow, token, version)
        d = change.delivery
        if change.window.closed:
            raise InvalidTransition(change.window.reason or "It is too late to change this.")
        depot = uow.repo.get(m.Depot, d.depot_id)
        bounds = _trunk_bounds(services, depot, d)
        # The form's times are the depot's local clock, on the parcel's (local) day.
        tz = ZoneInfo(depot.timezone if depot else services.settings.timezone)
        day = bounds[0].astimezone(tz).date()
        pin_lat, pin_lng = _number(lat, "latitude"), _number(lng, "longitude")
        distance = None
        if pin_lat is not None and pin_lng is not None:
            distance = haversine_m(Point(pin_lat, pin_lng), Point(d.lat, d.lng))
        car = rules.trunk(
            make=make,
            colour=colour,
            plate=plate,
            spot=spot,
            opens=_local(day, opens, tz, "from"),
            closes=_local(day, closes, tz, "until"),
            bounds=bounds,
            lat=pin_lat,
            lng=pin_lng,
            distance_m=distance,
        )
        offered = depot is not None and depot.trunk_delivery
        if not d.choose_trunk(car, offered=offered, at=services.clock.now(), actor=actor):
            return "Nothing changed: this is already your car."
        _follow_handover(uow, d)
        changes.confirm_change(
            services,
            uow,
            d,
            "delivery to your car",
            _span(car.opens, car.closes, tz),
        )
        uow.commit()
    changes.replan_after(services, change.route_id, "the recipient chose car boot delivery")
    return "Saved. The driver will put your parcel in your car."


def cancel_trunk(
    services: Services, token: str, version: int | None, *, actor: Actor = Actor.CUSTOMER
) -> str:
    """Have the parcel brought to the door again instead of the car."""
    with services.uow() as uow:
        change = changes.open_change(services, uow, token, version)
        d = change.delivery
        if not d.cancel_trunk(at=services.clock.now(), actor=actor):
            return "Your parcel was not going to your car."
        moved = _follow_handover(uow, d)
        changes.confirm_change(services, uow, d, "delivery to your door, not your car")
        uow.commit()
    if moved:
        changes.replan_after(services, change.route_id, "the recipient left car boot delivery")
    return "Saved. The driver brings your parcel to your door."


def set_preferences(
    services: Services,
    token: str,
    version: int | None,
    *,
    wanted: set[str],
    quiet_from: str = "",
    quiet_until: str = "",
    actor: Actor = Actor.CUSTOMER,
) -> str:
    """Choose which optional texts the recipient gets, and their own quiet hours."""
    with services.uow() as uow:
        change = changes.open_change(services, uow, token, version)
        d = change.delivery
        if d.status in TERMINAL:
            raise InvalidTransition(
                f"Your parcel is {d.status_label.lower()}: there are no more texts to choose."
            )
        muted = rules.muted_text(wanted)
        quiet = rules.quiet_hours_text(quiet_from, quiet_until)
        now = services.clock.now()
        if not d.set_text_preferences(muted=muted, quiet_hours=quiet, at=now, actor=actor):
            return "Nothing changed: these are already your text settings."
        uow.commit()
    return "Saved. We text you only what you chose."


def rate(
    services: Services,
    token: str,
    score: str,
    comment: str = "",
    *,
    actor: Actor = Actor.CUSTOMER,
) -> str:
    """Rate the delivery 1–5 with an optional comment; a second rating replaces the first."""
    try:
        value = int(score.strip())
    except ValueError:
        raise InvalidInput("Choose from 1 to 5 stars.") from None
    text = rules.rating_comment(comment)
    with services.uow() as uow:
        d = uow.repo.delivery_by_token(token)
        if d is None or d.id is None:
            raise NotFound("This tracking link is not valid.")
        existing = uow.repo.rating_of(d.id)
        now = services.clock.now()
        rating = d.rate(value, at=now, actor=actor, existing=existing)
        d.comment_on_rating(rating, text, at=now, actor=actor)
        if existing is None:
            uow.repo.add(rating)
        uow.commit()
    return "Thank you! You can change your rating here." if existing is None else "Rating updated."


# ---------------------------------------------------------------- helpers


def hand_over_point(d: m.Delivery) -> Point:
    """Return where the driver hands the parcel over: the car's pin, else the address."""
    return Point(*d.hand_over_place)


def _follow_handover(uow: UnitOfWork, d: m.Delivery) -> bool:
    """Move the parcel's own door stop to where it is handed over; return whether it moved.

    A stop shared with other parcels (same address) stays: the car is near it anyway.
    """
    stop = uow.repo.get(m.Stop, d.stop_id) if d.stop_id is not None else None
    if stop is None or not stop.is_open or stop.kind is not m.StopKind.ADDRESS:
        return False
    if [x.id for x in uow.repo.deliveries_at_stop(stop.id)] != [d.id]:  # type: ignore[arg-type]
        return False
    target = hand_over_point(d)
    if (stop.lat, stop.lng) == (target.lat, target.lng):
        return False
    stop.relocate(lat=target.lat, lng=target.lng)
    return True


def _number(text: str, what: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f"The car's {what} is not a number.") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidInput(f"The car's {what} is not a number.")
    return value


def _local(day: date, text: str, tz: tzinfo, which: str) -> datetime:
    """Return "HH:MM" on ``day`` in the depot's zone as an aware datetime."""
    try:
        at = time.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"Give the time the car is there {which} as HH:MM, e.g. 13:00."
        ) from None
    return datetime.combine(day, at.replace(second=0, microsecond=0), tz)


def _span(start: datetime, end: datetime, tz: tzinfo) -> str:
    """Return "13:00-14:00" in the depot's zone (a plain hyphen keeps the text GSM-7)."""
    return f"{start.astimezone(tz):%H:%M}-{end.astimezone(tz):%H:%M}"
