"""What a recipient sees: the tracking page's view and the live snapshot of one delivery.

Read only. Positions come in through ``gps_intake``; live ETAs are stored by ``live_eta``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..domain import live_payloads as payloads
from ..domain import model as m
from ..domain.errors import NotFound
from ..domain.eta import ETA_CONFIDENCE
from ..domain.geo import haversine_m
from ..domain.routing import Point
from ..domain.status import EN_ROUTE, LABELS, DeliveryStatus
from . import Services, instructions, proof_view, rescheduling
from .lockers import LockerPickup, pickup_view
from .unit_of_work import UnitOfWork

TOKEN_ALPHABET = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
STALE_AFTER = timedelta(minutes=2)
# The driver's part is over: no window, no ETA, no position (a returned parcel went back).
FINISHED = (
    DeliveryStatus.DELIVERED,
    DeliveryStatus.AT_LOCKER,
    DeliveryStatus.COLLECTED,
    DeliveryStatus.RETURNED,
)


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
    eta_expected: datetime | None
    eta_earliest: datetime | None
    eta_latest: datetime | None
    stops_before: int | None
    driver_first_name: str | None
    vehicle_kind: str | None
    vehicle_label: str | None
    driver_position: DriverPositionView | None
    driver_hidden_until_stops: int | None
    locker_name: str | None
    history: tuple[HistoryItem, ...]
    en_route: bool
    finished: bool
    plan_version: int | None
    generated_at: datetime
    # issue 11, slots: may the parcel move, until when (the countdown), and the form version
    reschedule: rescheduling.RescheduleSummary | None = None
    # issue 11, instructions: the hand-over forms (access code masked), and how sure the ETA is
    handover: instructions.HandOverView | None = None
    eta_confidence: float = ETA_CONFIDENCE
    # issue 12: the parcel in a locker: its pickup code (this page only), collected, returned
    pickup: LockerPickup | None = None
    # issue 12: the driver's photos of the hand-over (or of a failed attempt), signed links
    proof: proof_view.ProofView | None = None


def is_well_formed_token(token: str) -> bool:
    """Return whether ``token`` could be a tracking token at all (cheap check before the DB)."""
    return 20 <= len(token) <= 64 and set(token) <= TOKEN_ALPHABET


def delivery_id_for_token(services: Services, token: str) -> int:
    """Return the delivery a tracking token opens, or raise NotFound (same for every bad token)."""
    if not is_well_formed_token(token):
        raise NotFound("This tracking link is not valid.")
    with services.uow() as uow:
        d = uow.repo.delivery_by_token(token)
        if d is None or d.id is None:
            raise NotFound("This tracking link is not valid.")
        return d.id


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
        return _view(services, uow, d)


def _view(
    services: Services, uow: UnitOfWork, d: m.Delivery, *, controls: bool = True
) -> TrackingView:
    """Build what the page shows; ``controls=False`` leaves out the change sections.

    The socket snapshot (every connect) carries no controls, so it skips their queries.
    """
    now = services.clock.now()
    stop = uow.repo.get(m.Stop, d.stop_id) if d.stop_id else None
    route = uow.repo.get(m.Route, stop.route_id) if stop and stop.route_id else None
    driver = uow.repo.get(m.Driver, route.driver_id) if route else None
    vehicle = uow.repo.get(m.Vehicle, route.vehicle_id) if route else None
    vtype = uow.repo.get(m.VehicleType, vehicle.vehicle_type_id) if vehicle else None
    locker = uow.repo.get(m.Locker, d.locker_id) if d.locker_id else None
    en_route = d.status in EN_ROUTE
    # A parcel going to a locker is tracked to the locker, not to the recipient's door.
    to_locker = locker is not None and d.option in (
        m.DeliveryOption.LOCKER,
        m.DeliveryOption.PICKUP_POINT,
    )
    dest = Point(locker.lat, locker.lng) if to_locker and locker else Point(d.lat, d.lng)
    stops_before = route.stops_before(stop) if route and stop and en_route else None
    show_within = services.settings.show_driver_within_stops
    # The driver's position tells where earlier recipients live: show it only when close.
    may_see_driver = stops_before is not None and stops_before <= show_within
    position = None
    last = _last_known(services, driver) if driver else None
    if may_see_driver and last is not None:
        here, at = last
        position = DriverPositionView(
            lat=here.lat,
            lng=here.lng,
            at=at,
            stale=now - at > STALE_AFTER,
            distance_m=haversine_m(here, dest),
        )
    timeline = uow.repo.timeline(d.id)  # type: ignore[arg-type]
    history = tuple(
        HistoryItem(
            status=e.data["new"], label=LABELS[DeliveryStatus(e.data["new"])], at=e.occurred_at
        )
        for e in timeline
        if e.kind == "DeliveryStatusChanged"
    )
    show_stop = stop is not None and d.status not in (
        *FINISHED,
        DeliveryStatus.FAILED,
        DeliveryStatus.CANCELLED,
    )
    return TrackingView(
        delivery_id=d.id,  # type: ignore[arg-type]
        tracking_number=d.tracking_number,
        status=str(d.status),
        status_label=d.status_label,
        recipient_first_name=d.recipient_first_name,
        address_line=locker.address if to_locker and locker else d.address_line,
        postcode="" if to_locker else d.postcode,
        city="" if to_locker else d.city,
        lat=dest.lat,
        lng=dest.lng,
        option=str(d.option),
        window_start=d.window_start,
        window_end=d.window_end,
        eta_expected=(stop.expected_arrival or stop.planned_arrival)
        if show_stop and stop
        else None,
        eta_earliest=stop.eta_earliest if show_stop and stop else None,
        eta_latest=stop.eta_latest if show_stop and stop else None,
        stops_before=stops_before,
        # "Delivered by" would be wrong under "returned to sender".
        driver_first_name=driver.first_name
        if driver and d.status is not DeliveryStatus.RETURNED
        else None,
        vehicle_kind=str(vtype.kind) if vtype else None,
        vehicle_label=m.VEHICLE_LABELS[vtype.kind] if vtype else None,
        driver_position=position,
        driver_hidden_until_stops=show_within if en_route and not may_see_driver else None,
        locker_name=locker.name if to_locker and locker else None,
        history=history,
        en_route=en_route,
        # The driver's part is over once the parcel is in the locker: no ETA, no driver.
        finished=d.status in FINISHED,
        plan_version=route.plan_version if route else None,
        generated_at=now,
        reschedule=rescheduling.summary(services, uow, d) if controls else None,
        handover=instructions.handover_view(services, uow, d) if controls else None,
        pickup=pickup_view(services, uow, d) if controls else None,
        proof=proof_view.proof_for(services, uow, d, timeline),
    )


def _last_known(services: Services, driver: m.Driver) -> tuple[Point, datetime] | None:
    """Return the driver's newest position: this process's hot one if fresher than the stored."""
    stored = None
    if driver.last_lat is not None and driver.last_lng is not None and driver.last_position_at:
        stored = (Point(driver.last_lat, driver.last_lng), driver.last_position_at)
    hot = services.live.peek(driver.id) if driver.id is not None else None
    fresher = (
        hot is not None
        and hot.lat is not None
        and hot.lng is not None
        and hot.at is not None
        and (stored is None or hot.at > stored[1])
    )
    if fresher:
        return Point(hot.lat, hot.lng), hot.at  # type: ignore[union-attr, arg-type, return-value]
    return stored


def live_snapshot(services: Services, delivery_id: int) -> dict[str, Any]:
    """Return the full live state of one delivery, sent on every (re)connect."""
    with services.uow() as uow:
        d = uow.repo.get(m.Delivery, delivery_id)
        if d is None:
            raise NotFound("This tracking link is not valid.")
        return snapshot_payload(_view(services, uow, d, controls=False))


def snapshot_payload(view: TrackingView) -> dict[str, Any]:
    """Turn a tracking view into the JSON the page's script understands."""
    pos = view.driver_position
    return payloads.snapshot(
        generated_at=view.generated_at,
        plan_version=view.plan_version,
        status=view.status,
        label=view.status_label,
        window=(view.window_start, view.window_end),
        eta_window=(view.eta_expected, view.eta_earliest, view.eta_latest),
        stops_before=view.stops_before,
        destination=(view.lat, view.lng),
        driver=(pos.lat, pos.lng, pos.at, pos.stale) if pos else None,
        driver_hidden_until_stops=view.driver_hidden_until_stops,
        history=[(h.status, h.label, h.at) for h in view.history],
        finished=view.finished,
        proof=proof_view.payload(view.proof) if view.proof else None,
    )
