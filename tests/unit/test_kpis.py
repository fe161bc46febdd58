"""The KPI definitions against a small day worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lastmile_portal.domain import kpis
from lastmile_portal.domain.kpis import ParcelFacts, RouteFacts
from lastmile_portal.domain.model import VehicleKind


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, 2, hour, minute, tzinfo=UTC)


NOW = at(11)

# Van (0.32/km, 28/h, 40/day, 210 g/km), 30 km planned, out 08:00-12:00 = 4 h, all 10 stops
# closed: cost 4×28 + 30×0.32 + 40 = 112 + 9.6 + 40 = 161.6; CO₂ 30×210 = 6300 g.
VAN = RouteFacts(
    route_id=1,
    driver_id=10,
    driver_name="Vera",
    vehicle_kind=VehicleKind.VAN,
    cost_per_km=0.32,
    cost_per_hour=28,
    fixed_cost=40,
    co2_g_per_km=210,
    planned_km=30,
    started_at=at(8),
    completed_at=at(12),
    stops=10,
    closed_stops=10,
)
# Cargo bike (0.04/km, 22/h, 10/day, 6 g/km), 10 km planned, out since 09:00, now 11:00 = 2 h,
# 4 of 8 stops closed, so 10 × 4/8 = 5 km so far: cost 2×22 + 5×0.04 + 10 = 54.2; CO₂ 30 g.
BIKE = RouteFacts(
    route_id=2,
    driver_id=20,
    driver_name="Bo",
    vehicle_kind=VehicleKind.CARGO_BIKE,
    cost_per_km=0.04,
    cost_per_hour=22,
    fixed_cost=10,
    co2_g_per_km=6,
    planned_km=10,
    started_at=at(9),
    completed_at=None,
    stops=8,
    closed_stops=4,
)
# Planned, never dispatched: costs nothing, drives nothing.
SPARE = RouteFacts(
    route_id=3,
    driver_id=30,
    driver_name="Sam",
    vehicle_kind=VehicleKind.VAN,
    cost_per_km=0.32,
    cost_per_hour=28,
    fixed_cost=40,
    co2_g_per_km=210,
    planned_km=20,
    started_at=None,
    completed_at=None,
    stops=5,
    closed_stops=0,
)


def parcel(n: int, route: int | None, **kw: object) -> ParcelFacts:
    fields: dict[str, object] = {
        "delivery_id": n,
        "route_id": route,
        "attempts": 1,
        "delivered_at": None,
        "window_start": at(8),
        "window_end": at(12),
    }
    fields.update(kw)
    return ParcelFacts(**fields)  # type: ignore[arg-type]


def the_day() -> list[ParcelFacts]:
    """Van: 9 delivered (7 inside 08-12, one at 12:30, one early at 07:50; one of them at a
    second attempt), 1 failed. Bike: 2 locker parcels in by 09:30 for a 10-11 window (on time:
    a locker only needs the end), 2 door parcels without a window, 4 not yet tried.
    Ratings 5, 5, 4, 1."""
    van = [parcel(i, 1, delivered_at=at(9)) for i in range(1, 8)]
    van[0] = parcel(1, 1, delivered_at=at(9), rating=5)
    van[1] = parcel(2, 1, delivered_at=at(9), rating=1, attempts=2)
    van += [parcel(8, 1, delivered_at=at(12, 30)), parcel(9, 1, delivered_at=at(7, 50))]
    van += [parcel(10, 1, attempts=1)]  # failed
    lockers = [
        parcel(n, 2, delivered_at=at(9, 30), window_start=at(10), window_end=at(11), to_locker=True)
        for n in (11, 12)
    ]
    lockers[0] = parcel(
        11,
        2,
        delivered_at=at(9, 30),
        window_start=at(10),
        window_end=at(11),
        to_locker=True,
        rating=5,
    )
    doors = [
        parcel(13, 2, delivered_at=at(10), window_start=None, window_end=None, rating=4),
        parcel(14, 2, delivered_at=at(10), window_start=None, window_end=None),
    ]
    waiting = [parcel(n, 2, attempts=0) for n in range(15, 19)]
    return van + lockers + doors + waiting + [parcel(19, 3, attempts=0)]


def test_a_day_worked_by_hand() -> None:
    k = kpis.compute([VAN, BIKE, SPARE], the_day(), NOW)
    assert k.routes_out == 2
    assert k.delivered == 13  # 9 by van + 4 by bike
    # (161.6 + 54.2) / 13 = 215.8 / 13 = 16.60
    assert k.cost == pytest.approx(215.8)
    assert k.cost_per_delivery == pytest.approx(16.6)
    # (10 + 4) stops in (4 + 2) hours
    assert k.hours == pytest.approx(6)
    assert k.stops_per_hour == pytest.approx(14 / 6)
    # tried: 10 van + 4 bike; at the first attempt: 13 delivered less the one at attempt 2
    assert (k.attempted, k.first_attempt) == (14, 12)
    assert k.first_attempt_rate == pytest.approx(12 / 14)
    # windows: the 9 van parcels and the 2 lockers; late 12:30 and early 07:50 miss
    assert (k.with_window, k.on_time) == (11, 9)
    assert k.on_time_rate == pytest.approx(9 / 11)
    assert k.ratings == (1, 0, 0, 1, 2)
    assert k.mean_rating == pytest.approx(15 / 4)
    assert k.response_rate == pytest.approx(4 / 13)
    # 30 km × 210 g + 5 km × 6 g = 6330 g over 13 parcels
    assert k.km == pytest.approx(35)
    assert k.co2_g == pytest.approx(6330)
    assert k.co2_g_per_delivery == pytest.approx(6330 / 13)
    # the bike's 4 of the 13
    assert k.zero_emission_share == pytest.approx(4 / 13)


def test_one_driver_counts_only_their_route_and_parcels() -> None:
    k = kpis.for_driver(20, [VAN, BIKE, SPARE], the_day(), NOW)
    # the bike alone: 54.2 over 4 parcels; 4 stops in 2 h; all on a zero-emission vehicle
    assert k.cost_per_delivery == pytest.approx(54.2 / 4)
    assert k.stops_per_hour == pytest.approx(2)
    assert k.zero_emission_share == 1
    assert k.co2_g_per_delivery == pytest.approx(30 / 4)
    assert k.on_time_rate == 1  # both lockers in before the window's end
    assert k.mean_rating == pytest.approx(4.5)  # 5 and 4


def test_a_route_still_out_counts_the_time_up_to_now() -> None:
    # an hour later the bike has been out 3 h: one more hour at 22
    later = kpis.compute([BIKE], [], at(12))
    assert later.hours == pytest.approx(3)
    assert later.cost == pytest.approx(3 * 22 + 5 * 0.04 + 10)


def test_nothing_to_divide_by_gives_no_number_rather_than_zero() -> None:
    k = kpis.compute([SPARE], [parcel(1, 3, attempts=0)], NOW)
    assert k.routes_out == 0 and k.cost == 0
    assert k.cost_per_delivery is None
    assert k.stops_per_hour is None
    assert k.first_attempt_rate is None
    assert k.on_time_rate is None
    assert k.mean_rating is None and k.response_rate is None
    assert k.co2_g_per_delivery is None and k.zero_emission_share is None


@pytest.mark.parametrize(
    ("delivered", "locker", "expected"),
    [
        (at(8), False, True),  # the window's first minute
        (at(12), False, True),  # and its last
        (at(7, 59), False, False),  # early at a door is outside the promise
        (at(7, 0), True, True),  # early into a locker is fine
        (at(12, 1), True, False),  # late is late anywhere
    ],
)
def test_on_time_means_inside_the_window(delivered: datetime, locker: bool, expected: bool) -> None:
    p = parcel(1, 1, delivered_at=delivered, to_locker=locker)
    assert p.on_time() is expected


def test_every_number_has_its_definition() -> None:
    for key in (
        "cost_per_delivery",
        "stops_per_hour",
        "first_attempt_rate",
        "on_time_rate",
        "mean_rating",
        "response_rate",
        "co2_per_delivery",
        "zero_emission_share",
    ):
        assert kpis.DEFINITIONS[key].endswith(".")


def test_zero_emission_kinds() -> None:
    assert VehicleKind.EV_VAN in kpis.ZERO_EMISSION
    assert VehicleKind.CARGO_BIKE in kpis.ZERO_EMISSION
    assert VehicleKind.SIDEWALK_ROBOT in kpis.ZERO_EMISSION
    assert VehicleKind.VAN not in kpis.ZERO_EMISSION
    assert VehicleKind.GIG_CAR not in kpis.ZERO_EMISSION
