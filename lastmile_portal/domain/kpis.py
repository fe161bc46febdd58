"""Operations KPIs of a day: what each number means, computed from plain facts.

The storage adapter gathers the facts (one row per route that day, one per parcel); this
module only counts. Every definition is written once, here, and the dashboard shows the
same sentence next to the number (``DEFINITIONS``).

Choices, so the numbers can be checked by hand:

- **Distance** is the plan's: no odometer is stored. A route still out counts the share of
  its planned kilometres that matches the share of its stops already closed; a completed
  route counts all of them.
- **Driver hours on the road** run from dispatch (``started_at``) to the route's completion,
  or to now while the route is still out. A route never dispatched costs nothing.
- **Delivered** means handed over by the driver (to the door, a neighbour, a safe place or
  into a locker): the parcel has a hand-over time.
- **Closed stops** are stops marked done or failed (a skipped stop was never visited).
- **Response rate** is ratings ÷ delivered parcels: every delivered parcel's tracking page
  asks for a rating, the text is only one of the ways in.
- **Zero-emission** vehicles are the electric van, the cargo bike and the robot (no
  tailpipe); their grams per km (the power they draw) still count in CO₂.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from .model import VehicleKind

ZERO_EMISSION: frozenset[VehicleKind] = frozenset(
    {VehicleKind.EV_VAN, VehicleKind.CARGO_BIKE, VehicleKind.SIDEWALK_ROBOT}
)

DEFINITIONS: dict[str, str] = {
    "cost_per_delivery": (
        "(driver hours × hourly cost + km × cost per km + the vehicle's fixed day cost) "
        "÷ delivered parcels, over the routes that went out."
    ),
    "stops_per_hour": "Stops closed (done or failed) ÷ driver hours on the road.",
    "first_attempt_rate": (
        "Parcels delivered at their first attempt ÷ parcels a driver has tried to deliver."
    ),
    "on_time_rate": (
        "Parcels handed over inside their promised window (into a locker: by its end) "
        "÷ delivered parcels that had a window."
    ),
    "mean_rating": "Mean of the recipients' 1–5 scores for the day's parcels.",
    "response_rate": "Ratings ÷ delivered parcels.",
    "co2_per_delivery": "km × the vehicle type's grams of CO₂ per km ÷ delivered parcels.",
    "zero_emission_share": (
        "Delivered parcels carried by an electric van, cargo bike or robot ÷ delivered parcels."
    ),
    "distance": (
        "Planned km of each route that went out; for a route still out, the share of it "
        "matching the share of its stops closed."
    ),
    "hours": "From dispatch to the route's completion, or to now while it is still out.",
}


@dataclass(frozen=True, kw_only=True)
class RouteFacts:
    """Name one route of the day with its vehicle's costs and its progress."""

    route_id: int
    driver_id: int
    driver_name: str
    vehicle_kind: VehicleKind
    cost_per_km: float
    cost_per_hour: float
    fixed_cost: float
    co2_g_per_km: float
    planned_km: float
    started_at: datetime | None
    completed_at: datetime | None
    stops: int
    closed_stops: int

    @property
    def went_out(self) -> bool:
        """Return whether the route was dispatched (only then does it cost anything)."""
        return self.started_at is not None

    def hours(self, now: datetime) -> float:
        """Return the driver's hours on the road: dispatch to completion, or to ``now``."""
        if self.started_at is None:
            return 0.0
        end = self.completed_at or now
        return max(0.0, (end - self.started_at).total_seconds() / 3600)

    def km(self) -> float:
        """Return the kilometres driven so far, by the plan (see the module's choices)."""
        if not self.went_out:
            return 0.0
        if self.completed_at is not None or self.stops == 0:
            return self.planned_km
        return self.planned_km * self.closed_stops / self.stops

    def cost(self, now: datetime) -> float:
        """Return what the route has cost: hours, km and the vehicle's day."""
        if not self.went_out:
            return 0.0
        return self.hours(now) * self.cost_per_hour + self.km() * self.cost_per_km + self.fixed_cost


@dataclass(frozen=True, kw_only=True)
class ParcelFacts:
    """Name one parcel of the day: its route, attempts, hand-over time, window and rating."""

    delivery_id: int
    route_id: int | None
    attempts: int
    delivered_at: datetime | None
    window_start: datetime | None
    window_end: datetime | None
    to_locker: bool = False
    rating: int | None = None

    @property
    def delivered(self) -> bool:
        """Return whether the driver handed the parcel over."""
        return self.delivered_at is not None

    def on_time(self) -> bool | None:
        """Return whether the hand-over was inside the window (None: not delivered or no window).

        A door's window has both ends; a locker is open all day, so its parcel is on time
        if it is in by the window's end.
        """
        at, start, end = self.delivered_at, self.window_start, self.window_end
        if at is None or end is None or (start is None and not self.to_locker):
            return None
        if self.to_locker or start is None:
            return at <= end
        return start <= at <= end


@dataclass(frozen=True, kw_only=True)
class Kpis:
    """The day's numbers for a set of routes and their parcels (None: nothing to divide by)."""

    routes_out: int
    parcels: int
    delivered: int
    attempted: int
    first_attempt: int
    with_window: int
    on_time: int
    closed_stops: int
    hours: float
    km: float
    cost: float
    co2_g: float
    zero_emission_parcels: int
    ratings: tuple[int, int, int, int, int]  # how many 1s, 2s, … 5s

    @property
    def cost_per_delivery(self) -> float | None:
        """Return the cost ÷ delivered parcels."""
        return self.cost / self.delivered if self.delivered else None

    @property
    def stops_per_hour(self) -> float | None:
        """Return closed stops ÷ driver hours."""
        return self.closed_stops / self.hours if self.hours > 0 else None

    @property
    def first_attempt_rate(self) -> float | None:
        """Return first-attempt deliveries ÷ parcels attempted."""
        return self.first_attempt / self.attempted if self.attempted else None

    @property
    def on_time_rate(self) -> float | None:
        """Return on-time hand-overs ÷ delivered parcels that had a window."""
        return self.on_time / self.with_window if self.with_window else None

    @property
    def rating_count(self) -> int:
        """Return how many parcels were rated."""
        return sum(self.ratings)

    @property
    def mean_rating(self) -> float | None:
        """Return the mean score."""
        n = self.rating_count
        return sum(score * k for score, k in enumerate(self.ratings, start=1)) / n if n else None

    @property
    def response_rate(self) -> float | None:
        """Return ratings ÷ delivered parcels."""
        return self.rating_count / self.delivered if self.delivered else None

    @property
    def co2_g_per_delivery(self) -> float | None:
        """Return grams of CO₂ ÷ delivered parcels."""
        return self.co2_g / self.delivered if self.delivered else None

    @property
    def zero_emission_share(self) -> float | None:
        """Return the share of delivered parcels on zero-emission vehicles."""
        return self.zero_emission_parcels / self.delivered if self.delivered else None


def compute(routes: Iterable[RouteFacts], parcels: Iterable[ParcelFacts], now: datetime) -> Kpis:
    """Count the KPIs of ``routes`` and ``parcels`` as of ``now`` (see DEFINITIONS)."""
    routes = list(routes)
    parcels = list(parcels)
    out = [r for r in routes if r.went_out]
    clean = {r.route_id for r in routes if r.vehicle_kind in ZERO_EMISSION}
    delivered = [p for p in parcels if p.delivered]
    timed = [t for t in (p.on_time() for p in delivered) if t is not None]
    counts = [0, 0, 0, 0, 0]
    for p in parcels:
        if p.rating is not None and 1 <= p.rating <= 5:
            counts[p.rating - 1] += 1
    return Kpis(
        routes_out=len(out),
        parcels=len(parcels),
        delivered=len(delivered),
        attempted=sum(1 for p in parcels if p.attempts >= 1),
        first_attempt=sum(1 for p in delivered if p.attempts == 1),
        with_window=len(timed),
        on_time=sum(timed),
        closed_stops=sum(r.closed_stops for r in out),
        hours=sum(r.hours(now) for r in out),
        km=sum(r.km() for r in out),
        cost=sum(r.cost(now) for r in out),
        co2_g=sum(r.km() * r.co2_g_per_km for r in out),
        zero_emission_parcels=sum(1 for p in delivered if p.route_id in clean),
        ratings=(counts[0], counts[1], counts[2], counts[3], counts[4]),
    )


def for_driver(
    driver_id: int, routes: Iterable[RouteFacts], parcels: Iterable[ParcelFacts], now: datetime
) -> Kpis:
    """Count the KPIs of one driver's routes and the parcels on them."""
    mine = [r for r in routes if r.driver_id == driver_id]
    ids = {r.route_id for r in mine}
    return compute(mine, (p for p in parcels if p.route_id in ids), now)
