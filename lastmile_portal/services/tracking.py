"""What a recipient sees (page and live snapshot), and driver positions coming in."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from ..domain import gps
from ..domain import live_payloads as payloads
from ..domain import model as m
from ..domain.errors import InvalidInput, NotFound, ServiceUnavailable
from ..domain.eta import LiveEta, StopAhead, live_etas, observed_pace
from ..domain.events import Actor
from ..domain.geo import haversine_m
from ..domain.routing import Point
from ..domain.sms import (
    MessageKind,
    attempt_occasion,
    gsm_safe,
    idempotency_key,
    is_approaching,
)
from ..domain.status import EN_ROUTE, LABELS, DeliveryStatus
from . import Services, notifications
from .live_state import PERSIST_EVERY, DriverLive, OpenStop, RouteCache
from .unit_of_work import UnitOfWork

log = logging.getLogger("lastmile.tracking")

TOKEN_ALPHABET = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
STALE_AFTER = timedelta(minutes=2)
# History waiting for the database while it is away: about 3 hours of one fix per second.
MAX_BUFFERED = 10_000
ARRIVING_METRES = 150.0
ARRIVING_WITHIN = timedelta(minutes=3)
FINISHED = (DeliveryStatus.DELIVERED, DeliveryStatus.AT_LOCKER, DeliveryStatus.COLLECTED)
ETA_REPUBLISH = timedelta(seconds=30)


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


def _view(services: Services, uow: UnitOfWork, d: m.Delivery) -> TrackingView:
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
        driver_first_name=driver.first_name if driver else None,
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
        return snapshot_payload(_view(services, uow, d))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def snapshot_payload(view: TrackingView) -> dict[str, Any]:
    """Turn a tracking view into the JSON the page's script understands."""
    pos = view.driver_position
    return {
        "version": int(view.generated_at.timestamp() * 1000),
        "plan_version": view.plan_version,
        "status": view.status,
        "label": view.status_label,
        "window": {"start": _iso(view.window_start), "end": _iso(view.window_end)},
        "eta": payloads.eta(
            expected=view.eta_expected,
            earliest=view.eta_earliest,
            latest=view.eta_latest,
            stops_before=view.stops_before,
            plan_version=view.plan_version,
        )
        if view.eta_earliest and view.eta_latest
        else None,
        "stops_before": view.stops_before,
        "destination": {"lat": view.lat, "lng": view.lng},
        "position": payloads.position(pos.lat, pos.lng, pos.at, stale=pos.stale) if pos else None,
        "driver_hidden_until_stops": view.driver_hidden_until_stops,
        "history": [
            {"status": h.status, "label": h.label, "at": h.at.isoformat()} for h in view.history
        ],
        "finished": view.finished,
    }


# ---------------------------------------------------------------- positions in


@dataclass(frozen=True)
class PositionsResult:
    """Count the fixes taken, ignored (old, duplicate) and flagged (jumps); list the rejected."""

    accepted: int
    ignored: int
    flagged: int = 0
    rejected: tuple[gps.Rejected, ...] = ()


def record_positions(services: Services, driver_id: int, pings: object) -> PositionsResult:
    """Take a batch of GPS fixes from a driver's phone and push the newest one live.

    Fixes that cannot be read are dropped and reported, one by one, without costing the
    rest of the batch; a batch with no readable fix at all is refused. Fixes older than
    the newest one already taken are ignored (a phone flushing its offline buffer after a
    fresher ping); an impossible jump is kept, flagged, and does not move the driver. The
    position goes out at once to the rooms watching this driver; history, the driver's
    stored position and the live ETAs are brought up to date every few seconds.
    """
    now = services.clock.now()
    fixes, rejected = gps.parse_batch(pings, now)
    if not fixes:
        raise InvalidInput(_nothing_taken(rejected))
    live = services.live.driver(driver_id)
    with live.lock:
        if not live.seeded:
            _seed(services, driver_id, live)
        accepted = flagged = 0
        track = gps.Track(
            (live.lat, live.lng, live.at)
            if live.lat is not None and live.lng is not None and live.at is not None
            else None,
            live.doubts,
        )
        for fix in fixes:
            verdict, track = gps.follow(track, fix)
            if verdict is gps.Verdict.IGNORED:
                continue
            suspect = verdict is gps.Verdict.FLAGGED
            if gps.keeps_history(live.stored, fix, suspect):
                live.buffer.append(
                    m.DriverPosition(
                        driver_id=driver_id,
                        lat=fix.lat,
                        lng=fix.lng,
                        recorded_at=fix.recorded_at,
                        received_at=now,
                        speed=fix.speed,
                        heading=fix.heading,
                        accuracy=fix.accuracy,
                        suspect=suspect,
                    )
                )
                live.stored = (fix.lat, fix.lng, fix.recorded_at)
            if suspect:
                flagged += 1
            else:
                accepted += 1
        if track.position is not None:
            live.lat, live.lng, live.at = track.position
        live.doubts = track.doubts
        published = False
        if accepted and live.rooms is not None:
            _publish_position(services, live)
            published = True
        # Every few seconds of server time, or of the phone's time (a buffer flushed after
        # a tunnel covers minutes at once and must not wait for the next ping).
        due = (
            live.persisted_at is None
            or now - live.persisted_at >= PERSIST_EVERY
            or (
                live.at is not None
                and live.persisted_fix_at is not None
                and live.at - live.persisted_fix_at >= PERSIST_EVERY
            )
        )
        batch: list[m.DriverPosition] = []
        if live.buffer and (due or live.rooms is None) and not live.persisting:
            batch, live.buffer, live.persisting = live.buffer, [], True
            fix_now = (live.lat, live.lng, live.at)
            texted = frozenset(live.texted)
            route = live.route
    if batch:
        # Stored outside the driver's lock: the next ping goes out while this one is written.
        try:
            outgoing, rooms, queued, route = _persist(
                services, driver_id, batch, fix_now, now, texted, route
            )
        except ServiceUnavailable:
            # The database is away: keep the history for the next store, within a bound.
            with live.lock:
                live.buffer = (batch + live.buffer)[-MAX_BUFFERED:]
                live.persisting = False
            raise
        except Exception:
            # Anything else would fail again: a batch that cannot be stored is dropped, so
            # it never blocks the pings after it.
            with live.lock:
                live.persisting = False
            log.exception(
                "dropped %d GPS fixes of driver %s: storing failed", len(batch), driver_id
            )
            raise
        with live.lock:
            live.persisting = False
            live.persisted_at, live.persisted_fix_at, live.rooms = now, fix_now[2], rooms
            live.texted.update(queued)
            live.route = route
        for room, event, payload in outgoing:
            if event != "position" or (accepted and not published):
                services.publisher.publish(room, event, payload)
    return PositionsResult(
        accepted=accepted,
        ignored=len(fixes) - accepted - flagged,
        flagged=flagged,
        rejected=tuple(rejected),
    )


def _nothing_taken(rejected: list[gps.Rejected]) -> str:
    if len(rejected) == 1:
        return rejected[0].error
    shown = "; ".join(f"position {r.index}: {r.error}" for r in rejected[:3])
    more = f" (and {len(rejected) - 3} more)" if len(rejected) > 3 else ""
    return f"None of the {len(rejected)} positions could be taken: {shown}{more}"


def _seed(services: Services, driver_id: int, live: DriverLive) -> None:
    """Start this process's hot state from the stored position."""
    with services.uow() as uow:
        driver = uow.repo.get(m.Driver, driver_id)
        if driver is None:
            raise NotFound(f"There is no driver {driver_id}.")
        live.lat, live.lng, live.at = driver.last_lat, driver.last_lng, driver.last_position_at
        last = uow.repo.last_position(driver_id)
        live.stored = (last.lat, last.lng, last.recorded_at) if last else None
    live.seeded = True


def _publish_position(services: Services, live: DriverLive) -> None:
    payload = payloads.position(live.lat, live.lng, live.at)  # type: ignore[arg-type]
    show_within = services.settings.show_driver_within_stops
    for room, stops_before in live.rooms or []:
        if stops_before <= show_within:
            services.publisher.publish(room, "position", payload)


Outgoing = list[tuple[str, str, dict[str, Any]]]
Stored = tuple[Outgoing, list[tuple[str, int]], list[str], RouteCache | None]


def _persist(
    services: Services,
    driver_id: int,
    batch: list[m.DriverPosition],
    fix: tuple[float | None, float | None, datetime | None],
    now: datetime,
    texted: frozenset[str] = frozenset(),
    route: RouteCache | None = None,
) -> Stored:
    """Store buffered history and the driver's newest fix, and refresh the live ETAs.

    ``texted`` holds outbox keys of "approaching" texts known to be stored already, and
    ``route`` what the last store cached of the driver's route. Return what to publish,
    the rooms now watching the driver, the keys of "approaching" texts that are in the
    outbox once this commits, and the route to cache for the next store.
    """
    lat, lng, at = fix
    with services.uow() as uow:
        if route is not None and lat is not None and lng is not None and at is not None:
            fast = _store_from_cache(
                services, uow, driver_id, batch, (lat, lng, at), now, texted, route
            )
            if fast is not None:
                uow.commit()
                return fast
        driver = uow.repo.get(m.Driver, driver_id)
        if driver is None:
            raise NotFound(f"There is no driver {driver_id}.")
        for position in batch:
            uow.repo.add(position)
        if at is not None and (driver.last_position_at is None or at > driver.last_position_at):
            driver.last_lat, driver.last_lng, driver.last_position_at = lat, lng, at
        stored: Stored = ([], [], [], None)
        if driver.last_lat is not None:
            stored = _refresh_route(services, uow, driver, now, texted)
        uow.commit()
    return stored


def _store_from_cache(
    services: Services,
    uow: UnitOfWork,
    driver_id: int,
    batch: list[m.DriverPosition],
    fix: tuple[float, float, datetime],
    now: datetime,
    texted: frozenset[str],
    route: RouteCache,
) -> Stored | None:
    """Store a batch without loading the route; return None when the full store must run.

    It must when the route changed since it was cached (a re-plan or a stop event in any
    process), when a parcel turns "arriving" or is due an "approaching" text, or when
    another process stored a newer position.
    """
    if uow.repo.live_route_key(driver_id, services.today()) != route.key:
        return None
    lat, lng, at = fix
    work = _work_out(services, route, Point(lat, lng), at, now, texted)
    if work.actions:
        return None
    etas = [(e.stop_id, e.expected, e.earliest, e.latest) for e in work.moved]
    if not uow.repo.store_live(driver_id, fix, batch, etas):
        return None
    moved = {e.stop_id: e for e in work.moved}
    stops = tuple(
        replace(s, stored=(moved[s.id].expected, moved[s.id].earliest, moved[s.id].latest))
        if s.id in moved
        else s
        for s in route.stops
    )
    return work.out, work.rooms, [], replace(route, stops=stops)


def _refresh_route(
    services: Services,
    uow: UnitOfWork,
    driver: m.Driver,
    now: datetime,
    texted: frozenset[str] = frozenset(),
) -> Stored:
    """Recompute the live ETAs of the driver's open stops from the loaded route.

    Return what to publish where, the rooms watching this driver with how many stops
    come before each (the position fast path sends to those), the outbox keys of the
    "approaching" texts that are stored once the caller commits, and the route to cache.
    """
    route = uow.repo.route_of_driver(driver.id, services.today())  # type: ignore[arg-type]
    if route is None or route.status is not m.RouteStatus.IN_PROGRESS:
        return [], [], [], None
    stops = route.ordered_stops()
    open_stops = [s for s in stops if s.is_open]
    if not open_stops:
        return [], [], [], None
    parcels = uow.repo.deliveries_at_stops([s.id for s in open_stops])  # type: ignore[misc]
    pace = _pace(route, stops)
    here = Point(driver.last_lat, driver.last_lng)  # type: ignore[arg-type]
    work = _work_out(
        services,
        _route_cache(route, open_stops, parcels, pace),
        here,
        driver.last_position_at,  # type: ignore[arg-type]
        now,
        texted,
    )
    by_stop = {s.id: s for s in open_stops}
    for eta in work.moved:
        stop = by_stop[eta.stop_id]
        stop.expected_arrival, stop.eta_earliest, stop.eta_latest = (
            eta.expected,
            eta.earliest,
            eta.latest,
        )
    by_id = {d.id: d for members in parcels.values() for d in members}
    stored: list[str] = []
    for arriving, delivery_id, eta in work.actions:
        d = by_id[delivery_id]
        if arriving:
            d.transition_to(
                DeliveryStatus.ARRIVING,
                at=now,
                actor=Actor.SYSTEM,
                reason="the driver is a few minutes away",
            )
            continue
        # Once per attempt: the outbox's key makes every later call a no-op, and the
        # caller remembers the key so later stores skip the query.
        occasion = attempt_occasion(d.attempts + 1)
        notifications.queue_message(
            services,
            uow,
            d,
            MessageKind.APPROACHING,
            occasion=occasion,
            values={
                "minutes": max(1, round((eta.expected - now).total_seconds() / 60)),
                "stops_before": eta.stops_before,
                "driver": gsm_safe(driver.first_name, 20),
            },
        )
        stored.append(idempotency_key(delivery_id, MessageKind.APPROACHING, occasion))
    # Cached as it will be committed: the statuses just changed and the ETAs just stored.
    return work.out, work.rooms, stored, _route_cache(route, open_stops, parcels, pace)


def _route_cache(
    route: m.Route, open_stops: list[m.Stop], parcels: dict[int, list[m.Delivery]], pace: float
) -> RouteCache:
    """Keep what the live ETAs need of a loaded route, keyed as live_route_key sees it."""
    key_rows: set[tuple[object, ...]] = set()
    stops = []
    for i, s in enumerate(open_stops):
        members = parcels.get(s.id, [])  # type: ignore[arg-type]
        opens, _ = m.stop_window(s.kind, [(d.window_start, d.window_end) for d in members])
        stops.append(
            OpenStop(
                id=s.id,  # type: ignore[arg-type]
                lat=s.lat,
                lng=s.lng,
                arrived=i == 0 and s.status is m.StopStatus.ARRIVED,
                travel_s=float(s.planned_travel_s),
                service_s=float(s.service_seconds),
                opens=opens,
                stored=(s.expected_arrival, s.eta_earliest, s.eta_latest),
                parcels=tuple((d.id, d.status, d.attempts) for d in members),  # type: ignore[misc]
            )
        )
        key_rows |= {(s.id, s.sequence, s.status, d.id, d.status, d.attempts) for d in members}
        if not members:
            key_rows.add((s.id, s.sequence, s.status, None, None, None))
    return RouteCache(
        key=(route.id, route.status, route.plan_version, frozenset(key_rows)),
        plan_version=route.plan_version,
        pace=pace,
        stops=tuple(stops),
    )


@dataclass
class _Work:
    """What a store changes and sends, worked out from a RouteCache."""

    out: Outgoing = field(default_factory=list)
    rooms: list[tuple[str, int]] = field(default_factory=list)
    moved: list[LiveEta] = field(default_factory=list)  # ETAs to store
    # In the order met: (True, parcel, eta) turns it "arriving"; (False, ...) texts it.
    actions: list[tuple[bool, int, LiveEta]] = field(default_factory=list)


def _work_out(
    services: Services,
    route: RouteCache,
    here: Point,
    at: datetime,
    now: datetime,
    texted: frozenset[str],
) -> _Work:
    """Compute every open stop's live ETA, the events to send and what must change."""
    first = route.stops[0]
    if first.arrived:
        to_first = 0.0
    else:
        leg = services.travel_times.matrix([here, Point(first.lat, first.lng)], now)
        to_first = leg.durations[0][1]
    ahead = [
        StopAhead(
            stop_id=s.id,
            travel_s=to_first if i == 0 else s.travel_s,
            service_s=s.service_s,
            window_start=s.opens,
        )
        for i, s in enumerate(route.stops)
    ]
    work = _Work()
    position = payloads.position(here.lat, here.lng, at)
    show_within = services.settings.show_driver_within_stops
    for stop, eta in zip(route.stops, live_etas(now, ahead, route.pace), strict=True):
        # Per stop, not per parcel: every parcel at a stop gets the same ETA.
        payload = (
            payloads.eta(
                expected=eta.expected,
                earliest=eta.earliest,
                latest=eta.latest,
                stops_before=eta.stops_before,
                plan_version=route.plan_version,
                confidence=eta.confidence,
            )
            if _eta_moved(stop.stored, eta)
            else None
        )
        if payload is not None:
            work.moved.append(eta)
        close = haversine_m(here, Point(stop.lat, stop.lng)) <= ARRIVING_METRES
        for delivery_id, status, attempts in stop.parcels:
            if status not in EN_ROUTE:
                continue
            room = f"delivery:{delivery_id}"
            work.rooms.append((room, eta.stops_before))
            if eta.stops_before <= show_within:
                work.out.append((room, "position", position))
            if payload is not None:
                work.out.append((room, "eta", payload))
            if (
                eta.stops_before == 0
                and status is DeliveryStatus.OUT_FOR_DELIVERY
                and (close or eta.expected - now <= ARRIVING_WITHIN)
            ):
                work.actions.append((True, delivery_id, eta))
            key = idempotency_key(
                delivery_id, MessageKind.APPROACHING, attempt_occasion(attempts + 1)
            )
            if key not in texted and is_approaching(eta.stops_before, eta.expected, now):
                work.actions.append((False, delivery_id, eta))
    return work


def _pace(route: m.Route, stops: list[m.Stop]) -> float:
    """Compare the drives done today with what the plan expected for them."""
    legs: list[tuple[float, float]] = []
    left = route.started_at
    for s in stops:
        if s.arrived_at is None:
            continue
        if left is not None and s.planned_travel_s > 0:
            legs.append((float(s.planned_travel_s), (s.arrived_at - left).total_seconds()))
        left = s.departed_at or s.arrived_at
    return observed_pace(legs)


def _eta_moved(
    stored: tuple[datetime | None, datetime | None, datetime | None], eta: LiveEta
) -> bool:
    expected, earliest, latest = stored
    if expected is None or earliest is None or latest is None:
        return True
    return (
        abs(expected - eta.expected) >= ETA_REPUBLISH
        or abs(earliest - eta.earliest) >= ETA_REPUBLISH
        or abs(latest - eta.latest) >= ETA_REPUBLISH
    )
