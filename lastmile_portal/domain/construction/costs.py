"""Price arcs and decide who may serve a stop: the rules construction shares with the adapter."""

from __future__ import annotations

from collections.abc import Sequence

from ..routing import Matrix, RouteProblem, StopSpec, VehicleSpec, scaled

# Costs are in thousandths of a currency unit (as in the OR-Tools adapter).
COST_SCALE = 1000


def money_cost_row(
    per_km: float,
    per_hour: float,
    service_s: int,
    distances_m: Sequence[float],
    travel_s: Sequence[int],
) -> list[int]:
    """Return the cost (1/1000 currency) of serving a place then driving each arc from it.

    Money is the vehicle's cost per km plus its driver's cost per hour of service and
    driving. The trailing +1 makes every arc cost something, so a free vehicle still prefers
    the shorter of two equally priced orders. The OR-Tools adapter prices arcs with this too.
    """
    km = per_km / 1000 * COST_SCALE
    hour = per_hour / 3600 * COST_SCALE
    return [
        int(round(km * d + hour * (service_s + t))) + 1
        for d, t in zip(distances_m, travel_s, strict=True)
    ]


def can_serve(vehicle: VehicleSpec, stop: StopSpec) -> bool:
    """Return whether ``vehicle`` may take ``stop`` at all (size, fixed vehicle, capacity)."""
    return (
        stop.size <= vehicle.max_size
        and stop.fixed_vehicle in (None, vehicle.id)
        and stop.demand <= vehicle.capacity
    )


def drop_reason(problem: RouteProblem, matrix: Matrix, stop: StopSpec) -> str:
    """Explain why ``stop`` could not be served, from the most to the least basic reason."""
    node = problem.node_of(stop.id)
    able = [
        (vi, v)
        for vi, v in enumerate(problem.vehicles)
        if stop.size <= v.max_size and stop.fixed_vehicle in (None, v.id)
    ]
    if not able:
        if stop.fixed_vehicle and stop.fixed_vehicle in {v.id for v in problem.vehicles}:
            return f"parcel too large for its fixed vehicle {stop.fixed_vehicle}"
        if stop.fixed_vehicle:
            return f"fixed to vehicle {stop.fixed_vehicle}, which is not in the plan"
        return "parcel too large for every vehicle"
    if all(stop.demand > v.capacity for _vi, v in able):
        return "more parcels than any vehicle can carry"
    start, end = problem.start_node, problem.end_node
    reachable = [
        (vi, v)
        for vi, v in able
        if v.shift_start + scaled(matrix.durations[start(vi)][node], v.speed_factor)
        <= stop.window_end
        and max(
            v.shift_start + scaled(matrix.durations[start(vi)][node], v.speed_factor),
            stop.window_start,
        )
        + stop.service_s
        + scaled(matrix.durations[node][end(vi)], v.speed_factor)
        <= v.shift_end
    ]
    if not reachable:
        return "time window cannot be reached by any vehicle's shift"
    if all(
        v.range_m is not None
        and matrix.distances[start(vi)][node] + matrix.distances[node][end(vi)] > v.range_m
        for vi, v in reachable
    ):
        return "out of range of every vehicle that could take it"
    return "no room left in any route within its time window"
