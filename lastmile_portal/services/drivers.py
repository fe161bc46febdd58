"""Use cases of the driver's phone: who is this driver, and what is on today's route."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..domain import manifest as privacy
from ..domain import model as m
from ..domain.errors import InvalidInput, NotFound, Unauthorized
from ..domain.status import EN_ROUTE, DeliveryStatus
from . import Services

MIN_TOKEN_LENGTH = 20
NOT_YET_HANDED_OVER = EN_ROUTE | {DeliveryStatus.CREATED, DeliveryStatus.SCHEDULED}


def authenticate_driver(services: Services, token: str | None) -> int:
    """Return the id of the active driver whose API token this is, or raise Unauthorized."""
    if not token or len(token) < MIN_TOKEN_LENGTH or len(token) > 200:
        raise Unauthorized("A valid driver token is required (Authorization: Bearer <token>).")
    token_hash = m.hash_api_token(token)
    now = services.clock.now()
    # A phone pings every second: a token confirmed a moment ago needs no database trip.
    cached = services.live.driver_for_token(token_hash, now)
    if cached is not None:
        return cached
    with services.uow() as uow:
        driver = uow.repo.driver_by_token_hash(token_hash)
        if driver is None or driver.id is None:
            raise Unauthorized("A valid driver token is required (Authorization: Bearer <token>).")
        services.live.remember_token(token_hash, driver.id, now)
        return driver.id


@dataclass(frozen=True)
class ManifestParcel:
    """One parcel at a stop, with what the driver needs to hand it over."""

    tracking_number: str
    recipient_name: str
    phone: str | None  # only on the way, while the stop is open (domain/manifest.reveal)
    status: str
    option: str
    safe_place: str | None
    neighbour: str | None
    instructions: str | None
    access_code: str | None  # only for the next few open stops or once arrived
    parcel_size: str
    # Car boot delivery (option "vehicle_trunk"): which car, where, and when it is there.
    trunk: ManifestTrunk | None = None


@dataclass(frozen=True)
class ManifestTrunk:
    """The recipient's car the parcel goes into (its boot)."""

    make: str | None
    colour: str | None
    plate: str | None
    spot: str | None  # where it is parked, in the recipient's words
    lat: float | None  # the pin, when the recipient set one
    lng: float | None
    opens: datetime | None  # the hand-over window
    closes: datetime | None


@dataclass(frozen=True)
class ManifestStop:
    """One stop of the driver's route in visiting order."""

    id: int
    sequence: int
    kind: str
    status: str
    lat: float
    lng: float
    address: str
    window_start: datetime | None
    window_end: datetime | None
    planned_arrival: datetime | None
    parcels: tuple[ManifestParcel, ...]


@dataclass(frozen=True)
class Manifest:
    """Today's route of one driver."""

    route_id: int | None
    plan_version: int | None
    status: str | None
    stops: tuple[ManifestStop, ...]


def manifest(services: Services, driver_id: int) -> Manifest:
    """Return the driver's route for today in optimized order, with hand-over instructions."""
    with services.uow() as uow:
        route = uow.repo.route_of_driver(driver_id, services.today())
        if route is None:
            return Manifest(route_id=None, plan_version=None, status=None, stops=())
        stops = route.ordered_stops()
        parcels = uow.repo.deliveries_at_stops([s.id for s in stops if s.id is not None])
        dispatched = route.status is m.RouteStatus.IN_PROGRESS
        code_stops = services.settings.manifest_code_stops
        open_ahead = 0
        out = []
        for s in stops:
            shown = privacy.reveal(
                dispatched=dispatched,
                stop_open=s.is_open,
                arrived=s.status is m.StopStatus.ARRIVED,
                open_stops_ahead=open_ahead,
                code_stops=code_stops,
            )
            open_ahead += 1 if s.is_open else 0
            members = parcels.get(s.id, []) if s.id is not None else []
            first = members[0] if members else None
            opens, closes = m.stop_window(s.kind, [(d.window_start, d.window_end) for d in members])
            locker = uow.repo.get(m.Locker, s.locker_id) if s.locker_id is not None else None
            if locker is not None:
                # Some operators write the postcode into the address already.
                place = locker.address
                if locker.postcode not in place:
                    place = f"{place}, {locker.postcode}"
                address = f"{locker.name}, {place}"
            else:
                address = f"{first.address_line}, {first.postcode} {first.city}" if first else ""
            out.append(
                ManifestStop(
                    id=s.id,  # type: ignore[arg-type]
                    sequence=s.sequence,
                    kind=str(s.kind),
                    status=str(s.status),
                    lat=s.lat,
                    lng=s.lng,
                    address=address,
                    window_start=opens,
                    window_end=closes,
                    planned_arrival=s.planned_arrival,
                    parcels=tuple(_parcel(d, shown) for d in members),
                )
            )
        return Manifest(
            route_id=route.id,
            plan_version=route.plan_version,
            status=str(route.status),
            stops=tuple(out),
        )


def _parcel(d: m.Delivery, shown: privacy.Reveal) -> ManifestParcel:
    """Describe one parcel of a stop; a parcel already dealt with keeps nothing private."""
    if d.status not in EN_ROUTE:
        shown = privacy.HIDDEN
    return ManifestParcel(
        tracking_number=d.tracking_number,
        recipient_name=d.recipient_name,
        phone=d.phone if shown.phone else None,
        status=str(d.status),
        option=str(d.option),
        safe_place=d.safe_place,
        neighbour=d.neighbour,
        instructions=d.instructions,
        access_code=d.access_code if shown.access_code else None,
        parcel_size=str(d.parcel_size),
        # The car's plate and pin say where someone is: gone with the stop.
        trunk=_trunk(d) if d.status in NOT_YET_HANDED_OVER else None,
    )


def _trunk(d: m.Delivery) -> ManifestTrunk | None:
    if d.option is not m.DeliveryOption.VEHICLE_TRUNK:
        return None
    return ManifestTrunk(
        make=d.trunk_make,
        colour=d.trunk_colour,
        plate=d.trunk_plate,
        spot=d.trunk_spot,
        lat=d.trunk_lat,
        lng=d.trunk_lng,
        opens=d.trunk_from,
        closes=d.trunk_until,
    )


# ------------------------------------------------------ tokens and the driver page (issue 12)


@dataclass(frozen=True)
class IssuedToken:
    """A driver's new API token, shown once: only its hash is stored."""

    driver_id: int
    name: str
    token: str


@dataclass(frozen=True)
class DriverSession:
    """Who is signed in on the driver page, and which token they signed in with."""

    driver_id: int
    name: str
    # Of the token's hash, so a cookie never carries what the database compares.
    fingerprint: str


def issue_driver_token(services: Services, driver: str) -> IssuedToken:
    """Give a driver (id, or exact name) a new random API token; the old one stops working now.

    Every process re-reads the hash within ``live_state.TOKEN_TTL``; this process forgets its
    cached confirmations at once, and a driver page signed in with the old token signs out on
    its next request (``session_driver``).
    """
    token = secrets.token_urlsafe(32)
    with services.uow() as uow:
        found = _find_driver(uow.repo.all(m.Driver), driver)
        found.api_token_hash = m.hash_api_token(token)
        issued = IssuedToken(driver_id=found.id, name=found.name, token=token)  # type: ignore[arg-type]
        uow.commit()
    services.live.forget_tokens_of(issued.driver_id)
    return issued


def _find_driver(drivers: Sequence[m.Driver], wanted: str) -> m.Driver:
    wanted = wanted.strip()
    if wanted.isdigit():
        by_id = [d for d in drivers if d.id == int(wanted)]
        if by_id:
            return by_id[0]
    named = [d for d in drivers if d.name == wanted]
    if len(named) > 1:
        ids = ", ".join(str(d.id) for d in named)
        raise InvalidInput(f"{len(named)} drivers are called {wanted!r} (ids {ids}): give the id.")
    if not named:
        raise NotFound(f"No driver with the id or name {wanted!r}.")
    return named[0]


def _fingerprint(token_hash: str) -> str:
    return hashlib.sha256(f"driver-page:{token_hash}".encode()).hexdigest()[:32]


def sign_in_driver(services: Services, token: str | None) -> DriverSession:
    """Return the session for an active driver's token (always read from the database)."""
    if not token or len(token) < MIN_TOKEN_LENGTH or len(token) > 200:
        raise Unauthorized("That driver token is not valid: check the link or ask your depot.")
    token_hash = m.hash_api_token(token.strip())
    with services.uow() as uow:
        driver = uow.repo.driver_by_token_hash(token_hash)
        if driver is None or driver.id is None:
            raise Unauthorized("That driver token is not valid: check the link or ask your depot.")
        return DriverSession(driver.id, driver.name, _fingerprint(token_hash))


def session_driver(services: Services, driver_id: int, fingerprint: str) -> DriverSession:
    """Return the signed-in driver if their token is unchanged and they are active, else raise.

    Raise Unauthorized when the token was rotated or the driver deactivated since sign-in.
    """
    with services.uow() as uow:
        driver = uow.repo.get(m.Driver, driver_id)
        if (
            driver is None
            or not driver.active
            or not hmac.compare_digest(_fingerprint(driver.api_token_hash), fingerprint)
        ):
            raise Unauthorized("Your sign-in has ended: open your new sign-in link.")
        return DriverSession(driver_id, driver.name, fingerprint)
