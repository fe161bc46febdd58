"""Plan a depot's day and re-plan it, as a pipeline of named, pure steps.

Every planning move is the same four steps; only the first and the last touch the database,
and they live in ``services/routing.py``:

1. **describe** (service): load today's state into the plain objects below — a ``DepotDay``
   for a first plan, a ``DayState`` (open routes and their open stops) for a re-plan;
2. **propose** (here, optional): ``propose(state, change)`` returns the state as it would be
   after one change — a new window, another place, a stop taken out or added;
3. **build** (here): ``build_day`` / ``build_replan`` turn the description into a
   ``RouteProblem``, applying the rules of the trade: a dispatched van keeps its parcels, a
   stop the driver stands at stays first, a re-plan starts from today's order;
4. **solve** (a ``RouteOptimizer`` port, or ``construction.repair`` inside a request), then
   **read** (here): ``read_day`` / ``read_replan`` turn the ``RoutePlan`` back into an outcome
   — each stop's order, planned arrival and ETA window, which ETAs moved by how much, what
   was dropped and why.

The service then either commits the outcome (``reoptimize_route``) or hands it back
untouched (``preview_replan``: the what-if preview and slot feasibility).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from . import model as m
from .errors import RoutingError
from .eta import eta_window, schedule
from .model import stop_service_seconds as service_seconds
from .routing import Matrix, Point, RoutePlan, RouteProblem, StopSpec, VehicleSpec, scaled

# A driver's last fix older than this says nothing about where the van is now.
FRESH_POSITION = timedelta(minutes=15)
# Smaller moves of a planned arrival are not news to the customer.
MIN_REPORTED_SHIFT = timedelta(minutes=1)
# Vehicles may work this long past the latest promised window (a late stop beats a dropped one).
OVERTIME = timedelta(hours=1)
# A whole day's plan may search OPTIMIZER_TIME_LIMIT per this many stops (never less than
# once): the search needs time in step with the day's size (bench/plan_day.py, bench/README).
STOPS_PER_TIME_LIMIT = 100

Window = tuple[datetime | None, datetime | None]


# ---------------------------------------------------------------- shared rules


def day_time_limit(base_s: float, stops: int) -> float:
    """Return the seconds a whole day's plan may search: ``base_s`` per hundred stops."""
    return base_s * max(1.0, stops / STOPS_PER_TIME_LIMIT)


def service_window(
    kind: m.StopKind, windows: Sequence[Window], now: datetime, closes: datetime
) -> tuple[datetime, datetime]:
    """Return a stop's service window (``model.stop_window``) clamped to the rest of the day.

    Parcels that disagree, or a window already past, give the widest honest window: serve
    as soon as the route allows rather than drop the stop.
    """
    start, end = m.stop_window(kind, list(windows))
    start = max(start or now, now)
    end = end or closes
    if end < start:
        end = max([we for _ws, we in windows if we] + [closes])
    return start, end


def vehicle_spec(
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


def _seconds(at: datetime, epoch: datetime) -> int:
    return max(0, int((at - epoch).total_seconds()))


# ---------------------------------------------------------------- a first plan of the day


@dataclass(frozen=True)
class Parcel:
    """A parcel waiting for a route, as the planner sees it."""

    id: int
    location: Point
    window: Window
    size: int  # rank in model.SIZE_ORDER
    locker_id: int | None = None  # set when it goes to a locker or pickup point


@dataclass(frozen=True)
class Crew:
    """A driver paired with a vehicle for the day."""

    driver_id: int
    vehicle_id: int
    vehicle_type: m.VehicleType


@dataclass(frozen=True)
class DepotDay:
    """Everything a first plan of a depot's day needs, loaded once."""

    depot_name: str
    depot: Point
    opens: datetime  # timezone-aware
    closes: datetime
    now: datetime
    crews: tuple[Crew, ...]
    parcels: tuple[Parcel, ...]
    lockers: Mapping[int, Point] = field(default_factory=dict)


@dataclass(frozen=True)
class DayProblem:
    """A built first plan: the problem and which parcels each stop of it carries."""

    day: DepotDay
    problem: RouteProblem
    groups: dict[str, tuple[Parcel, ...]]
    places: dict[str, Point]


def stop_key(parcel: Parcel) -> str:
    """Return the stop a parcel belongs to: its locker's, or a door of its own."""
    return f"L{parcel.locker_id}" if parcel.locker_id is not None else f"D{parcel.id}"


def kind_of(key: str) -> m.StopKind:
    """Return the kind of stop a ``stop_key`` names."""
    return m.StopKind.LOCKER if key.startswith("L") else m.StopKind.ADDRESS


def build_day(day: DepotDay) -> DayProblem:
    """Build the routing problem of a depot's first plan of the day.

    One stop per parcel at a door, one per locker for all its parcels. Windows promised
    past closing time still need a driver, so the day stretches to them.
    """
    epoch = max(day.opens, day.now.astimezone(day.opens.tzinfo)).replace(microsecond=0)
    latest = max((p.window[1] for p in day.parcels if p.window[1]), default=day.closes)
    closes = max(day.closes, latest + OVERTIME)
    if epoch >= closes:
        raise RoutingError(f"{day.depot_name} is closed for the rest of {day.opens.date()}.")
    if not day.crews:
        raise RoutingError(f"{day.depot_name} has no active drivers with vehicles.")
    groups: dict[str, list[Parcel]] = {}
    for parcel in day.parcels:
        groups.setdefault(stop_key(parcel), []).append(parcel)
    places = {
        key: day.lockers.get(members[0].locker_id, members[0].location)
        if members[0].locker_id is not None
        else members[0].location
        for key, members in groups.items()
    }
    specs = []
    for key, members in groups.items():
        kind = kind_of(key)
        start, end = service_window(kind, [p.window for p in members], epoch, closes)
        specs.append(
            StopSpec(
                id=key,
                location=places[key],
                window_start=_seconds(start, epoch),
                window_end=_seconds(end, epoch),
                service_s=service_seconds(kind, len(members)),
                demand=len(members),
                size=max(p.size for p in members),
            )
        )
    vehicles = tuple(
        vehicle_spec(str(c.vehicle_id), c.vehicle_type, day.depot, day.depot, 0, closes - epoch)
        for c in day.crews
    )
    problem = RouteProblem(epoch=epoch.astimezone(UTC), vehicles=vehicles, stops=tuple(specs))
    return DayProblem(
        day=day,
        problem=problem,
        groups={k: tuple(v) for k, v in groups.items()},
        places=places,
    )


@dataclass(frozen=True)
class NewStop:
    """A stop of a freshly planned route."""

    key: str
    kind: m.StopKind
    sequence: int
    location: Point
    service_s: int
    arrival: datetime
    travel_s: int
    eta: tuple[datetime, datetime]
    parcel_ids: tuple[int, ...]
    locker_id: int | None


@dataclass(frozen=True)
class NewRoute:
    """A freshly planned route of one crew."""

    crew: Crew
    start: datetime
    end: datetime
    distance_m: float
    stops: tuple[NewStop, ...]


@dataclass(frozen=True)
class DayOutcome:
    """What a first plan of the day would do."""

    routes: tuple[NewRoute, ...]
    dropped: dict[str, str]  # stop key -> reason
    dropped_parcels: dict[int, str]  # parcel id -> reason


def read_day(built: DayProblem, plan: RoutePlan, matrix: Matrix) -> DayOutcome:
    """Turn a solved first plan into routes and stops to save."""
    problem = built.problem
    crews = {str(c.vehicle_id): c for c in built.day.crews}
    index = {v.id: i for i, v in enumerate(problem.vehicles)}
    routes = []
    for planned in plan.routes:
        vi = index[planned.vehicle_id]
        speed = problem.vehicles[vi].speed_factor
        here = problem.start_node(vi)
        stops = []
        for seq, visit in enumerate(planned.visits, start=1):
            node = problem.node_of(visit.stop_id)
            members = built.groups[visit.stop_id]
            kind = kind_of(visit.stop_id)
            arrival = problem.at(visit.service_start)
            stops.append(
                NewStop(
                    key=visit.stop_id,
                    kind=kind,
                    sequence=seq,
                    location=built.places[visit.stop_id],
                    service_s=service_seconds(kind, len(members)),
                    arrival=arrival,
                    travel_s=scaled(matrix.durations[here][node], speed),
                    eta=eta_window(arrival, seq - 1),
                    parcel_ids=tuple(p.id for p in members),
                    locker_id=members[0].locker_id if kind is m.StopKind.LOCKER else None,
                )
            )
            here = node
        routes.append(
            NewRoute(
                crew=crews[planned.vehicle_id],
                start=problem.at(0),
                end=problem.at(planned.end_time),
                distance_m=planned.distance_m,
                stops=tuple(stops),
            )
        )
    return DayOutcome(
        routes=tuple(routes),
        dropped=dict(plan.dropped),
        dropped_parcels={
            p.id: reason for key, reason in plan.dropped.items() for p in built.groups[key]
        },
    )


# ---------------------------------------------------------------- re-planning the open day


@dataclass(frozen=True)
class OpenStop:
    """A stop still to serve on an open route."""

    id: int
    kind: m.StopKind
    location: Point
    windows: tuple[Window, ...]  # one per parcel at the stop
    service_s: int
    size: int  # largest parcel's rank in model.SIZE_ORDER
    arrived: bool = False  # the driver stands there now
    planned_arrival: datetime | None = None

    @property
    def key(self) -> str:
        """Return the stop's id in the routing problem."""
        return f"S{self.id}"


@dataclass(frozen=True)
class OpenRoute:
    """A route of today that can still change, with its open stops in today's order."""

    id: int
    dispatched: bool  # its van has left the depot with the parcels aboard
    depot: Point
    closes: datetime
    vehicle_type: m.VehicleType
    stops: tuple[OpenStop, ...]
    planned_start: datetime | None = None
    driver_position: Point | None = None
    position_at: datetime | None = None

    def start(self, now: datetime) -> Point:
        """Return where the route goes on from: the van's fresh position once it is out."""
        fresh = self.position_at is not None and now - self.position_at < FRESH_POSITION
        if self.dispatched and fresh and self.driver_position is not None:
            return self.driver_position
        return self.depot


@dataclass(frozen=True)
class DayState:
    """The open part of some routes at one moment: what a re-plan starts from."""

    now: datetime
    routes: tuple[OpenRoute, ...]

    @property
    def epoch(self) -> datetime:
        """Return the re-plan's time zero (whole seconds)."""
        return self.now.replace(microsecond=0)

    def stop(self, stop_id: int) -> tuple[OpenRoute, OpenStop]:
        """Return the open stop ``stop_id`` and its route, or raise RoutingError."""
        for route in self.routes:
            for stop in route.stops:
                if stop.id == stop_id:
                    return route, stop
        raise RoutingError(f"Stop {stop_id} is not open on these routes.")


@dataclass(frozen=True)
class StopChange:
    """A proposed change to one open stop; fields left ``None`` stay as they are."""

    stop_id: int
    windows: tuple[Window, ...] | None = None  # new promised windows of its parcels
    location: Point | None = None
    service_s: int | None = None
    remove: bool = False  # the stop leaves these routes (another day, another route)


@dataclass(frozen=True)
class AddStop:
    """A proposed new stop on a route (a parcel moved here from another slot or route)."""

    route_id: int
    stop: OpenStop


Change = StopChange | AddStop


def propose(state: DayState, change: Change) -> DayState:
    """Return the state as it would be after ``change``; ``state`` itself is untouched."""
    if isinstance(change, AddStop):
        if not any(r.id == change.route_id for r in state.routes):
            raise RoutingError(f"Route {change.route_id} is not open.")
        return replace(
            state,
            routes=tuple(
                replace(r, stops=r.stops + (change.stop,)) if r.id == change.route_id else r
                for r in state.routes
            ),
        )
    state.stop(change.stop_id)  # it must exist

    def changed(stop: OpenStop) -> OpenStop:
        return replace(
            stop,
            windows=stop.windows if change.windows is None else change.windows,
            location=change.location or stop.location,
            service_s=stop.service_s if change.service_s is None else change.service_s,
        )

    return replace(
        state,
        routes=tuple(
            replace(
                r,
                stops=tuple(
                    changed(s) if s.id == change.stop_id else s
                    for s in r.stops
                    if not (change.remove and s.id == change.stop_id)
                ),
            )
            for r in state.routes
        ),
    )


def build_replan(state: DayState) -> RouteProblem:
    """Build the routing problem of re-planning the open part of ``state``'s routes.

    The rules: a dispatched route's parcels are aboard its van, so its stops stay on it
    (only their order may change); a stop the driver stands at stays theirs and first; a
    route still at the depot starts at its planned start and may trade stops with the
    others; the re-plan starts from today's order so one change does not reshuffle everybody
    else's day; vehicles already out carry no fixed cost to save.
    """
    epoch = state.epoch
    vehicles: list[VehicleSpec] = []
    stops: list[StopSpec] = []
    locked: dict[str, tuple[str, ...]] = {}
    initial: dict[str, tuple[str, ...]] = {}
    for route in state.routes:
        key = str(route.id)
        latest_end = route.closes
        for stop in route.stops:
            w_start, w_end = service_window(stop.kind, stop.windows, epoch, route.closes)
            latest_end = max(latest_end, w_end)
            stops.append(
                StopSpec(
                    id=stop.key,
                    location=stop.location,
                    window_start=_seconds(w_start, epoch),
                    window_end=_seconds(w_end, epoch),
                    service_s=stop.service_s,
                    demand=max(1, len(stop.windows)),
                    size=stop.size,
                    fixed_vehicle=key if route.dispatched or stop.arrived else None,
                )
            )
        arrived = tuple(s.key for s in route.stops if s.arrived)
        if arrived:
            locked[key] = arrived
        initial[key] = tuple(s.key for s in route.stops)
        shift_start = 0
        if not route.dispatched and route.planned_start and route.planned_start > epoch:
            shift_start = _seconds(route.planned_start, epoch)
        vehicles.append(
            vehicle_spec(
                key,
                route.vehicle_type,
                route.start(state.now),
                route.depot,
                shift_start,
                latest_end + OVERTIME - epoch,
                fixed_cost=0.0,
            )
        )
    return RouteProblem(
        epoch=epoch.astimezone(UTC),
        vehicles=tuple(vehicles),
        stops=tuple(stops),
        locked=locked,
        initial=initial,
    )


@dataclass(frozen=True)
class Replanned:
    """One open stop after a re-plan: where it sits now and what moved."""

    stop_id: int
    route_id: int
    position: int  # open stops before it on its route
    arrival: datetime
    travel_s: int
    eta: tuple[datetime, datetime]
    old_arrival: datetime | None
    old_position: int | None  # None when it was on another route
    dropped: bool  # the solver could not fit it: it goes last with an honest, late ETA

    @property
    def shift(self) -> timedelta | None:
        """Return how far the planned arrival moved (None when there was none)."""
        return None if self.old_arrival is None else self.arrival - self.old_arrival

    @property
    def moved(self) -> bool:
        """Say whether the customer should hear about it: a new place in line or time."""
        shift = self.shift
        return (
            shift is None
            or abs(shift) >= MIN_REPORTED_SHIFT
            or (self.old_position != self.position)
        )


@dataclass(frozen=True)
class ReplanOutcome:
    """What a re-plan would do, route by route, before anything is saved."""

    routes: dict[int, tuple[Replanned, ...]]
    dropped: dict[str, str]  # problem stop id -> reason
    # Metres each route still drives from where it goes on (the plan's, dropped stops aside):
    # what a what-if compares to say which change costs the fewest extra kilometres.
    distance_m: dict[int, float] = field(default_factory=dict)

    @property
    def total_distance_m(self) -> float:
        """Return the metres all these routes still drive."""
        return sum(self.distance_m.values())

    def moves(self) -> Iterator[Replanned]:
        """Yield every stop whose ETA or place in line moved."""
        for stops in self.routes.values():
            yield from (s for s in stops if s.moved)

    def stop(self, stop_id: int) -> Replanned | None:
        """Return where ``stop_id`` ends up, if it is still on these routes."""
        return next((s for ss in self.routes.values() for s in ss if s.stop_id == stop_id), None)


def read_replan(
    state: DayState,
    problem: RouteProblem,
    plan: RoutePlan,
    matrix: Matrix,
    closed: frozenset[int] = frozenset(),
) -> ReplanOutcome:
    """Turn a re-plan's ``RoutePlan`` into each open stop's new place, arrival and ETA.

    ``closed`` names stops the driver completed while the solver ran: their record stands,
    and the stops after them are timed from the stop before. Stops the solver dropped stay
    at the end of their own route, in their old order, timed straight after the previous
    stop, so nobody's parcel disappears from the page.
    """
    epoch = state.epoch
    by_key = {s.key: (r, s) for r in state.routes for s in r.stops}
    sequences: dict[int, list[tuple[str, datetime | None]]] = {r.id: [] for r in state.routes}
    for planned in plan.routes:
        for visit in planned.visits:
            sequences[int(planned.vehicle_id)].append(
                (visit.stop_id, problem.at(visit.service_start))
            )
    for key in sorted(plan.dropped, key=lambda k: by_key[k][1].planned_arrival or epoch):
        sequences[by_key[key][0].id].append((key, None))

    vehicle_index = {v.id: i for i, v in enumerate(problem.vehicles)}
    routes: dict[int, tuple[Replanned, ...]] = {}
    for route in state.routes:
        old_order = [s.id for s in route.stops if s.id not in closed]
        vi = vehicle_index[str(route.id)]
        speed = problem.vehicles[vi].speed_factor
        here, t = problem.start_node(vi), epoch  # matrix node and time the driver leaves it
        out: list[Replanned] = []
        for key, planned_at in sequences[route.id]:
            _from, stop = by_key[key]
            if stop.id in closed:
                continue
            node = problem.node_of(key)
            travel = scaled(matrix.durations[here][node], speed)
            arrival = planned_at or schedule(t, [(travel, None, 0)])[0]
            position = len(out)
            out.append(
                Replanned(
                    stop_id=stop.id,
                    route_id=route.id,
                    position=position,
                    arrival=arrival,
                    travel_s=travel,
                    eta=eta_window(arrival, position),
                    old_arrival=stop.planned_arrival,
                    old_position=old_order.index(stop.id) if stop.id in old_order else None,
                    dropped=planned_at is None,
                )
            )
            here = node
            t = arrival + timedelta(seconds=stop.service_s)
        routes[route.id] = tuple(out)
    driven = {int(p.vehicle_id): p.distance_m for p in plan.routes}
    return ReplanOutcome(
        routes=routes,
        dropped=dict(plan.dropped),
        distance_m={r.id: driven.get(r.id, 0.0) for r in state.routes},
    )
