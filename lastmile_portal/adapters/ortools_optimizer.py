"""Route optimizer on Google OR-Tools' RoutingModel (time windows, capacity, range, drops)."""

from __future__ import annotations

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from ..domain.routing import Matrix, PlannedRoute, RoutePlan, RouteProblem, Visit, scaled

# Costs are in thousandths of a currency unit; dropping a stop must cost more than any route.
COST_SCALE = 1000
DROP_PENALTY = 10**10


class OrToolsOptimizer:
    """Solve RouteProblems with OR-Tools: insertion first, then guided local search."""

    def __init__(self, deterministic: bool = False) -> None:
        self.deterministic = deterministic

    def solve(self, problem: RouteProblem, matrix: Matrix, time_limit_s: float) -> RoutePlan:
        """Return the best plan found within ``time_limit_s`` seconds."""
        problem.validate()
        vehicles, stops = problem.vehicles, problem.stops
        nv = len(vehicles)
        if not stops:
            return RoutePlan(routes=())
        starts = list(range(nv))
        ends = [nv + i for i in range(nv)]
        manager = pywrapcp.RoutingIndexManager(2 * nv + len(stops), nv, starts, ends)
        routing = pywrapcp.RoutingModel(manager)

        def node_stop(node: int):  # type: ignore[no-untyped-def]
            return stops[node - 2 * nv] if node >= 2 * nv else None

        # One transit callback per vehicle speed: a bike is slower than a van on the same arc.
        time_callbacks: dict[float, int] = {}
        for factor in {v.speed_factor for v in vehicles}:

            def transit(i: int, j: int, factor: float = factor) -> int:
                a, b = manager.IndexToNode(i), manager.IndexToNode(j)
                stop = node_stop(a)
                service = stop.service_s if stop else 0
                return service + scaled(matrix.durations[a][b], factor)

            time_callbacks[factor] = routing.RegisterTransitCallback(transit)

        def distance(i: int, j: int) -> int:
            return int(matrix.distances[manager.IndexToNode(i)][manager.IndexToNode(j)])

        distance_cb = routing.RegisterTransitCallback(distance)
        horizon = max(v.shift_end for v in vehicles)
        routing.AddDimensionWithVehicleTransits(
            [time_callbacks[v.speed_factor] for v in vehicles], horizon, horizon, False, "time"
        )
        time_dim = routing.GetDimensionOrDie("time")
        # Arc cost is money: the vehicle's cost per km plus its driver's cost per hour.
        cost_callbacks: dict[tuple[float, float, float], int] = {}
        for v in vehicles:
            key = (v.speed_factor, v.cost_per_km, v.cost_per_hour)
            if key in cost_callbacks:
                continue

            def cost(i: int, j: int, key: tuple[float, float, float] = key) -> int:
                factor, per_km, per_hour = key
                a, b = manager.IndexToNode(i), manager.IndexToNode(j)
                stop = node_stop(a)
                seconds = (stop.service_s if stop else 0) + scaled(matrix.durations[a][b], factor)
                money = per_km * matrix.distances[a][b] / 1000 + per_hour * seconds / 3600
                return int(round(money * COST_SCALE)) + 1

            cost_callbacks[key] = routing.RegisterTransitCallback(cost)
        for vi, v in enumerate(vehicles):
            routing.SetArcCostEvaluatorOfVehicle(
                cost_callbacks[(v.speed_factor, v.cost_per_km, v.cost_per_hour)], vi
            )
            time_dim.CumulVar(routing.Start(vi)).SetRange(v.shift_start, v.shift_end)
            time_dim.CumulVar(routing.End(vi)).SetRange(v.shift_start, v.shift_end)
            routing.SetFixedCostOfVehicle(int(v.fixed_cost * COST_SCALE), vi)

        def demand(i: int) -> int:
            stop = node_stop(manager.IndexToNode(i))
            return stop.demand if stop else 0

        demand_cb = routing.RegisterUnaryTransitCallback(demand)
        routing.AddDimensionWithVehicleCapacity(
            demand_cb, 0, [v.capacity for v in vehicles], True, "load"
        )
        ranges = [int(v.range_m) if v.range_m is not None else 10**9 for v in vehicles]
        routing.AddDimensionWithVehicleCapacity(distance_cb, 0, ranges, True, "distance")

        for si, stop in enumerate(stops):
            index = manager.NodeToIndex(2 * nv + si)
            time_dim.CumulVar(index).SetRange(stop.window_start, stop.window_end)
            # (SetAllowedVehiclesForIndex's binding rejects Python lists in 9.15, and an
            # empty list would mean "any vehicle"; removing values is exact.)
            for vi, v in enumerate(vehicles):
                if stop.size > v.max_size or stop.fixed_vehicle not in (None, v.id):
                    routing.VehicleVar(index).RemoveValue(vi)
            routing.AddDisjunction([index], DROP_PENALTY)

        # Drivers leave when dispatched: ask for the earliest feasible times, not just any.
        for vi in range(nv):
            routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.End(vi)))

        params = pywrapcp.DefaultRoutingSearchParameters()
        params.first_solution_strategy = (
            routing_enums_pb2.FirstSolutionStrategy.LOCAL_CHEAPEST_INSERTION
        )
        # Guided local search uses the whole budget, so its answer depends on machine speed;
        # greedy descent stops at a local optimum and gives the same plan every run.
        params.local_search_metaheuristic = (
            routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
            if self.deterministic
            else routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
        )
        params.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))

        # Stops already visited stay first, in order: chain them from the vehicle's start.
        stop_nodes = {s.id: 2 * nv + i for i, s in enumerate(stops)}
        for vi, v in enumerate(vehicles):
            previous = routing.Start(vi)
            for sid in problem.locked.get(v.id, ()):
                index = manager.NodeToIndex(stop_nodes[sid])
                routing.NextVar(previous).SetValue(index)
                previous = index

        solution = routing.SolveWithParameters(params)
        if solution is None:
            return RoutePlan(
                routes=(),
                dropped={s.id: "no feasible plan found in time" for s in stops},
            )
        return self._read(problem, matrix, manager, routing, solution)

    def _read(self, problem, matrix, manager, routing, solution) -> RoutePlan:  # type: ignore[no-untyped-def]
        vehicles, stops = problem.vehicles, problem.stops
        nv = len(vehicles)
        time_dim = routing.GetDimensionOrDie("time")
        routes = []
        visited: set[str] = set()
        for vi, v in enumerate(vehicles):
            index = routing.Start(vi)
            prev_node = manager.IndexToNode(index)
            prev_departure = solution.Value(time_dim.CumulVar(index))
            visits: list[Visit] = []
            dist = 0.0
            index = solution.Value(routing.NextVar(index))
            while not routing.IsEnd(index):
                node = manager.IndexToNode(index)
                stop = stops[node - 2 * nv]
                arrival = prev_departure + scaled(matrix.durations[prev_node][node], v.speed_factor)
                start = solution.Value(time_dim.CumulVar(index))
                visits.append(Visit(stop_id=stop.id, arrival=arrival, service_start=start))
                visited.add(stop.id)
                dist += matrix.distances[prev_node][node]
                prev_node, prev_departure = node, start + stop.service_s
                index = solution.Value(routing.NextVar(index))
            end_node = manager.IndexToNode(index)
            dist += matrix.distances[prev_node][end_node] if visits else 0.0
            if visits:
                routes.append(
                    PlannedRoute(
                        vehicle_id=v.id,
                        visits=tuple(visits),
                        distance_m=dist,
                        end_time=solution.Value(time_dim.CumulVar(index)),
                    )
                )
        dropped = {s.id: _drop_reason(problem, matrix, s) for s in stops if s.id not in visited}
        return RoutePlan(routes=tuple(routes), dropped=dropped, objective=solution.ObjectiveValue())


def _drop_reason(problem: RouteProblem, matrix: Matrix, stop) -> str:  # type: ignore[no-untyped-def]
    nv = len(problem.vehicles)
    node = 2 * nv + [s.id for s in problem.stops].index(stop.id)
    able = [v for v in problem.vehicles if stop.size <= v.max_size]
    if not able:
        return "parcel too large for every vehicle"
    reachable = any(
        v.shift_start + scaled(matrix.durations[vi][node], v.speed_factor) <= stop.window_end
        and v.shift_end >= stop.window_start
        for vi, v in enumerate(problem.vehicles)
        if v in able
    )
    if not reachable:
        return "time window cannot be reached by any vehicle's shift"
    return "no room left in any route within its time window"
