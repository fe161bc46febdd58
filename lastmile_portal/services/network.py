"""Load a carrier's network from a file: depots, fleet, drivers, slots, lockers (upsert).

One use case, one transaction: the whole file applies or, with any error, nothing does.
Things are matched by what a carrier keeps stable — depots, vehicle types and lockers by
code, vehicles by label, drivers by phone number (names change and repeat) — so
re-running a changed file changes what changed. What the file no longer lists is never
deleted: vehicles, drivers and lockers are made inactive (planning skips them, history
stays), unless a live route (planned or on the road, today or later) uses the vehicle or
driver, or a locker still holds parcels: those stay as they are and the report says so.
Depots and vehicle types left out are left alone. Slots a depot no longer offers are
closed (their capacity becomes what is booked), never deleted: booked parcels keep them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..domain import model as m
from ..domain import network as rules
from . import Services
from .unit_of_work import UnitOfWork


@dataclass
class NetworkReport:
    """What loading the file did: one line per thing created, changed, or kept on purpose."""

    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # not in the file but in use, or left alone
    unchanged: int = 0

    def lines(self) -> list[str]:
        """Return the report as lines for a terminal."""
        out = [f"created   {x}" for x in self.created]
        out += [f"changed   {x}" for x in self.changed]
        out += [f"inactive  {x}" for x in self.deactivated]
        out += [f"kept      {x}" for x in self.kept]
        out.append(
            f"{len(self.created)} created, {len(self.changed)} changed, "
            f"{len(self.deactivated)} made inactive, {len(self.kept)} kept as they are, "
            f"{self.unchanged} unchanged."
        )
        return out


def load_network(services: Services, text: str, filename: str = "network.toml") -> NetworkReport:
    """Apply a network file; raise NetworkErrors (every error, with lines) and change nothing."""
    network = rules.parse_network(text, filename, services.phones.normalise)
    phones = [d.phone for d in network.drivers]  # in E.164 now
    now = services.clock.now()
    report = NetworkReport()
    with services.uow() as uow:
        types = _vehicle_types(uow, network, report)
        depots = _depots(uow, network, report)
        in_use = _in_use(uow, services.today(), network.slot_days)
        _vehicles(uow, network, depots, types, in_use, report)
        _drivers(uow, network, depots, phones, in_use, report)
        _lockers(uow, network, depots, report)
        for spec in network.depots:
            _slots(uow, spec, depots[spec.code], network.slot_days, now, report)
        uow.commit()
    return report


def _update(obj: Any, values: dict[str, Any]) -> list[str]:
    """Set ``values`` on ``obj``; return the names of the fields that changed."""
    changed = []
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed.append(name)
    return changed


def _note(report: NetworkReport, what: str, changed: list[str]) -> None:
    if changed:
        report.changed.append(f"{what}: {', '.join(changed)}")
    else:
        report.unchanged += 1


def _vehicle_types(
    uow: UnitOfWork, network: rules.Network, report: NetworkReport
) -> dict[str, m.VehicleType]:
    known = {t.code: t for t in uow.repo.all(m.VehicleType)}
    for s in network.vehicle_types:
        values: dict[str, Any] = {
            "kind": m.VehicleKind(s.kind),
            "name": s.name,
            "capacity": s.capacity,
            "max_parcel_size": m.ParcelSize(s.max_parcel_size),
            "speed_factor": s.speed_factor,
            "range_km": s.range_km,
            "co2_g_per_km": s.co2_g_per_km,
            "cost_per_km": s.cost_per_km,
            "cost_per_hour": s.cost_per_hour,
            "fixed_cost": s.cost_per_day,
        }
        if s.code in known:
            _note(report, f"vehicle type {s.code}", _update(known[s.code], values))
        else:
            known[s.code] = m.VehicleType(code=s.code, **values)
            uow.repo.add(known[s.code])
            report.created.append(f"vehicle type {s.code}")
    listed = {s.code for s in network.vehicle_types}
    for code in sorted(set(known) - listed):
        report.kept.append(f"vehicle type {code}: not in the file, left as it is")
    uow.repo.flush()
    return known


def _depots(uow: UnitOfWork, network: rules.Network, report: NetworkReport) -> dict[str, m.Depot]:
    known = {d.code: d for d in uow.repo.all(m.Depot)}
    areas: dict[int | None, list[m.ServiceArea]] = {}
    for area in uow.repo.all(m.ServiceArea):
        areas.setdefault(area.depot_id, []).append(area)
    for s in network.depots:
        values: dict[str, Any] = {
            "name": s.name,
            "address": s.address,
            "lat": s.lat,
            "lng": s.lng,
            "timezone": s.timezone,
            "opens_at": s.opens_at,
            "closes_at": s.closes_at,
            "trunk_delivery": s.trunk_delivery,
        }
        depot = known.get(s.code)
        if depot is None:
            depot = known[s.code] = m.Depot(code=s.code, **values)
            uow.repo.add(depot)
            uow.repo.flush()
            report.created.append(f"depot {s.code}")
            changed: list[str] | None = None
        else:
            changed = _update(depot, values)
        if _service_areas(uow, depot, s, areas.get(depot.id, [])) and changed is not None:
            changed.append("service_areas")
        if changed is not None:
            _note(report, f"depot {s.code}", changed)
    listed = {s.code for s in network.depots}
    for code in sorted(set(known) - listed):
        report.kept.append(f"depot {code}: not in the file, left as it is")
    return known


def _service_areas(
    uow: UnitOfWork, depot: m.Depot, spec: rules.DepotSpec, existing: list[m.ServiceArea]
) -> bool:
    """Make the depot's areas the file's; return whether they changed (nothing refers to one)."""
    wanted = [(name, ",".join(prefixes)) for name, prefixes in spec.service_areas]
    if sorted(wanted) == sorted((a.name, a.postcode_prefixes) for a in existing):
        return False
    for area in existing:
        uow.repo.delete(area)
    for name, prefixes in wanted:
        uow.repo.add(m.ServiceArea(depot_id=depot.id, name=name, postcode_prefixes=prefixes))  # type: ignore[arg-type]
    return True


@dataclass(frozen=True)
class _InUse:
    vehicles: frozenset[int]
    drivers: frozenset[int]


LIVE = (m.RouteStatus.PLANNED, m.RouteStatus.IN_PROGRESS)


def _in_use(uow: UnitOfWork, today: date, days: int) -> _InUse:
    """Return the vehicles and drivers of live routes (planned or on the road) from today."""
    routes = [
        r
        for n in range(days)
        for r in uow.repo.routes_on(today + timedelta(days=n))
        if r.status in LIVE
    ]
    return _InUse(frozenset(r.vehicle_id for r in routes), frozenset(r.driver_id for r in routes))


def _vehicles(
    uow: UnitOfWork,
    network: rules.Network,
    depots: dict[str, m.Depot],
    types: dict[str, m.VehicleType],
    in_use: _InUse,
    report: NetworkReport,
) -> None:
    known = {v.label: v for v in uow.repo.all(m.Vehicle)}
    for s in network.vehicles:
        values: dict[str, Any] = {
            "depot_id": depots[s.depot].id,
            "vehicle_type_id": types[s.type].id,
            "active": True,
        }
        if s.label in known:
            _note(report, f"vehicle {s.label}", _update(known[s.label], values))
        else:
            uow.repo.add(m.Vehicle(label=s.label, **values))  # type: ignore[arg-type]
            report.created.append(f"vehicle {s.label}")
    listed = {s.label for s in network.vehicles}
    for label in sorted(set(known) - listed):
        vehicle = known[label]
        if vehicle.id in in_use.vehicles:
            report.kept.append(f"vehicle {label}: not in the file, but on a live route")
        elif vehicle.active:
            vehicle.active = False
            report.deactivated.append(f"vehicle {label}")


def _drivers(
    uow: UnitOfWork,
    network: rules.Network,
    depots: dict[str, m.Depot],
    phones: list[str],
    in_use: _InUse,
    report: NetworkReport,
) -> None:
    known = {d.phone: d for d in uow.repo.all(m.Driver)}
    for s, phone in zip(network.drivers, phones, strict=True):
        values: dict[str, Any] = {
            "name": s.name,
            "employment": m.Employment(s.employment),
            "depot_id": depots[s.depot].id,
            "active": True,
        }
        if phone in known:
            _note(report, f"driver {s.name} ({phone})", _update(known[phone], values))
        else:
            # No one knows this token: the driver signs in once `flask driver-token` issues one.
            unusable = m.hash_api_token(secrets.token_urlsafe(32))
            uow.repo.add(m.Driver(phone=phone, api_token_hash=unusable, **values))  # type: ignore[arg-type]
            report.created.append(f"driver {s.name} ({phone})")
    for phone in sorted(set(known) - set(phones)):
        driver = known[phone]
        if driver.id in in_use.drivers:
            report.kept.append(
                f"driver {driver.name} ({phone}): not in the file, but on a live route"
            )
        elif driver.active:
            driver.active = False
            report.deactivated.append(f"driver {driver.name} ({phone})")


HOLDING = (m.CompartmentStatus.RESERVED, m.CompartmentStatus.OCCUPIED)


def _lockers(
    uow: UnitOfWork, network: rules.Network, depots: dict[str, m.Depot], report: NetworkReport
) -> None:
    known = {x.code: x for x in uow.repo.all(m.Locker)}
    for s in network.lockers:
        values: dict[str, Any] = {
            "name": s.name,
            "kind": m.LockerKind(s.kind),
            "depot_id": depots[s.depot].id,
            "address": s.address,
            "postcode": s.postcode,
            "lat": s.lat,
            "lng": s.lng,
            "opening_hours": s.opening_hours,
            "active": True,
        }
        locker = known.get(s.code)
        if locker is None:
            locker = m.Locker(code=s.code, **values)  # type: ignore[arg-type]
            _compartments(locker, s.compartments)
            uow.repo.add(locker)
            report.created.append(f"locker {s.code}")
            continue
        changed = _update(locker, values)
        if _compartments(locker, s.compartments):
            changed.append("compartments")
        _note(report, f"locker {s.code}", changed)
    listed = {s.code for s in network.lockers}
    for code in sorted(set(known) - listed):
        locker = known[code]
        if any(c.status in HOLDING for c in locker.compartments):
            report.kept.append(f"locker {code}: not in the file, but holds parcels")
        elif locker.active:
            locker.active = False
            report.deactivated.append(f"locker {code}")


def _compartments(locker: m.Locker, wanted: tuple[tuple[str, int], ...]) -> bool:
    """Give the locker ``wanted`` doors in service per size; return whether any changed.

    Doors are never removed (parcels and history point at them): spare free ones go out
    of service, and come back into service before new ones are added.
    """
    changed = False
    labels = {c.label for c in locker.compartments}
    for size_code, count in wanted:
        size = m.ParcelSize(size_code)
        doors = [c for c in locker.compartments if c.size is size]
        in_service = [c for c in doors if c.status is not m.CompartmentStatus.OUT_OF_SERVICE]
        spare = [c for c in doors if c.status is m.CompartmentStatus.OUT_OF_SERVICE]
        while len(in_service) < count and spare:
            door = spare.pop(0)
            door.status = m.CompartmentStatus.FREE
            in_service.append(door)
            changed = True
        while len(in_service) < count:
            n = len(labels) + 1
            while f"{n:02d}" in labels:
                n += 1
            labels.add(f"{n:02d}")
            door = m.LockerCompartment(locker_id=locker.id, label=f"{n:02d}", size=size)  # type: ignore[arg-type]
            locker.compartments.append(door)
            in_service.append(door)
            changed = True
        for door in reversed(in_service):
            if len(in_service) <= count:
                break
            if door.status is m.CompartmentStatus.FREE:
                door.status = m.CompartmentStatus.OUT_OF_SERVICE
                in_service.remove(door)
                changed = True
    return changed


def _slots(
    uow: UnitOfWork,
    spec: rules.DepotSpec,
    depot: m.Depot,
    days: int,
    now: datetime,
    report: NetworkReport,
) -> None:
    """Materialise the depot's weekly slots for ``days`` days from today; close dropped ones."""
    tz = ZoneInfo(spec.timezone)
    today = now.astimezone(tz).date()
    wanted: dict[tuple[datetime, datetime], int] = {}
    for n in range(days):
        day = today + timedelta(days=n)
        for pattern in spec.slots:
            if day.weekday() not in pattern.days:
                continue
            for start, end in pattern.windows:
                starts = datetime.combine(day, start, tz).astimezone(UTC)
                ends = datetime.combine(day, end, tz).astimezone(UTC)
                if ends > now:  # a slot already over takes no one
                    wanted[(starts, ends)] = pattern.capacity
    existing = {
        (s.starts_at.astimezone(UTC), s.ends_at.astimezone(UTC)): s
        for s in uow.repo.slots_from(depot.id, today, days)  # type: ignore[arg-type]
    }
    created = changed = closed = 0
    for (starts, ends), capacity in wanted.items():
        slot = existing.get((starts, ends))
        if slot is None:
            uow.repo.add(
                m.DeliverySlot(
                    depot_id=depot.id,  # type: ignore[arg-type]
                    service_date=starts.astimezone(tz).date(),
                    starts_at=starts,
                    ends_at=ends,
                    capacity=capacity,
                )
            )
            created += 1
        elif slot.capacity != capacity:
            slot.capacity = capacity
            changed += 1
    for key, slot in existing.items():
        if key not in wanted and slot.ends_at > now and slot.capacity != slot.booked:
            slot.capacity = slot.booked  # takes no more parcels; the booked ones keep it
            closed += 1
    if created:
        report.created.append(f"depot {spec.code}: {created} delivery slots")
    if changed:
        report.changed.append(f"depot {spec.code}: capacity of {changed} delivery slots")
    if closed:
        report.changed.append(
            f"depot {spec.code}: {closed} delivery slots no longer offered, closed"
        )
