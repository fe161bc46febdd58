"""The live-ETA store: a driver's open stops, their live ETAs, and what to send and change.

``gps_intake`` calls it every few seconds per driver (the 5-second store), inside the unit
of work that stores the driver's history. ``store_from_cache`` works from the route kept in
``DriverLive.route`` (one light query to check it is still current, then Core statements);
``refresh_route`` loads the route, turns parcels "arriving", queues "approaching" texts and
returns the route to cache. Both say what to publish and which rooms watch the driver.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from ..domain import live_payloads as payloads
from ..domain import model as m
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
from ..domain.status import EN_ROUTE, DeliveryStatus
from . import Services, notifications
from .live_state import OpenStop, RouteCache
from .unit_of_work import UnitOfWork

ARRIVING_METRES = 150.0
ARRIVING_WITHIN = timedelta(minutes=3)
ETA_REPUBLISH = timedelta(seconds=30)

Outgoing = list[tuple[str, str, dict[str, Any]]]
Stored = tuple[Outgoing, list[tuple[str, int]], list[str], RouteCache | None]


def store_from_cache(
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


def refresh_route(
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
        by_stop[eta.stop_id].estimate(expected=eta.expected, eta=(eta.earliest, eta.latest))
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
