"""Plan a depot's day into routes with the optimizer, and send routes out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from time import monotonic, perf_counter
from zoneinfo import ZoneInfo

from ..domain import model as m
from ..domain import planning
from ..domain.construction import repair
from ..domain.errors import NotFound, RoutingError
from ..domain.events import Actor, DeliveryDropped, DeliveryPlanned, EtaChanged
from ..domain.routing import Matrix, Point
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
    dropped_parcels: dict[int, str] = field(default_factory=dict)  # delivery id -> reason


def plan_depot_day(
    services: Services,
    depot_id: int,
    service_date: date,
    on_solving: Callable[[int, float], None] | None = None,
) -> PlanSummary:
    """Plan every plannable delivery of a depot's day onto its drivers and vehicles.

    Existing routes of that day that have not started are replaced; each planned
    delivery is scheduled with a stop, a planned arrival and an ETA window. The search
    gets ``OPTIMIZER_TIME_LIMIT`` per hundred stops (``planning.day_time_limit``) and runs
    outside any transaction, so the day stays as it was, readable and writable, until the
    new plan is stored; ``on_solving(stops, seconds)`` is told the size and the time
    limit just before. Parcels cancelled or handed over meanwhile are left out of it.
    """
    with services.uow() as uow:
        depot = uow.repo.get(m.Depot, depot_id)
        if depot is None:
            raise NotFound(f"There is no depot {depot_id}.")
        now = services.clock.now()
        deliveries = _plannable(uow, depot_id, service_date)
        built = planning.build_day(_depot_day(uow, depot, service_date, now, deliveries))
    problem = built.problem
    limit = planning.day_time_limit(services.settings.optimizer_time_limit_s, len(problem.stops))
    if on_solving is not None:
        on_solving(len(problem.stops), limit)
    # The limit covers the travel matrix too (a second or two at 1,000 stops).
    started = monotonic()
    matrix = services.travel_times.matrix(problem.points(), problem.epoch)
    plan = services.optimizer.solve(problem, matrix, max(0.1, limit - (monotonic() - started)))
    outcome = planning.read_day(built, plan, matrix)
    with services.uow() as uow:
        # Read again: only parcels still waiting for a plan get this one.
        deliveries = _plannable(uow, depot_id, service_date)
        _clear_planned_routes(uow, depot_id, service_date)
        planned = sum(
            _save_route(uow, depot_id, service_date, new, deliveries, now) for new in outcome.routes
        )
        dropped = {
            pid: reason for pid, reason in outcome.dropped_parcels.items() if pid in deliveries
        }
        for parcel_id, reason in dropped.items():
            deliveries[parcel_id].record(
                DeliveryDropped(
                    delivery_id=parcel_id, occurred_at=now, actor=Actor.OPTIMIZER, reason=reason
                )
            )
        uow.commit()
        return PlanSummary(
            routes=len(outcome.routes),
            planned=planned,
            dropped=outcome.dropped,
            dropped_parcels=dropped,
        )


def _plannable(uow: UnitOfWork, depot_id: int, service_date: date) -> dict[int, m.Delivery]:
    """Return the day's parcels a plan may place: waiting, or on a route not yet out."""
    replaced = {
        s.id
        for r in uow.repo.routes_on(service_date, depot_id)
        if r.status is m.RouteStatus.PLANNED
        for s in r.stops
    }
    return {
        d.id: d
        for d in uow.repo.deliveries_on(depot_id, service_date)
        if d.status in PLANNABLE
        and d.id is not None
        and (d.stop_id is None or d.stop_id in replaced)
    }


def _clear_planned_routes(uow: UnitOfWork, depot_id: int, service_date: date) -> None:
    """Delete the day's routes that have not left, freeing their parcels to plan again."""
    for route in uow.repo.routes_on(service_date, depot_id):
        if route.status is m.RouteStatus.PLANNED:
            for stop in route.stops:
                for d in uow.repo.deliveries_at_stop(stop.id):  # type: ignore[arg-type]
                    d.stop_id = None
            uow.repo.delete(route)
    uow.repo.flush()


def _depot_day(
    uow: UnitOfWork,
    depot: m.Depot,
    service_date: date,
    now: datetime,
    deliveries: dict[int, m.Delivery],
) -> planning.DepotDay:
    """Describe a depot's day to the planner: its hours, free crews and waiting parcels."""
    tz = ZoneInfo(depot.timezone)
    parcels = tuple(
        planning.Parcel(
            id=d_id,
            location=Point(*d.hand_over_place),
            window=d.hand_over_window,
            size=m.SIZE_ORDER[d.parcel_size],
            locker_id=d.locker_id if d.option in LOCKER_OPTIONS else None,
        )
        for d_id, d in deliveries.items()
    )
    locker_ids = {p.locker_id for p in parcels if p.locker_id is not None}
    lockers = {
        lid: Point(locker.lat, locker.lng)
        for lid in locker_ids
        if (locker := uow.repo.get(m.Locker, lid)) is not None
    }
    return planning.DepotDay(
        depot_name=depot.name,
        depot=Point(depot.lat, depot.lng),
        opens=datetime.combine(service_date, time.fromisoformat(depot.opens_at), tz),
        closes=datetime.combine(service_date, time.fromisoformat(depot.closes_at), tz),
        now=now,
        crews=_crews(uow, depot.id, service_date),  # type: ignore[arg-type]
        parcels=parcels,
        lockers=lockers,
    )


def _save_route(
    uow: UnitOfWork,
    depot_id: int,
    service_date: date,
    new: planning.NewRoute,
    deliveries: dict[int, m.Delivery],
    now: datetime,
) -> int:
    """Save one planned route and schedule its parcels on it; return how many."""
    route = m.Route(
        driver_id=new.crew.driver_id,
        vehicle_id=new.crew.vehicle_id,
        depot_id=depot_id,
        service_date=service_date,
        planned_start=new.start,
        planned_end=new.end,
        planned_distance_m=new.distance_m,
    )
    uow.repo.add(route)
    for ns in new.stops:
        route.stops.append(
            m.Stop(
                route_id=None,
                sequence=ns.sequence,
                kind=ns.kind,
                lat=ns.location.lat,
                lng=ns.location.lng,
                service_seconds=ns.service_s,
                planned_arrival=ns.arrival,
                planned_travel_s=ns.travel_s,
                expected_arrival=ns.arrival,
                eta_earliest=ns.eta[0],
                eta_latest=ns.eta[1],
                locker_id=ns.locker_id,
            )
        )
    uow.repo.flush()
    planned = 0
    for stop, ns in zip(route.stops, new.stops, strict=True):
        for parcel_id in ns.parcel_ids:
            if parcel_id not in deliveries:
                continue  # cancelled or handed over while the plan was made
            _put_on_stop(
                deliveries[parcel_id],
                route,
                stop,
                ns.arrival,
                now,
                "planned onto a route",
                "day planned",
            )
            planned += 1
    return planned


def _put_on_stop(
    d: m.Delivery,
    route: m.Route,
    stop: m.Stop,
    arrival: datetime,
    now: datetime,
    status_reason: str,
    reason: str,
) -> None:
    """Schedule ``d`` at ``stop`` of ``route`` and record where and when it was planned."""
    d.stop_id = stop.id
    if d.status is not DeliveryStatus.SCHEDULED:
        d.transition_to(
            DeliveryStatus.SCHEDULED, at=now, actor=Actor.OPTIMIZER, reason=status_reason
        )
    d.record(
        DeliveryPlanned(
            delivery_id=d.id,
            occurred_at=now,
            actor=Actor.OPTIMIZER,
            route_id=route.id,  # type: ignore[arg-type]
            plan_version=route.plan_version,
            sequence=stop.sequence,
            planned_arrival=arrival.isoformat(),
            reason=reason,
        )
    )


def dispatch_route(services: Services, route_id: int) -> int:
    """Send a planned route out: its parcels go out for delivery. Return how many."""
    with services.uow() as uow:
        route = uow.repo.get(m.Route, route_id)
        if route is None:
            raise NotFound(f"There is no route {route_id}.")
        now = services.clock.now()
        route.dispatch(at=now)
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


def _crews(uow: UnitOfWork, depot_id: int, service_date: date) -> tuple[planning.Crew, ...]:
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
    return tuple(
        planning.Crew(driver_id=driver.id, vehicle_id=vehicle.id, vehicle_type=vtype)  # type: ignore[arg-type]
        # Extra drivers or vehicles without a partner stay home today.
        for driver, vehicle in zip(drivers, vehicles, strict=False)
        if (vtype := uow.repo.get(m.VehicleType, vehicle.vehicle_type_id)) is not None
    )


# ---------------------------------------------------------------- live re-planning

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


def preview_replan(
    services: Services,
    route_ids: list[int],
    change: planning.Change | None = None,
    budget_s: float = 0.2,
) -> planning.ReplanOutcome:
    """Return what re-planning some routes with ``change`` would do; commit nothing.

    The what-if path behind previews and slot feasibility: the pure-Python repair answers
    within a request (OR-Tools never runs inside one), from today's order, in ``budget_s``.
    """
    outcome = preview_replans(services, route_ids, [change], budget_s)[0]
    if isinstance(outcome, RoutingError):
        raise outcome
    return outcome


def preview_replans(
    services: Services,
    route_ids: list[int],
    changes: Sequence[planning.Change | None],
    budget_s: float = 0.2,
) -> list[planning.ReplanOutcome | RoutingError]:
    """Return the dry run of each of ``changes`` (None: no change) on the same day.

    The day is loaded once, and travel times are asked once per set of places (a new window
    keeps the places, so trying every slot costs one matrix); a change that cannot be
    planned gives its ``RoutingError`` in its place instead of failing the others.
    """
    with services.uow() as uow:
        today = _day_state(uow, route_ids, services.clock.now())
    matrices: dict[tuple[Point, ...], Matrix] = {}
    outcomes: list[planning.ReplanOutcome | RoutingError] = []
    for change in changes:
        try:
            state = today if change is None else planning.propose(today, change)
        except RoutingError as error:
            outcomes.append(error)
            continue
        if not state.routes:
            outcomes.append(planning.ReplanOutcome(routes={}, dropped={}))
            continue
        problem = planning.build_replan(state)
        points = tuple(problem.points())
        if points not in matrices:
            matrices[points] = services.travel_times.matrix(list(points), problem.epoch)
        matrix = matrices[points]
        plan, _orders = repair(problem, matrix, deadline=monotonic() + budget_s)
        outcomes.append(planning.read_replan(state, problem, plan, matrix))
    return outcomes


def _replan(services: Services, route_ids: list[int], reason: str) -> ReplanResult:
    """Solve the open part of some routes again and save the result as new plan versions.

    The solve runs outside any transaction; the save re-reads the stops so a stop the
    driver completed meanwhile keeps its status. Stops the solver cannot fit stay at the
    end of their route, with an honest (late) ETA, instead of disappearing.
    """
    now = services.clock.now()
    with services.uow() as uow:
        state = _day_state(uow, route_ids, now)
    if not state.routes:
        return ReplanResult(plan_versions={}, changes=(), dropped={}, solve_s=0.0)
    problem = planning.build_replan(state)
    matrix = services.travel_times.matrix(problem.points(), problem.epoch)
    started = perf_counter()
    plan = services.optimizer.solve(problem, matrix, services.settings.optimizer_time_limit_s)
    solve_s = perf_counter() - started
    with services.uow() as uow:
        # Re-read: a stop the driver completed while the solver ran keeps its record.
        stops = {
            s.id: stop
            for r in state.routes
            for s in r.stops
            if (stop := uow.repo.get(m.Stop, s.id)) is not None and stop.is_open
        }
        closed = frozenset(s.id for r in state.routes for s in r.stops if s.id not in stops)
        outcome = planning.read_replan(state, problem, plan, matrix, closed)
        versions, changes = _save_replan(uow, outcome, stops, now, reason)
        uow.commit()
    # Stops may have moved between drivers: rooms watching each driver are worked out anew.
    services.live.forget_rooms()
    return ReplanResult(
        plan_versions=versions, changes=changes, dropped=outcome.dropped, solve_s=solve_s
    )


def _day_state(uow: UnitOfWork, route_ids: list[int], now: datetime) -> planning.DayState:
    """Describe the open part of some routes to the planner."""
    routes: list[planning.OpenRoute] = []
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
        stops = []
        for stop in route.ordered_stops():
            if not stop.is_open or stop.id is None:
                continue
            parcels = uow.repo.deliveries_at_stop(stop.id)
            stops.append(
                planning.OpenStop(
                    id=stop.id,
                    kind=stop.kind,
                    location=Point(stop.lat, stop.lng),
                    windows=tuple(d.hand_over_window for d in parcels),
                    service_s=stop.service_seconds,
                    size=max((m.SIZE_ORDER[d.parcel_size] for d in parcels), default=0),
                    arrived=stop.status is m.StopStatus.ARRIVED,
                    planned_arrival=stop.planned_arrival,
                )
            )
        has_position = driver.last_lat is not None and driver.last_lng is not None
        routes.append(
            planning.OpenRoute(
                id=route_id,
                dispatched=route.status is m.RouteStatus.IN_PROGRESS,
                depot=Point(depot.lat, depot.lng),
                closes=datetime.combine(
                    route.service_date,
                    time.fromisoformat(depot.closes_at),
                    ZoneInfo(depot.timezone),
                ),
                vehicle_type=vtype,
                stops=tuple(stops),
                planned_start=route.planned_start,
                driver_position=(
                    Point(driver.last_lat, driver.last_lng)  # type: ignore[arg-type]
                    if has_position
                    else None
                ),
                position_at=driver.last_position_at,
            )
        )
    return planning.DayState(now=now, routes=tuple(routes))


def _save_replan(
    uow: UnitOfWork,
    outcome: planning.ReplanOutcome,
    stops: dict[int, m.Stop],
    now: datetime,
    reason: str,
) -> tuple[dict[int, int], tuple[EtaChange, ...]]:
    """Write a re-plan as new plan versions and tell each moved parcel's history why."""
    changes: list[EtaChange] = []
    versions: dict[int, int] = {}
    for route_id, replanned in outcome.routes.items():
        route = uow.repo.get(m.Route, route_id)
        if route is None:
            continue
        route.plan_version += 1
        versions[route_id] = route.plan_version
        next_seq = max((s.sequence for s in route.ordered_stops() if not s.is_open), default=0) + 1
        for r in replanned:
            stops[r.stop_id].replan(
                route_id=route_id,
                sequence=next_seq + r.position,
                arrival=r.arrival,
                travel_s=r.travel_s,
                eta=r.eta,
            )
            if not r.moved:
                continue
            for d in uow.repo.deliveries_at_stop(r.stop_id):
                d.record(
                    EtaChanged(
                        delivery_id=d.id,
                        occurred_at=now,
                        actor=Actor.OPTIMIZER,
                        route_id=route_id,
                        plan_version=route.plan_version,
                        old_arrival=r.old_arrival.isoformat() if r.old_arrival else None,
                        new_arrival=r.arrival.isoformat(),
                        eta_earliest=r.eta[0].isoformat(),
                        eta_latest=r.eta[1].isoformat(),
                        stops_before=r.position,
                        shift_minutes=round(r.shift.total_seconds() / 60) if r.shift else 0,
                        reason=reason,
                    )
                )
                changes.append(EtaChange(d.id, r.old_arrival, r.arrival, r.position))  # type: ignore[arg-type]
    return versions, tuple(changes)


# ---------------------------------------------------------------- a parcel added to a planned day

INSERT_JOB = "insert_delivery"
INSERT_BUDGET_S = 0.3  # the what-if repair per candidate route; the optimizer re-plans after


@dataclass(frozen=True)
class Insertion:
    """Where a parcel announced into an already planned day went, or why it waits."""

    delivery_id: int
    route_id: int | None  # None: it waits for the next plan of its day
    stop_id: int | None
    eta: tuple[datetime, datetime] | None
    reason: str


def request_insertion(services: Services, delivery_id: int) -> None:
    """Queue putting a newly announced parcel on its planned day (call after the commit)."""
    services.jobs.enqueue(INSERT_JOB, delivery_id, key=f"{INSERT_JOB}:{delivery_id}")


def insert_new_delivery(services: Services, delivery_id: int) -> Insertion:
    """Put a parcel announced after its day was planned on the route where it fits best.

    Only routes still at the depot can take it: a dispatched van has left without the
    parcel. Each is tried with the what-if (``preview_replans``: the parcel's own stop
    added, or its locker's stop on that route joined), and the route that serves it inside
    its window for the fewest extra kilometres, without pushing any other parcel out, gets
    it. The stop is saved with the what-if's arrival, then the route is re-planned by the
    optimizer (a queued job, as after any change). Without such a route the parcel waits for
    the next plan of its day, with the reason in its timeline. While a plan of its day is
    queued or running nothing is done: that plan queues the insertion again when it ends.
    """
    with services.uow() as uow:
        d = uow.repo.get(m.Delivery, delivery_id)
        if d is None:
            raise NotFound(f"There is no delivery {delivery_id}.")
        if d.stop_id is not None:
            return Insertion(delivery_id, None, d.stop_id, None, "It is on a route already.")
        if d.status not in PLANNABLE:
            return Insertion(delivery_id, None, None, None, f"It is {d.status}: not to plan.")
        if d.service_date is None:
            return Insertion(delivery_id, None, None, None, "It has no delivery day yet.")
        planning_job = uow.repo.open_planning_job(d.depot_id, d.service_date)
        if planning_job is not None and not planning_job.lost(services.clock.now()):
            # Its routes are being replaced; the plan, once done, queues this insertion again.
            return Insertion(
                delivery_id, None, None, None, "A plan of its day is under way: it follows."
            )
        day = uow.repo.routes_on(d.service_date, d.depot_id)
        if not day:
            return Insertion(
                delivery_id, None, None, None, "Its day is not planned yet: the plan takes it."
            )
        candidates = [r for r in day if r.status is m.RouteStatus.PLANNED and r.id is not None]
        tries = _insertion_tries(uow, d, candidates)
        route_ids = [r.id for r in candidates if r.id is not None]
        version = d.version
    if not route_ids:
        return _wait(services, delivery_id, "every route of its day has left the depot")
    changes = [change for change, _watched in tries]
    outcomes = preview_replans(services, route_ids, [None, *changes], INSERT_BUDGET_S)
    baseline, results = outcomes[0], outcomes[1:]
    best: tuple[float, planning.Replanned, int] | None = None
    for (_change, watched), outcome in zip(tries, results, strict=True):
        if isinstance(outcome, RoutingError) or isinstance(baseline, RoutingError):
            continue
        where = outcome.stop(watched)
        if where is None or where.dropped or len(outcome.dropped) > len(baseline.dropped):
            continue
        extra = outcome.total_distance_m - baseline.total_distance_m
        if best is None or extra < best[0]:
            best = (extra, where, watched)
    if best is None:
        return _wait(services, delivery_id, "no route at the depot can serve it in its window")
    _extra, where, watched = best
    return _save_insertion(services, delivery_id, version, where, watched)


def _insertion_tries(
    uow: UnitOfWork, d: m.Delivery, routes: list[m.Route]
) -> list[tuple[planning.Change, int]]:
    """Return, per route, the what-if change that adds ``d`` and the stop id to watch."""
    locker = (
        uow.repo.get(m.Locker, d.locker_id)
        if d.option in LOCKER_OPTIONS and d.locker_id is not None
        else None
    )
    kind = m.StopKind.LOCKER if locker is not None else m.StopKind.ADDRESS
    place = Point(locker.lat, locker.lng) if locker is not None else Point(*d.hand_over_place)
    tries: list[tuple[planning.Change, int]] = []
    for route in routes:
        assert route.id is not None
        there = next(
            (
                s
                for s in route.stops
                if locker is not None and s.is_open and s.locker_id == locker.id
            ),
            None,
        )
        if there is not None and there.id is not None:
            windows = tuple(p.hand_over_window for p in uow.repo.deliveries_at_stop(there.id))
            joined = windows + (d.hand_over_window,)
            change: planning.Change = planning.StopChange(
                stop_id=there.id,
                windows=joined,
                service_s=m.stop_service_seconds(kind, len(joined)),
            )
            tries.append((change, there.id))
            continue
        new = planning.OpenStop(
            id=-route.id,  # not saved yet: the what-if only needs to find it again
            kind=kind,
            location=place,
            windows=(d.hand_over_window,),
            service_s=m.stop_service_seconds(kind, 1),
            size=m.SIZE_ORDER[d.parcel_size],
        )
        tries.append((planning.AddStop(route_id=route.id, stop=new), new.id))
    return tries


def _save_insertion(
    services: Services,
    delivery_id: int,
    version: int,
    where: planning.Replanned,
    watched: int,
) -> Insertion:
    """Put the parcel on the stop the what-if chose, then have the optimizer order the route."""
    now = services.clock.now()
    with services.uow() as uow:
        d = uow.repo.get(m.Delivery, delivery_id)
        route = uow.repo.get(m.Route, where.route_id)
        if d is None or d.version != version or d.stop_id is not None:
            return Insertion(delivery_id, None, None, None, "It changed meanwhile: left as is.")
        if route is None or route.status is not m.RouteStatus.PLANNED:
            return Insertion(delivery_id, None, None, None, "Its route left meanwhile.")
        if watched > 0:  # joining the route's stop at the parcel's locker
            stop = next(s for s in route.stops if s.id == watched)
            stop.resize(len(uow.repo.deliveries_at_stop(watched)) + 1)
        else:
            locker_id = d.locker_id if d.option in LOCKER_OPTIONS else None
            kind = m.StopKind.LOCKER if locker_id is not None else m.StopKind.ADDRESS
            place = _place(uow, d)
            stop = m.Stop(
                route_id=route.id,
                # Last for now; the re-plan queued below gives it its place in line.
                sequence=max((s.sequence for s in route.stops), default=0) + 1,
                kind=kind,
                lat=place.lat,
                lng=place.lng,
                service_seconds=m.stop_service_seconds(kind, 1),
                planned_arrival=where.arrival,
                planned_travel_s=where.travel_s,
                expected_arrival=where.arrival,
                eta_earliest=where.eta[0],
                eta_latest=where.eta[1],
                locker_id=locker_id,
            )
            route.stops.append(stop)
            uow.repo.flush()
        _put_on_stop(
            d,
            route,
            stop,
            where.arrival,
            now,
            "added to a planned route",
            "announced after the day was planned",
        )
        uow.commit()
        result = Insertion(
            delivery_id, route.id, stop.id, (where.eta[0], where.eta[1]), "Added to a route."
        )
    request_reoptimization(services, where.route_id, "a parcel was added to the route")
    return result


def _place(uow: UnitOfWork, d: m.Delivery) -> Point:
    if d.option in LOCKER_OPTIONS and d.locker_id is not None:
        locker = uow.repo.get(m.Locker, d.locker_id)
        if locker is not None:
            return Point(locker.lat, locker.lng)
    return Point(*d.hand_over_place)


def _wait(services: Services, delivery_id: int, why: str) -> Insertion:
    """Leave the parcel for the next plan of its day, saying why in its timeline."""
    reason = f"left for the next plan: {why}"
    with services.uow() as uow:
        d = uow.repo.get(m.Delivery, delivery_id)
        if d is not None:
            d.record(
                DeliveryDropped(
                    delivery_id=delivery_id,
                    occurred_at=services.clock.now(),
                    actor=Actor.OPTIMIZER,
                    reason=reason,
                )
            )
            uow.commit()
    return Insertion(delivery_id, None, None, None, reason[0].upper() + reason[1:] + ".")
