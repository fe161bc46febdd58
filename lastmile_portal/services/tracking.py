"""What a recipient sees on the tracking page, and driver positions coming in."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..domain import model as m
from ..domain.errors import InvalidInput, NotFound
from ..domain.geo import haversine_m
from ..domain.routing import Point
from ..domain.status import EN_ROUTE, LABELS, DeliveryStatus
from . import Services

TOKEN_ALPHABET = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
MAX_FUTURE_SKEW = timedelta(minutes=2)
STALE_AFTER = timedelta(minutes=2)


@dataclass(frozen=True)
class HistoryItem:
    """One status the parcel went through, for the recipient."""

    status: str
    label: str
    at: datetime


@dataclass(frozen=True)
class DriverPositionView:
    """Where the driver was last seen."""

    lat: float
    lng: float
    at: datetime
    stale: bool
    distance_m: float


@dataclass(frozen=True)
class TrackingView:
    """Everything the tracking page shows; nothing about any other recipient."""

    delivery_id: int
    tracking_number: str
    status: str
    status_label: str
    recipient_first_name: str
    address_line: str
    postcode: str
    city: str
    lat: float
    lng: float
    option: str
    window_start: datetime | None
    window_end: datetime | None
    eta_earliest: datetime | None
    eta_latest: datetime | None
    stops_before: int | None
    driver_first_name: str | None
    vehicle_kind: str | None
    vehicle_label: str | None
    driver_position: DriverPositionView | None
    locker_name: str | None
    history: tuple[HistoryItem, ...]
    en_route: bool
    finished: bool


def is_well_formed_token(token: str) -> bool:
    """Return whether ``token`` could be a tracking token at all (cheap check before the DB)."""
    return 20 <= len(token) <= 64 and set(token) <= TOKEN_ALPHABET


def get_tracking(services: Services, token: str) -> TrackingView:
    """Return the tracking page's content for a tracking token.

    Unknown and malformed tokens raise the same NotFound, so the answer says nothing
    about which tokens exist.
    """
    if not is_well_formed_token(token):
        raise NotFound("This tracking link is not valid.")
    with services.uow() as uow:
        d = uow.repo.delivery_by_token(token)
        if d is None:
            raise NotFound("This tracking link is not valid.")
        now = services.clock.now()
        stop = uow.repo.get(m.Stop, d.stop_id) if d.stop_id else None
        route = uow.repo.get(m.Route, stop.route_id) if stop and stop.route_id else None
        driver = uow.repo.get(m.Driver, route.driver_id) if route else None
        vehicle = uow.repo.get(m.Vehicle, route.vehicle_id) if route else None
        vtype = uow.repo.get(m.VehicleType, vehicle.vehicle_type_id) if vehicle else None
        locker = uow.repo.get(m.Locker, d.locker_id) if d.locker_id else None
        en_route = d.status in EN_ROUTE
        position = None
        if (
            en_route
            and driver
            and driver.last_lat is not None
            and driver.last_lng is not None
            and driver.last_position_at
        ):
            here = Point(driver.last_lat, driver.last_lng)
            position = DriverPositionView(
                lat=here.lat,
                lng=here.lng,
                at=driver.last_position_at,
                stale=now - driver.last_position_at > STALE_AFTER,
                distance_m=haversine_m(here, Point(d.lat, d.lng)),
            )
        history = tuple(
            HistoryItem(
                status=e.data["new"], label=LABELS[DeliveryStatus(e.data["new"])], at=e.occurred_at
            )
            for e in uow.repo.timeline(d.id)  # type: ignore[arg-type]
            if e.kind == "DeliveryStatusChanged"
        )
        show_stop = stop is not None and d.status not in (
            DeliveryStatus.DELIVERED,
            DeliveryStatus.FAILED,
        )
        return TrackingView(
            delivery_id=d.id,  # type: ignore[arg-type]
            tracking_number=d.tracking_number,
            status=str(d.status),
            status_label=d.status_label,
            recipient_first_name=d.recipient_first_name,
            address_line=d.address_line,
            postcode=d.postcode,
            city=d.city,
            lat=d.lat,
            lng=d.lng,
            option=str(d.option),
            window_start=d.window_start,
            window_end=d.window_end,
            eta_earliest=stop.eta_earliest if show_stop and stop else None,
            eta_latest=stop.eta_latest if show_stop and stop else None,
            stops_before=route.stops_before(stop) if route and stop and en_route else None,
            driver_first_name=driver.first_name if driver else None,
            vehicle_kind=str(vtype.kind) if vtype else None,
            vehicle_label=m.VEHICLE_LABELS[vtype.kind] if vtype else None,
            driver_position=position,
            locker_name=locker.name if locker else None,
            history=history,
            en_route=en_route,
            finished=d.status in (DeliveryStatus.DELIVERED, DeliveryStatus.COLLECTED),
        )


@dataclass(frozen=True)
class PositionsResult:
    """How many pings were stored and how many were ignored as old or duplicate."""

    accepted: int
    ignored: int


def record_positions(
    services: Services, driver_id: int, pings: Sequence[Mapping[str, Any]]
) -> PositionsResult:
    """Store a batch of GPS fixes from a driver's phone and push the newest one live.

    Pings older than the newest one already stored are ignored (a phone flushing its
    offline buffer after a fresher ping); malformed ones reject the whole batch.
    """
    parsed = sorted((_parse_ping(p, services.clock.now()) for p in pings), key=lambda p: p[2])
    with services.uow() as uow:
        driver = uow.repo.get(m.Driver, driver_id)
        if driver is None:
            raise NotFound(f"There is no driver {driver_id}.")
        now = services.clock.now()
        accepted = 0
        latest = driver.last_position_at
        for lat, lng, recorded_at, extra in parsed:
            if latest is not None and recorded_at <= latest:
                continue
            uow.repo.add(
                m.DriverPosition(
                    driver_id=driver_id,
                    lat=lat,
                    lng=lng,
                    recorded_at=recorded_at,
                    received_at=now,
                    speed=extra.get("speed"),
                    heading=extra.get("heading"),
                    accuracy=extra.get("accuracy"),
                )
            )
            latest = recorded_at
            driver.last_lat, driver.last_lng, driver.last_position_at = lat, lng, recorded_at
            accepted += 1
        rooms: list[str] = []
        if accepted:
            route = uow.repo.route_of_driver(driver_id, services.today())
            if route is not None:
                for stop in route.stops:
                    if stop.is_open:
                        rooms += [
                            f"delivery:{d.id}"
                            for d in uow.repo.deliveries_at_stop(stop.id)  # type: ignore[arg-type]
                            if d.status in EN_ROUTE
                        ]
        uow.commit()
    if accepted:
        payload = {
            "lat": driver.last_lat,
            "lng": driver.last_lng,
            "at": driver.last_position_at.isoformat(),  # type: ignore[union-attr]
        }
        for room in rooms:
            services.publisher.publish(room, "position", payload)
    return PositionsResult(accepted=accepted, ignored=len(parsed) - accepted)


def _parse_ping(
    ping: Mapping[str, Any], now: datetime
) -> tuple[float, float, datetime, dict[str, float | None]]:
    if not isinstance(ping, Mapping):
        raise InvalidInput("Each position must be an object with lat, lng and recorded_at.")
    try:
        lat, lng = float(ping["lat"]), float(ping["lng"])
    except (KeyError, TypeError, ValueError):
        raise InvalidInput("Each position needs numeric lat and lng.") from None
    if not (math.isfinite(lat) and math.isfinite(lng) and -90 <= lat <= 90 and -180 <= lng <= 180):
        raise InvalidInput("lat must be within ±90 and lng within ±180.")
    raw = ping.get("recorded_at")
    try:
        recorded_at = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput("recorded_at must be an ISO 8601 time with a UTC offset.") from None
    if recorded_at.tzinfo is None:
        raise InvalidInput("recorded_at must include a UTC offset (e.g. 2026-11-25T10:00:00Z).")
    if recorded_at - now > MAX_FUTURE_SKEW:
        raise InvalidInput("recorded_at is in the future; check the phone's clock.")
    extra: dict[str, float | None] = {}
    for key in ("speed", "heading", "accuracy"):
        value = ping.get(key)
        if value is not None:
            try:
                extra[key] = float(value)
            except (TypeError, ValueError):
                raise InvalidInput(f"{key} must be a number.") from None
    return lat, lng, recorded_at, extra
