"""Plan a depot's day into routes with the optimizer, and send routes out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from ..domain import model as m
from ..domain.errors import NotFound, RoutingError
from ..domain.eta import eta_window
from ..domain.events import Actor, DeliveryDropped, DeliveryPlanned
from ..domain.routing import Point, RouteProblem, StopSpec, VehicleSpec
from ..domain.status import DeliveryStatus
from . import Services

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
        if epoch >= closes:
            raise RoutingError(f"{depot.name} is closed for the rest of {service_date}.")

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
        crews = _crews(uow, depot_id)
        if not crews:
            raise RoutingError(f"{depot.name} has no active drivers with vehicles.")

        groups = _group_stops(deliveries)
        vehicles = tuple(
            VehicleSpec(
                id=str(vehicle.id),
                start=Point(depot.lat, depot.lng),
                end=Point(depot.lat, depot.lng),
                shift_start=0,
                shift_end=int((closes - epoch).total_seconds()),
                capacity=vtype.capacity,
                speed_factor=vtype.speed_factor,
                max_size=m.SIZE_ORDER[vtype.max_parcel_size],
                range_m=vtype.range_km * 1000,
                cost_per_km=vtype.cost_per_km,
                cost_per_hour=vtype.cost_per_hour,
                fixed_cost=vtype.fixed_cost,
            )
            for _driver, vehicle, vtype in crews
        )
        specs = []
        for key, members in groups.items():
            first = members[0]
            starts = [d.window_start or epoch for d in members]
            ends = [d.window_end or closes for d in members]
            start = max(max(starts), epoch)
            end = min(ends)
            if end < start:  # members disagree or the window is already past
                end = max(ends)
            specs.append(
                StopSpec(
                    id=key,
                    location=Point(first.lat, first.lng),
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
            for seq, visit in enumerate(planned_route.visits, start=1):
                members = groups[visit.stop_id]
                arrival = problem.at(visit.service_start)
                earliest, latest = eta_window(arrival, seq - 1)
                stop = m.Stop(
                    route_id=None,
                    sequence=seq,
                    kind=m.StopKind.LOCKER if visit.stop_id.startswith("L") else m.StopKind.ADDRESS,
                    lat=members[0].lat,
                    lng=members[0].lng,
                    service_seconds=_service_seconds(visit.stop_id, len(members)),
                    planned_arrival=arrival,
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
                    count += 1
        uow.commit()
        return count


def _crews(uow, depot_id: int) -> list[tuple[m.Driver, m.Vehicle, m.VehicleType]]:  # type: ignore[no-untyped-def]
    """Pair the depot's active drivers with its active vehicles, in id order."""
    drivers = [d for d in uow.repo.all(m.Driver) if d.depot_id == depot_id and d.active]
    vehicles = uow.repo.vehicles_at(depot_id)
    return [
        (driver, vehicle, uow.repo.get(m.VehicleType, vehicle.vehicle_type_id))
        # Extra drivers or vehicles without a partner stay home today.
        for driver, vehicle in zip(drivers, vehicles, strict=False)
    ]


def _group_stops(deliveries: list[m.Delivery]) -> dict[str, list[m.Delivery]]:
    """Group parcels into stops: one per address, one per locker for all its parcels."""
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
