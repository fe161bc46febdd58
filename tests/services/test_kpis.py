"""A small day through the real services (routes, the driver's taps, ratings) → the KPIs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile_portal.domain import model as m
from lastmile_portal.domain.errors import NotFound
from lastmile_portal.services import kpis, proof_of_delivery, ratings
from tests.builders import load_stop_id, make_delivery, make_route, make_world
from tests.conftest import MORNING


@pytest.fixture
def day(services, clock):  # type: ignore[no-untyped-def]
    """09:00 two vans go out (0.30/km, 25/h, 30/day, 200 g/km; make_world's van).

    Driver0: 3 parcels, 12 km planned. 09:30 the first is delivered (window 09:00-13:00),
    09:45 the second fails, 10:00 the third is delivered, 15 minutes after its window
    (09:00-09:45) ended; that closes the route at 10:00 (1 h). Ratings 5 and 3.
    Driver1: 1 parcel, 8 km planned, nothing closed yet at 10:00 (1 h out, 0 km so far).
    """
    world = make_world(services)
    first = make_delivery(world, window_hours=(0, 4))
    second = make_delivery(world, window_hours=(0, 4))
    third = make_delivery(world, window_start=MORNING, window_end=MORNING + timedelta(minutes=45))
    waiting = make_delivery(world, window_hours=(0, 4))
    route_a = make_route(world, [first, second, third])
    route_b = make_route(world, [waiting], driver_index=1)
    with services.uow() as uow:
        uow.repo.get(m.Route, route_a).planned_distance_m = 12_000
        uow.repo.get(m.Route, route_b).planned_distance_m = 8_000
        uow.commit()
    driver = world.driver_ids[0]
    stops = [load_stop_id(services, d) for d in (first, second, third)]
    clock.advance(minutes=30)
    proof_of_delivery.mark_arrived(services, driver, stops[0])
    proof_of_delivery.mark_delivered(services, driver, stops[0])
    clock.advance(minutes=15)
    proof_of_delivery.mark_arrived(services, driver, stops[1])
    proof_of_delivery.mark_failed(services, driver, stops[1], "not_home")
    clock.advance(minutes=15)
    proof_of_delivery.mark_arrived(services, driver, stops[2])
    proof_of_delivery.mark_delivered(services, driver, stops[2])
    ratings.rate_delivery(services, first.id, 5)
    ratings.rate_delivery(services, third.id, 3)
    return world


def test_the_days_numbers(services, day) -> None:  # type: ignore[no-untyped-def]
    k = kpis.day_kpis(services, day.service_date, day.depot_id).total

    assert (k.routes_out, k.delivered) == (2, 2)
    # A: 1 h × 25 + 12 km × 0.30 + 30 = 58.6; B: 1 h × 25 + 0 km + 30 = 55 → 113.6 / 2
    assert k.cost == pytest.approx(113.6)
    assert k.cost_per_delivery == pytest.approx(56.8)
    # 3 stops closed (2 done, 1 failed) in 2 driver hours
    assert k.stops_per_hour == pytest.approx(1.5)
    # 3 parcels tried, 2 delivered at the first attempt
    assert k.first_attempt_rate == pytest.approx(2 / 3)
    # 09:30 inside 09:00-13:00; 10:00 after 09:45
    assert (k.on_time, k.with_window) == (1, 2)
    assert k.ratings == (0, 0, 1, 0, 1)
    assert k.mean_rating == pytest.approx(4)
    assert k.response_rate == pytest.approx(1)
    # 12 km × 200 g over 2 parcels; vans only
    assert k.co2_g_per_delivery == pytest.approx(1200)
    assert k.zero_emission_share == 0


def test_per_driver(services, day) -> None:  # type: ignore[no-untyped-def]
    result = kpis.day_kpis(services, day.service_date, day.depot_id)
    by_driver = {row.driver_id: row.kpis for row in result.drivers}

    done, out = by_driver[day.driver_ids[0]], by_driver[day.driver_ids[1]]
    assert done.cost_per_delivery == pytest.approx(58.6 / 2)
    assert done.stops_per_hour == pytest.approx(3)
    assert out.delivered == 0 and out.cost_per_delivery is None
    assert out.stops_per_hour == 0
    only = kpis.day_kpis(services, day.service_date, day.depot_id, day.driver_ids[1]).total
    assert only.cost == pytest.approx(55)


def test_another_day_has_nothing(services, day) -> None:  # type: ignore[no-untyped-def]
    k = kpis.day_kpis(services, day.service_date + timedelta(days=1)).total
    assert (k.routes_out, k.parcels, k.cost_per_delivery) == (0, 0, None)


def test_an_unknown_depot_is_not_found(services, day) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFound):
        kpis.day_kpis(services, day.service_date, 9999)


def test_csv_has_a_row_per_driver_and_the_total(services, day) -> None:  # type: ignore[no-untyped-def]
    text = kpis.kpis_csv(services, day.service_date, day.depot_id)
    lines = text.splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]

    assert [r["driver"] for r in rows] == ["Driver0 Test", "Driver1 Test", "all"]
    total = rows[-1]
    assert total["depot"] == "TST"
    assert total["cost_per_delivery"] == "56.80"
    assert total["on_time_rate"] == "0.5000"
    assert total["co2_g_per_delivery"] == "1200.0"
    assert rows[1]["cost_per_delivery"] == ""  # nothing delivered: no number, not 0


def test_a_name_that_looks_like_a_formula_is_not_one_in_the_csv(services, day) -> None:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        uow.repo.get(m.Driver, day.driver_ids[0]).name = "=HYPERLINK(1)"
        uow.commit()
    text = kpis.kpis_csv(services, day.service_date, day.depot_id)
    assert "'=HYPERLINK(1)" in text
