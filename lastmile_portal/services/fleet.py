"""The live fleet map of a depot: every driver of the day, their line, what is left, what is late.

Read in three queries (depots; the day's routes with driver, vehicle and stops; the parcels
at those stops, for their windows). Positions move on afterwards over Socket.IO: the
``fleet:<depot id>`` room on ``/live`` (sockets/live.py), fed by services/gps_intake.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..domain import model as m
from ..domain.errors import NotFound
from . import Services

# Who sees operations (the dashboard, the fleet map and its live room): supervisors and up.
OPS_ROLE = m.StaffRole.SUPERVISOR


def fleet_room(depot_id: int) -> str:
    """Name the Socket.IO room where a depot's driver positions go (staff only)."""
    return f"fleet:{depot_id}"


@dataclass(frozen=True)
class FleetStop:
    """One stop still to visit, and whether the driver will be there after its window."""

    stop_id: int
    sequence: int
    lat: float
    lng: float
    parcels: int
    expected_arrival: datetime | None
    window_end: datetime | None
    late: bool


@dataclass(frozen=True)
class FleetDriver:
    """One driver of the day: where they are, the route's line and its open stops."""

    driver_id: int
    name: str
    vehicle: m.VehicleKind
    vehicle_label: str
    route_id: int
    route_status: m.RouteStatus
    lat: float | None
    lng: float | None
    position_at: datetime | None
    line: list[tuple[float, float]]  # depot, every stop in order, depot
    remaining: list[FleetStop]
    closed: int
    stops: int

    @property
    def late(self) -> int:
        """Return how many of the open stops will be reached after their window."""
        return sum(1 for s in self.remaining if s.late)


@dataclass(frozen=True)
class Fleet:
    """A depot's drivers of today, as of a moment."""

    depot: m.Depot
    depots: list[m.Depot]
    drivers: list[FleetDriver]
    as_of: datetime


def fleet_of(services: Services, depot_id: int | None = None) -> Fleet:
    """Return today's fleet of a depot (the first one by name if None).

    A stop is late when it is still open and its expected arrival (the live estimate, else
    the plan) is past the end of its promised window, or the window has already ended.
    """
    now = services.clock.now()
    today = services.today()
    with services.uow() as uow:
        depots = sorted(uow.repo.all(m.Depot), key=lambda d: d.name)
        if not depots:
            raise NotFound("There is no depot yet.")
        depot = (
            depots[0] if depot_id is None else next((d for d in depots if d.id == depot_id), None)
        )
        if depot is None:
            raise NotFound(f"There is no depot {depot_id}.")
        rows = uow.repo.fleet_routes(depot.id, today)  # type: ignore[arg-type]
        stop_ids = [s.id for route, *_ in rows for s in route.stops if s.is_open]
        parcels = uow.repo.deliveries_at_stops(stop_ids)  # type: ignore[arg-type]
        drivers = [
            _driver(services, depot, route, driver, vehicle, vtype, parcels, now)
            for route, driver, vehicle, vtype in rows
        ]
    return Fleet(depot=depot, depots=depots, drivers=drivers, as_of=now)


def _driver(
    services: Services,
    depot: m.Depot,
    route: m.Route,
    driver: m.Driver,
    vehicle: m.Vehicle,
    vtype: m.VehicleType,
    parcels: dict[int, list[m.Delivery]],
    now: datetime,
) -> FleetDriver:
    ordered = route.ordered_stops()
    remaining = []
    for s in ordered:
        if not s.is_open:
            continue
        at_stop = parcels.get(s.id, [])  # type: ignore[arg-type]
        _, window_end = m.stop_window(s.kind, [(d.window_start, d.window_end) for d in at_stop])
        expected = s.expected_arrival or s.planned_arrival
        late = window_end is not None and (
            now > window_end or (expected is not None and expected > window_end)
        )
        remaining.append(
            FleetStop(
                stop_id=s.id,  # type: ignore[arg-type]
                sequence=s.sequence,
                lat=s.lat,
                lng=s.lng,
                parcels=len(at_stop),
                expected_arrival=expected,
                window_end=window_end,
                late=late,
            )
        )
    lat, lng, at = driver.last_lat, driver.last_lng, driver.last_position_at
    live = services.live.peek(driver.id)  # type: ignore[arg-type]
    if live is not None:
        # This process may hold a fix newer than the 5-second store's.
        with live.lock:
            if live.lat is not None and live.at is not None and (at is None or live.at > at):
                lat, lng, at = live.lat, live.lng, live.at
    home = (depot.lat, depot.lng)
    return FleetDriver(
        driver_id=driver.id,  # type: ignore[arg-type]
        name=driver.name,
        vehicle=m.VehicleKind(vtype.kind),
        vehicle_label=vehicle.label,
        route_id=route.id,  # type: ignore[arg-type]
        route_status=m.RouteStatus(route.status),
        lat=lat,
        lng=lng,
        position_at=at,
        line=[home, *((s.lat, s.lng) for s in ordered), home],
        remaining=remaining,
        closed=sum(1 for s in ordered if s.status in (m.StopStatus.DONE, m.StopStatus.FAILED)),
        stops=len(ordered),
    )
