"""Plan a depot's day into routes with the optimizer, and send routes out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from time import perf_counter
from zoneinfo import ZoneInfo

from ..domain import model as m
from ..domain.errors import NotFound, RoutingError
from ..domain.eta import eta_window, schedule
from ..domain.events import Actor, DeliveryDropped, DeliveryPlanned, EtaChanged
from ..domain.routing import Point, RouteProblem, StopSpec, VehicleSpec, scaled
from ..domain.sms import MessageKind, attempt_occasion
from ..domain.status import DeliveryStatus
from . import Services, notifications
from .unit_of_work import UnitOfWork

PLANNABLE = (DeliveryStatus.CREATED, DeliveryStatus.SCHEDULED, DeliveryStatus.RESCHEDULED)
LOCKER_OPTIONS = (m.DeliveryOption.LOCKER, m.DeliveryOption.PICKUP_POINT)


@dataclass(frozen=True)
class PlanSummary:
    """What a planning run did, for the CLI and the log."""

    routes: int
    planned: int
    dropped: dict[str, str]


def plan_depot_day(services: Services, depot_id: int, service_date: date) -> PlanSummary:
    """Plan every plannable delivery of a depot's day onto its drivers and vehicles.

    Existing routes of that day that have not started are replaced; each planned
    delivery is scheduled with a stop, a planned arrival and an ETA window.
    """
    with services.uow() as uow:
        depot = uow.repo.get(m.Depot, depot_id)
        if depot is None:
            raise NotFound(f"There is no depot {depot_id}.")
        now = services.clock.now()
        tz = ZoneInfo(depot.timezone)
        opens = datetime.combine(service_date, time.fromisoformat(depot.opens_at), tz)
        closes = datetime.combine(service_date, time.fromisoformat(depot.closes_at), tz)
        epoch = max(opens, now.astimezone(tz)).replace(microsecond=0)

        for route in uow.repo.routes_on(service_date, depot_id):
            if route.status is m.RouteStatus.PLANNED:
                for stop in route.stops:
                    for d in uow.repo.deliveries_at_stop(stop.id):  # type: ignore[arg-type]
                        d.stop_id = None
                uow.repo.delete(route)
        uow.repo.flush()

        deliveries = [
            d
            for d in uow.repo.deliveries_on(depot_id, service_date)
            if d.status in PLANNABLE and d.stop_id is None
        ]
        # Windows promised past closing time still need a driver: stretch the day to them.
        latest = max((d.window_end for d in deliveries if d.window_end), default=closes)
        closes = max(closes, latest + timedelta(hours=1))
        if epoch >= closes:
            raise RoutingError(f"{depot.name} is closed for the rest of {service_date}.")
        crews = _crews(uow, depot_id, service_date)
        if not crews:
            raise RoutingError(f"{depot.name} has no active drivers with vehicles.")

        groups = _group_stops(deliveries)
        home = Point(depot.lat, depot.lng)
        vehicles = tuple(
            _vehicle_spec(str(vehicle.id), vtype, home, home, 0, closes - epoch)
            for _driver, vehicle, vtype in crews
        )
        places = {key: _place(uow, key, members) for key, members in groups.items()}
        specs = []
        for key, members in groups.items():
            kind = m.StopKind.LOCKER if key.startswith("L") else m.StopKind.ADDRESS
            start, end = _stop_window(kind, members, epoch, closes)
            specs.append(
                StopSpec(
                    id=key,
                    location=places[key],
                    window_start=max(0, int((start - epoch).total_seconds())),
                    window_end=max(0, int((end - epoch).total_seconds())),
                    service_s=_service_seconds(key, len(members)),
                    demand=len(members),
                    size=max(m.SIZE_ORDER[d.parcel_size] for d in members),
                )
            )
        problem = RouteProblem(
            epoch=epoch.astimezone(ZoneInfo("UTC")), vehicles=vehicles, stops=tuple(specs)
        )
        matrix = services.travel_times.matrix(problem.points(), problem.epoch)
        plan = services.optimizer.solve(problem, matrix, services.settings.optimizer_time_limit_s)

        crew_by_vehicle = {str(v.id): (d, v) for d, v, _t in crews}
        nv = len(vehicles)
        node_of = {spec.id: 2 * nv + i for i, spec in enumerate(problem.stops)}
        speed_of = {v.id: (i, v.speed_factor) for i, v in enumerate(vehicles)}
        planned = 0
        routes = 0
        for planned_route in plan.routes:
            driver, vehicle = crew_by_vehicle[planned_route.vehicle_id]
            route = m.Route(
                driver_id=driver.id,  # type: ignore[arg-type]
                vehicle_id=vehicle.id,  # type: ignore[arg-type]
                depot_id=depot_id,
                service_date=service_date,
                planned_start=problem.at(0),
                planned_end=problem.at(planned_route.end_time),
                planned_distance_m=planned_route.distance_m,
            )
            uow.repo.add(route)
            routes += 1
            here, speed = speed_of[planned_route.vehicle_id]
            for seq, visit in enumerate(planned_route.visits, start=1):
                members = groups[visit.stop_id]
                travel = scaled(matrix.durations[here][node_of[visit.stop_id]], speed)
                here = node_of[visit.stop_id]
                arrival = problem.at(visit.service_start)
                earliest, latest = eta_window(arrival, seq - 1)
                stop = m.Stop(
                    route_id=None,
                    sequence=seq,
                    kind=m.StopKind.LOCKER if visit.stop_id.startswith("L") else m.StopKind.ADDRESS,
                    lat=places[visit.stop_id].lat,
                    lng=places[visit.stop_id].lng,
                    service_seconds=_service_seconds(visit.stop_id, len(members)),
                    planned_arrival=arrival,
                    planned_travel_s=travel,
                    expected_arrival=arrival,
                    eta_earliest=earliest,
                    eta_latest=latest,
                    locker_id=members[0].locker_id if visit.stop_id.startswith("L") else None,
                )
                route.stops.append(stop)
            uow.repo.flush()
            for stop, visit in zip(route.stops, planned_route.visits, strict=True):
                for d in groups[visit.stop_id]:
                    d.stop_id = stop.id
                    if d.status is not DeliveryStatus.SCHEDULED:
                        d.transition_to(
                            DeliveryStatus.SCHEDULED,
                            at=now,
                            actor=Actor.OPTIMIZER,
                            reason="planned onto a route",
                        )
                    d.record(
                        DeliveryPlanned(
                            delivery_id=d.id,
                            occurred_at=now,
                            actor=Actor.OPTIMIZER,
                            route_id=route.id,  # type: ignore[arg-type]
                            plan_version=route.plan_version,
                            sequence=stop.sequence,
                            planned_arrival=stop.planned_arrival.isoformat(),  # type: ignore[union-attr]
                            reason="day planned",
                        )
                    )
                    planned += 1
        for key, reason in plan.dropped.items():
            for d in groups[key]:
                d.record(
                    DeliveryDropped(
                        delivery_id=d.id, occurred_at=now, actor=Actor.OPTIMIZER, reason=reason
                    )
                )
        uow.commit()
        return PlanSummary(routes=routes, planned=planned, dropped=dict(plan.dropped))


def dispatch_route(services: Services, route_id: int) -> int:
    """Send a planned route out: its parcels go out for delivery. Return how many."""
    with services.uow() as uow:
        route = uow.repo.get(m.Route, route_id)
        if route is None:
            raise NotFound(f"There is no route {route_id}.")
        now = services.clock.now()
        route.status = m.RouteStatus.IN_PROGRESS
        route.started_at = route.started_at or now
        count = 0
        for stop in route.stops:
            for d in uow.repo.deliveries_at_stop(stop.id):  # type: ignore[arg-type]
                if d.status is DeliveryStatus.SCHEDULED:
                    d.transition_to(
                        DeliveryStatus.OUT_FOR_DELIVERY,
                        at=now,
                        actor=Actor.SYSTEM,
                        reason="route dispatched",
                    )
                    notifications.queue_message(
                        services,
                        uow,
                        d,
                        MessageKind.DISPATCHED,
                        occasion=attempt_occasion(d.attempts + 1),
                    )
                    count += 1
        uow.commit()
        return count


def _vehicle_spec(
    vehicle_id: str,
    vtype: m.VehicleType,
    start: Point,
    end: Point,
    shift_start: int,
    shift_length: timedelta,
    fixed_cost: float | None = None,
) -> VehicleSpec:
    """Describe a vehicle of ``vtype`` to the optimizer."""
    return VehicleSpec(
        id=vehicle_id,
        start=start,
        end=end,
        shift_start=shift_start,
        shift_end=int(shift_length.total_seconds()),
        capacity=vtype.capacity,
        speed_factor=vtype.speed_factor,
        max_size=m.SIZE_ORDER[vtype.max_parcel_size],
        range_m=vtype.range_km * 1000,
        cost_per_km=vtype.cost_per_km,
        cost_per_hour=vtype.cost_per_hour,
        fixed_cost=vtype.fixed_cost if fixed_cost is None else fixed_cost,
    )


def _stop_window(
    kind: m.StopKind, parcels: list[m.Delivery], now: datetime, closes: datetime
) -> tuple[datetime, datetime]:
    """Return the stop's service window (``m.stop_window``) clamped to the rest of the day.

    Members that disagree, or a window already past, give the widest honest window: serve
    as soon as the route allows rather than drop the stop.
    """
    start, end = m.stop_window(kind, [(d.window_start, d.window_end) for d in parcels])
    start = max(start or now, now)
    end = end or closes
    if end < start:
        end = max([d.window_end for d in parcels if d.window_end] + [closes])
    return start, end


def _place(uow: UnitOfWork, key: str, members: list[m.Delivery]) -> Point:
    """Return where a stop is: the locker for locker stops, else the recipient's door."""
    if key.startswith("L"):
        locker = uow.repo.get(m.Locker, int(key[1:]))
        if locker is not None:
            return Point(locker.lat, locker.lng)
    return Point(members[0].lat, members[0].lng)


def _crews(
    uow: UnitOfWork, depot_id: int, service_date: date
) -> list[tuple[m.Driver, m.Vehicle, m.VehicleType]]:
    """Pair the depot's free drivers with its free vehicles, in id order.

    Drivers and vehicles already out on a route that day are busy: a new plan for the
    remaining parcels must not give them a second route.
    """
    busy = [
        r
        for r in uow.repo.routes_on(service_date, depot_id)
        if r.status is not m.RouteStatus.PLANNED
    ]
    busy_drivers = {r.driver_id for r in busy}
    busy_vehicles = {r.vehicle_id for r in busy}
    drivers = [
        d
        for d in uow.repo.all(m.Driver)
        if d.depot_id == depot_id and d.active and d.id not in busy_drivers
    ]
    vehicles = [v for v in uow.repo.vehicles_at(depot_id) if v.id not in busy_vehicles]
    return [
        (driver, vehicle, vtype)
        # Extra drivers or vehicles without a partner stay home today.
        for driver, vehicle in zip(drivers, vehicles, strict=False)
        if (vtype := uow.repo.get(m.VehicleType, vehicle.vehicle_type_id)) is not None
    ]


def _group_stops(deliveries: list[m.Delivery]) -> dict[str, list[m.Delivery]]:
    """Group parcels into stops: one per parcel at a door, one per locker for all its parcels."""
    groups: dict[str, list[m.Delivery]] = {}
    for d in deliveries:
        if d.option in LOCKER_OPTIONS and d.locker_id is not None:
            key = f"L{d.locker_id}"
        else:
            key = f"D{d.id}"
        groups.setdefault(key, []).append(d)
    return groups


def _service_seconds(key: str, parcels: int) -> int:
    if key.startswith("L"):
        return 120 + 30 * parcels
    return 180 + 60 * (parcels - 1)


# ---------------------------------------------------------------- live re-planning

FRESH_POSITION = timedelta(minutes=15)
MIN_REPORTED_SHIFT = timedelta(minutes=1)
REPLANNABLE = (m.RouteStatus.PLANNED, m.RouteStatus.IN_PROGRESS)


@dataclass(frozen=True)
class EtaChange:
    """How one delivery's expected arrival moved in a re-plan."""

    delivery_id: int
    old_arrival: datetime | None
    new_arrival: datetime
    stops_before: int


@dataclass(frozen=True)
class ReplanResult:
    """What a re-plan changed."""

    plan_versions: dict[int, int]
    changes: tuple[EtaChange, ...]
    dropped: dict[str, str]
    solve_s: float


def request_reoptimization(services: Services, route_id: int, reason: str) -> None:
    """Queue a re-plan of a route; requests made while one is waiting merge into it."""
    services.jobs.enqueue("reoptimize_route", route_id, reason, key=f"reoptimize:route:{route_id}")


def reoptimize_route(services: Services, route_id: int, reason: str) -> ReplanResult:
    """Re-plan the rest of one route from where its driver is now; see ``_replan``."""
    return _replan(services, [route_id], reason)


def reoptimize_depot(services: Services, depot_id: int, reason: str) -> ReplanResult:
    """Re-plan every open route of a depot today together.

    Stops move between routes that have not left the depot; a dispatched route keeps its
    parcels (they are in its van) and only its order changes.
    """
    with services.uow() as uow:
        route_ids = [
            r.id
            for r in uow.repo.routes_on(services.today(), depot_id)
            if r.status in REPLANNABLE and r.id is not None
        ]
    if not route_ids:
        return ReplanResult(plan_versions={}, changes=(), dropped={}, solve_s=0.0)
    return _replan(services, route_ids, reason)


def reoptimize_depot_by_code(services: Services, depot_code: str, reason: str) -> ReplanResult:
    """Re-plan a depot named by its code."""
    with services.uow() as uow:
        depot = next((d for d in uow.repo.all(m.Depot) if d.code == depot_code), None)
        if depot is None or depot.id is None:
            raise NotFound(f"There is no depot {depot_code!r}.")
        depot_id = depot.id
    return reoptimize_depot(services, depot_id, reason)


@dataclass
class _OpenStop:
    stop_id: int
    route_id: int
    arrived: bool
    planned_arrival: datetime | None
    spec: StopSpec


def _replan(services: Services, route_ids: list[int], reason: str) -> ReplanResult:
    """Solve the open part of some routes again and save the result as new plan versions.

    The solve runs outside any transaction; the save re-reads the stops so a stop the
    driver completed meanwhile keeps its status. Stops the solver cannot fit stay at the
    end of their route, with an honest (late) ETA, instead of disappearing.
    """
    now = services.clock.now()
    epoch = now.replace(microsecond=0)
    vehicles: list[VehicleSpec] = []
    open_stops: dict[str, _OpenStop] = {}
    locked: dict[str, tuple[str, ...]] = {}
    with services.uow() as uow:
        for route_id in route_ids:
            route = uow.repo.get(m.Route, route_id)
            if route is None:
                raise NotFound(f"There is no route {route_id}.")
            if route.status not in REPLANNABLE:
                continue
            depot = uow.repo.get(m.Depot, route.depot_id)
            driver = uow.repo.get(m.Driver, route.driver_id)
            vehicle = uow.repo.get(m.Vehicle, route.vehicle_id)
            vtype = uow.repo.get(m.VehicleType, vehicle.vehicle_type_id) if vehicle else None
            if depot is None or driver is None or vtype is None:
                continue
            tz = ZoneInfo(depot.timezone)
            closes = datetime.combine(route.service_date, time.fromisoformat(depot.closes_at), tz)
            start = Point(depot.lat, depot.lng)
            shift_start = 0
            if route.status is m.RouteStatus.IN_PROGRESS:
                fresh = driver.last_position_at and now - driver.last_position_at < FRESH_POSITION
                if fresh and driver.last_lat is not None and driver.last_lng is not None:
                    start = Point(driver.last_lat, driver.last_lng)
            elif route.planned_start and route.planned_start > epoch:
                shift_start = int((route.planned_start - epoch).total_seconds())
            key = str(route.id)
            loaded = route.status is m.RouteStatus.IN_PROGRESS
            latest_end = closes
            arrived: list[str] = []
            for stop in route.ordered_stops():
                if not stop.is_open or stop.id is None:
                    continue
                parcels = uow.repo.deliveries_at_stop(stop.id)
                w_start, w_end = _stop_window(stop.kind, parcels, epoch, closes)
                latest_end = max(latest_end, w_end)
                sid = f"S{stop.id}"
                open_stops[sid] = _OpenStop(
                    stop_id=stop.id,
                    route_id=route.id,  # type: ignore[arg-type]
                    arrived=stop.status is m.StopStatus.ARRIVED,
                    planned_arrival=stop.planned_arrival,
                    spec=StopSpec(
                        id=sid,
                        location=Point(stop.lat, stop.lng),
                        window_start=max(0, int((w_start - epoch).total_seconds())),
                        window_end=max(0, int((w_end - epoch).total_seconds())),
                        service_s=stop.service_seconds,
                        demand=max(1, len(parcels)),
                        size=max((m.SIZE_ORDER[d.parcel_size] for d in parcels), default=0),
                        # A dispatched route's parcels are aboard its van, and a stop the
                        # driver is standing at stays theirs and first: only routes still
                        # at the depot trade stops.
                        fixed_vehicle=key
                        if loaded or stop.status is m.StopStatus.ARRIVED
                        else None,
                    ),
                )
                if stop.status is m.StopStatus.ARRIVED:
                    arrived.append(sid)
            if arrived:
                locked[key] = tuple(arrived)
            horizon_end = latest_end + timedelta(hours=1)
            vehicles.append(
                _vehicle_spec(
                    key,
                    vtype,
                    start,
                    Point(depot.lat, depot.lng),
                    shift_start,
                    horizon_end - epoch,
                    fixed_cost=0.0,  # the vehicles are already out: no fixed cost to save
                )
            )
    if not vehicles:
        return ReplanResult(plan_versions={}, changes=(), dropped={}, solve_s=0.0)

    problem = RouteProblem(
        epoch=epoch.astimezone(UTC),
        vehicles=tuple(vehicles),
        stops=tuple(o.spec for o in open_stops.values()),
        locked=locked,
        # Start from today's order: one change must not reshuffle everybody else's day.
        initial={
            v.id: tuple(sid for sid, o in open_stops.items() if str(o.route_id) == v.id)
            for v in vehicles
        },
    )
    matrix = services.travel_times.matrix(problem.points(), problem.epoch)
    started = perf_counter()
    plan = services.optimizer.solve(problem, matrix, services.settings.optimizer_time_limit_s)
    solve_s = perf_counter() - started

    # Per route: the solver's visits, then what it dropped, in their old order.
    sequences: dict[int, list[tuple[str, datetime | None]]] = {int(v.id): [] for v in vehicles}
    for planned in plan.routes:
        for visit in planned.visits:
            sequences[int(planned.vehicle_id)].append(
                (visit.stop_id, problem.at(visit.service_start))
            )
    for sid in sorted(plan.dropped, key=lambda s: open_stops[s].planned_arrival or epoch):
        sequences[open_stops[sid].route_id].append((sid, None))

    nv = len(vehicles)
    node_of = {spec.id: 2 * nv + i for i, spec in enumerate(problem.stops)}
    vehicle_index = {int(v.id): i for i, v in enumerate(vehicles)}
    changes: list[EtaChange] = []
    versions: dict[int, int] = {}
    with services.uow() as uow:
        for route_id, visits in sequences.items():
            route = uow.repo.get(m.Route, route_id)
            if route is None:
                continue
            route.plan_version += 1
            versions[route_id] = route.plan_version
            old_order = [s.id for s in route.ordered_stops() if s.is_open]
            closed = [s for s in route.ordered_stops() if not s.is_open]
            next_seq = max((s.sequence for s in closed), default=0) + 1
            vi = vehicle_index[route_id]
            speed = vehicles[vi].speed_factor
            here, t = vi, epoch  # matrix node and time the driver leaves it
            position = 0
            for sid, planned_at in visits:
                found = uow.repo.get(m.Stop, open_stops[sid].stop_id)
                if found is None or not found.is_open:
                    continue  # completed while we were solving: its record stands
                stop = found
                travel = scaled(matrix.durations[here][node_of[sid]], speed)
                if planned_at is None:
                    # Dropped by the solver: promise honestly, straight after the previous stop.
                    planned_at = schedule(t, [(travel, None, 0)])[0]
                old_at = stop.planned_arrival
                old_position = old_order.index(stop.id) if stop.id in old_order else None
                stop.route_id = route_id
                stop.sequence = next_seq + position
                stop.planned_arrival = planned_at
                stop.planned_travel_s = travel
                stop.expected_arrival = planned_at
                stop.eta_earliest, stop.eta_latest = eta_window(planned_at, position)
                shifted = old_at is None or abs(planned_at - old_at) >= MIN_REPORTED_SHIFT
                if shifted or old_position != position:
                    for d in uow.repo.deliveries_at_stop(stop.id):  # type: ignore[arg-type]
                        d.record(
                            EtaChanged(
                                delivery_id=d.id,
                                occurred_at=now,
                                actor=Actor.OPTIMIZER,
                                route_id=route_id,
                                plan_version=route.plan_version,
                                old_arrival=old_at.isoformat() if old_at else None,
                                new_arrival=planned_at.isoformat(),
                                eta_earliest=stop.eta_earliest.isoformat(),
                                eta_latest=stop.eta_latest.isoformat(),
                                stops_before=position,
                                shift_minutes=(
                                    round((planned_at - old_at).total_seconds() / 60)
                                    if old_at
                                    else 0
                                ),
                                reason=reason,
                            )
                        )
                        changes.append(EtaChange(d.id, old_at, planned_at, position))  # type: ignore[arg-type]
                here = node_of[sid]
                t = planned_at + timedelta(seconds=stop.service_seconds)
                position += 1
        uow.commit()
    # Stops may have moved between drivers: rooms watching each driver are worked out anew.
    services.live.forget_rooms()
    return ReplanResult(
        plan_versions=versions, changes=tuple(changes), dropped=dict(plan.dropped), solve_s=solve_s
    )
