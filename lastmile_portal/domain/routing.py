"""Routing problems and plans as value objects, independent of any solver.

Times are whole seconds from the problem's ``epoch`` (a UTC datetime); locations are
indices into ``RouteProblem.points()`` so a travel-time matrix can be computed once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property

from .errors import RoutingError


@dataclass(frozen=True)
class Point:
    """A WGS84 coordinate."""

    lat: float
    lng: float


@dataclass(frozen=True)
class VehicleSpec:
    """A vehicle as the optimizer sees it: where and when it works and what it can carry."""

    id: str
    start: Point
    end: Point
    shift_start: int
    shift_end: int
    capacity: int
    speed_factor: float = 1.0
    max_size: int = 2  # largest parcel size rank it takes (0=S, 1=M, 2=L)
    range_m: float | None = None
    cost_per_km: float = 0.0
    cost_per_hour: float = 0.0
    fixed_cost: float = 0.0


@dataclass(frozen=True)
class StopSpec:
    """A place to visit with its time window, service time and load."""

    id: str
    location: Point
    window_start: int
    window_end: int
    service_s: int = 180
    demand: int = 1
    size: int = 1
    fixed_vehicle: str | None = None


class Objective(StrEnum):
    """Say what a plan minimises once every stop that can be served is served."""

    # Money: each vehicle's cost per km and per hour plus its fixed cost (the app's default).
    COST = "cost"
    # Total distance only, as in the Solomon / Gehring-Homberger VRPTW benchmarks.
    DISTANCE = "distance"


@dataclass(frozen=True)
class RouteProblem:
    """Everything needed to plan (or re-plan) a set of routes.

    ``locked`` maps a vehicle id to the stop ids it has already visited, in order: those
    stay first on that vehicle whatever the solver finds. ``objective`` says what the
    optimizer minimises among plans that serve the same stops.

    ``initial`` (optional) maps a vehicle id to its current stop order, typically the
    plan being replaced: a re-plan then starts from it (stops it does not mention are
    inserted, stops that no longer fit are moved) instead of from scratch, so one
    customer's change does not reshuffle everybody else's day. It may list a vehicle's
    locked stops or leave them out; they stay first either way.
    """

    epoch: datetime
    vehicles: tuple[VehicleSpec, ...]
    stops: tuple[StopSpec, ...]
    locked: dict[str, tuple[str, ...]] = field(default_factory=dict)
    objective: Objective = Objective.COST
    initial: dict[str, tuple[str, ...]] | None = None

    def validate(self) -> None:
        """Raise RoutingError if the problem cannot be planned as stated."""
        if not self.vehicles:
            raise RoutingError("There are no vehicles to plan with.")
        ids = [s.id for s in self.stops]
        if len(set(ids)) != len(ids):
            raise RoutingError("Stop ids must be unique.")
        for v in self.vehicles:
            _check_point(v.start, f"vehicle {v.id} start")
            _check_point(v.end, f"vehicle {v.id} end")
            if v.shift_end < v.shift_start:
                raise RoutingError(f"Vehicle {v.id}'s shift ends before it starts.")
            if v.capacity < 0:
                raise RoutingError(f"Vehicle {v.id} has a negative capacity.")
            if not (math.isfinite(v.speed_factor) and v.speed_factor > 0):
                raise RoutingError(f"Vehicle {v.id} needs a positive speed factor.")
        for s in self.stops:
            _check_point(s.location, f"stop {s.id}")
            if s.demand < 0:
                raise RoutingError(f"Stop {s.id} has a negative demand.")
            if s.window_end < s.window_start:
                raise RoutingError(f"Stop {s.id}'s time window ends before it starts.")
            if s.service_s < 0:
                raise RoutingError(f"Stop {s.id} has a negative service time.")
            if not any(
                s.window_start <= v.shift_end and s.window_end >= v.shift_start
                for v in self.vehicles
            ):
                raise RoutingError(f"Stop {s.id}'s time window is outside every vehicle's shift.")
        known = set(ids)
        vehicle_ids = {v.id for v in self.vehicles}
        for vid, prefix in self.locked.items():
            if vid not in vehicle_ids:
                raise RoutingError(f"Locked stops name an unknown vehicle {vid}.")
            missing = [sid for sid in prefix if sid not in known]
            if missing:
                raise RoutingError(f"Locked stops {missing} are not in the problem.")
        locked_ids = [sid for prefix in self.locked.values() for sid in prefix]
        if len(set(locked_ids)) != len(locked_ids):
            raise RoutingError("A locked stop is listed twice or on more than one vehicle.")
        if self.initial is not None:
            self._validate_initial(self.initial, known, vehicle_ids)

    def _validate_initial(
        self, initial: dict[str, tuple[str, ...]], known: set[str], vehicle_ids: set[str]
    ) -> None:
        locked_on = {sid: vid for vid, prefix in self.locked.items() for sid in prefix}
        seen: dict[str, str] = {}
        for vid, order in initial.items():
            if vid not in vehicle_ids:
                raise RoutingError(f"The initial routes name an unknown vehicle {vid}.")
            missing = [sid for sid in order if sid not in known]
            if missing:
                raise RoutingError(f"The initial route of {vid} names unknown stops {missing}.")
            for sid in order:
                if sid in seen:
                    raise RoutingError(
                        f"Stop {sid} is in the initial routes twice ({seen[sid]} and {vid})."
                    )
                seen[sid] = vid
                if locked_on.get(sid, vid) != vid:
                    raise RoutingError(
                        f"Stop {sid} is locked on {locked_on[sid]} but starts on {vid}."
                    )

    # Matrix layout, owned here and nowhere else: vehicle ``i`` starts at node ``i`` and
    # ends at node ``nv + i``; stop ``j`` is node ``2 * nv + j``.

    def start_node(self, vehicle_index: int) -> int:
        """Return the matrix node where vehicle ``vehicle_index`` starts."""
        return vehicle_index

    def end_node(self, vehicle_index: int) -> int:
        """Return the matrix node where vehicle ``vehicle_index`` ends."""
        return len(self.vehicles) + vehicle_index

    @property
    def first_stop_node(self) -> int:
        """Return the matrix node of the first stop (every node before it is a depot)."""
        return 2 * len(self.vehicles)

    @property
    def node_count(self) -> int:
        """Return how many nodes the matrix has."""
        return 2 * len(self.vehicles) + len(self.stops)

    def stop_node(self, stop_index: int) -> int:
        """Return the matrix node of ``stops[stop_index]``."""
        return 2 * len(self.vehicles) + stop_index

    def node_of(self, stop_id: str) -> int:
        """Return the matrix node of the stop called ``stop_id``."""
        return self._stop_nodes[stop_id]

    def stop_at(self, node: int) -> StopSpec:
        """Return the stop at matrix node ``node`` (which must be a stop node)."""
        return self.stops[node - 2 * len(self.vehicles)]

    @cached_property
    def _stop_nodes(self) -> dict[str, int]:
        first = 2 * len(self.vehicles)
        return {s.id: first + i for i, s in enumerate(self.stops)}

    def points(self) -> list[Point]:
        """Return every location: vehicle starts, vehicle ends, then stops (matrix order)."""
        return (
            [v.start for v in self.vehicles]
            + [v.end for v in self.vehicles]
            + [s.location for s in self.stops]
        )

    def at(self, seconds: int) -> datetime:
        """Convert a problem time to a UTC datetime."""
        return self.epoch + timedelta(seconds=seconds)


def _check_point(p: Point, what: str) -> None:
    if not (math.isfinite(p.lat) and math.isfinite(p.lng)):
        raise RoutingError(f"The coordinates of {what} are not numbers.")
    if not (-90 <= p.lat <= 90 and -180 <= p.lng <= 180):
        raise RoutingError(f"The coordinates of {what} are out of range.")


@dataclass(frozen=True)
class Visit:
    """A stop in a planned route with the planned arrival and service start."""

    stop_id: str
    arrival: int
    service_start: int


@dataclass(frozen=True)
class PlannedRoute:
    """One vehicle's visits in order."""

    vehicle_id: str
    visits: tuple[Visit, ...]
    distance_m: float
    end_time: int


@dataclass(frozen=True)
class RoutePlan:
    """A solver's answer: routes, and the stops it could not serve with the reason."""

    routes: tuple[PlannedRoute, ...]
    dropped: dict[str, str] = field(default_factory=dict)
    objective: float = 0.0

    def route_for(self, vehicle_id: str) -> PlannedRoute | None:
        """Return the planned route of ``vehicle_id`` if it has one."""
        return next((r for r in self.routes if r.vehicle_id == vehicle_id), None)


@dataclass(frozen=True)
class Matrix:
    """Travel durations (s) and distances (m) between ``RouteProblem.points()``."""

    durations: Sequence[Sequence[int]]
    distances: Sequence[Sequence[float]]


def verify_plan(problem: RouteProblem, plan: RoutePlan, matrix: Matrix) -> list[str]:
    """Return every rule the plan breaks (empty when the plan is sound).

    Checks, without trusting the solver: each stop exactly once or dropped, time windows
    on arrival, shift end, capacity, size, range, fixed vehicles and locked prefixes.
    Travel times are scaled by each vehicle's speed factor, as the optimizer does.
    """
    problems: list[str] = []
    stops = {s.id: s for s in problem.stops}
    seen: dict[str, int] = {}
    for vi, vehicle in enumerate(problem.vehicles):
        route = plan.route_for(vehicle.id)
        visits = route.visits if route else ()
        t = vehicle.shift_start
        here = problem.start_node(vi)
        load = 0
        dist = 0.0
        for visit in visits:
            seen[visit.stop_id] = seen.get(visit.stop_id, 0) + 1
            stop = stops.get(visit.stop_id)
            if stop is None:
                problems.append(f"{vehicle.id} visits unknown stop {visit.stop_id}")
                continue
            nxt = problem.node_of(stop.id)
            t += scaled(matrix.durations[here][nxt], vehicle.speed_factor)
            dist += matrix.distances[here][nxt]
            if t > stop.window_end:
                problems.append(f"{vehicle.id} reaches {stop.id} at {t}, after {stop.window_end}")
            t = max(t, stop.window_start) + stop.service_s
            load += stop.demand
            if stop.size > vehicle.max_size:
                problems.append(f"{vehicle.id} cannot carry the size of {stop.id}")
            if stop.fixed_vehicle and stop.fixed_vehicle != vehicle.id:
                problems.append(f"{stop.id} is fixed to {stop.fixed_vehicle}, not {vehicle.id}")
            here = nxt
        if visits:
            end = problem.end_node(vi)
            t += scaled(matrix.durations[here][end], vehicle.speed_factor)
            dist += matrix.distances[here][end]
        if t > vehicle.shift_end:
            problems.append(f"{vehicle.id} ends at {t}, after its shift ({vehicle.shift_end})")
        if load > vehicle.capacity:
            problems.append(f"{vehicle.id} carries {load}, over its capacity {vehicle.capacity}")
        if vehicle.range_m is not None and dist > vehicle.range_m + 1e-6:
            problems.append(f"{vehicle.id} drives {dist:.0f} m, over its range")
        prefix = problem.locked.get(vehicle.id, ())
        if tuple(v.stop_id for v in visits[: len(prefix)]) != tuple(prefix):
            problems.append(f"{vehicle.id} does not keep its visited stops first")
    for stop in problem.stops:
        count = seen.get(stop.id, 0)
        dropped = stop.id in plan.dropped
        if count > 1:
            problems.append(f"{stop.id} is visited {count} times")
        if count == 0 and not dropped:
            problems.append(f"{stop.id} is neither visited nor reported dropped")
        if count and dropped:
            problems.append(f"{stop.id} is both visited and reported dropped")
    return problems


def scaled(duration: int, speed_factor: float) -> int:
    """Return a travel duration for a vehicle ``speed_factor`` times as fast as the base."""
    return int(round(duration / speed_factor)) if speed_factor > 0 else duration
