"""Operations KPIs of a day, per depot and driver, for the dashboard and its CSV export.

The definitions are ``domain/kpis.py``'s; this module reads the day's facts in a handful
of queries (``Repository.kpi_facts``) and splits them per driver.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime

from ..domain import kpis
from ..domain import model as m
from ..domain.errors import NotFound
from ..domain.kpis import Kpis
from . import Services


@dataclass(frozen=True)
class DriverKpis:
    """One driver's numbers for the day."""

    driver_id: int
    name: str
    vehicle: m.VehicleKind
    kpis: Kpis


@dataclass(frozen=True)
class DayKpis:
    """The day's numbers: for everything shown, and per driver, with the filters' choices."""

    service_date: date
    depot: m.Depot | None  # None: every depot
    depots: list[m.Depot]
    driver_id: int | None
    total: Kpis
    drivers: list[DriverKpis]  # every driver of the day (the filter's list), by name
    as_of: datetime


def day_kpis(
    services: Services,
    service_date: date,
    depot_id: int | None = None,
    driver_id: int | None = None,
) -> DayKpis:
    """Return the KPIs of a day, of one depot or all, for one driver or all of them.

    Raises NotFound for a depot that does not exist. A driver with no route that day gives
    empty numbers, not an error: the filter may be kept while the day changes.
    """
    now = services.clock.now()
    with services.uow() as uow:
        depots = sorted(uow.repo.all(m.Depot), key=lambda d: d.name)
        depot = None
        if depot_id is not None:
            depot = next((d for d in depots if d.id == depot_id), None)
            if depot is None:
                raise NotFound(f"There is no depot {depot_id}.")
        routes, parcels = uow.repo.kpi_facts(service_date, depot_id)
    per_driver = [
        DriverKpis(
            driver_id=r.driver_id,
            name=r.driver_name,
            vehicle=r.vehicle_kind,
            kpis=kpis.for_driver(r.driver_id, routes, parcels, now),
        )
        for r in _one_per_driver(routes)
    ]
    if driver_id is None:
        total = kpis.compute(routes, parcels, now)
    else:
        total = kpis.for_driver(driver_id, routes, parcels, now)
    return DayKpis(
        service_date=service_date,
        depot=depot,
        depots=depots,
        driver_id=driver_id,
        total=total,
        drivers=per_driver,
        as_of=now,
    )


CSV_COLUMNS = (
    "date",
    "depot",
    "driver",
    "vehicle",
    "routes_out",
    "parcels",
    "delivered",
    "attempted",
    "first_attempt_rate",
    "with_window",
    "on_time",
    "on_time_rate",
    "closed_stops",
    "driver_hours",
    "km",
    "cost",
    "cost_per_delivery",
    "stops_per_hour",
    "ratings",
    "ratings_1",
    "ratings_2",
    "ratings_3",
    "ratings_4",
    "ratings_5",
    "mean_rating",
    "response_rate",
    "co2_kg",
    "co2_g_per_delivery",
    "zero_emission_parcels",
    "zero_emission_share",
)


def kpis_csv(services: Services, service_date: date, depot_id: int | None = None) -> str:
    """Return the day's KPIs as CSV: one row per driver, then the total (driver "all")."""
    day = day_kpis(services, service_date, depot_id)
    depot = day.depot.code if day.depot else "all"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in day.drivers:
        writer.writerow(_csv_row(service_date, depot, row.name, str(row.vehicle), row.kpis))
    writer.writerow(_csv_row(service_date, depot, "all", "", day.total))
    return out.getvalue()


def _csv_row(service_date: date, depot: str, driver: str, vehicle: str, k: Kpis) -> list[str]:
    return [
        service_date.isoformat(),
        _cell(depot),
        _cell(driver),
        vehicle,
        str(k.routes_out),
        str(k.parcels),
        str(k.delivered),
        str(k.attempted),
        _num(k.first_attempt_rate, 4),
        str(k.with_window),
        str(k.on_time),
        _num(k.on_time_rate, 4),
        str(k.closed_stops),
        _num(k.hours, 2),
        _num(k.km, 2),
        _num(k.cost, 2),
        _num(k.cost_per_delivery, 2),
        _num(k.stops_per_hour, 2),
        str(k.rating_count),
        *(str(n) for n in k.ratings),
        _num(k.mean_rating, 2),
        _num(k.response_rate, 4),
        _num(k.co2_g / 1000, 3),
        _num(k.co2_g_per_delivery, 1),
        str(k.zero_emission_parcels),
        _num(k.zero_emission_share, 4),
    ]


def _num(value: float | None, places: int) -> str:
    """Format a number for the CSV; nothing to divide by is an empty cell, not 0."""
    return "" if value is None else f"{value:.{places}f}"


def _cell(text: str) -> str:
    """Keep a spreadsheet from running a name as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _one_per_driver(routes: list[kpis.RouteFacts]) -> list[kpis.RouteFacts]:
    seen: dict[int, kpis.RouteFacts] = {}
    for r in routes:
        seen.setdefault(r.driver_id, r)
    return list(seen.values())
