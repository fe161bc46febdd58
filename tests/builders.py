"""Builders that read like sentences: make_world(services), make_delivery(world, status=...)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from lastmile_portal.domain import model as m
from lastmile_portal.domain.status import DeliveryStatus
from lastmile_portal.services import Services

DRIVER_TOKEN = "test-driver-token-0123456789abcdef"
OTHER_DRIVER_TOKEN = "other-driver-token-0123456789abcdef"


@dataclass
class World:
    """A depot with one van and two drivers (ids only: objects belong to their session)."""

    services: Services
    depot_id: int
    vehicle_ids: list[int]
    driver_ids: list[int]
    service_date: date


def a_delivery(
    status: DeliveryStatus = DeliveryStatus.OUT_FOR_DELIVERY, **overrides: Any
) -> m.Delivery:
    """Return an unsaved delivery in ``status`` (domain tests: no database involved)."""
    values: dict[str, Any] = dict(
        tracking_number="LM0000000001",
        tracking_token=m.new_tracking_token(),
        recipient_name="Ada Lovelace",
        phone="+493023125001",
        address_line="Teststraße 1",
        postcode="10115",
        city="Berlin",
        lat=52.52,
        lng=13.40,
        depot_id=1,
        created_at=datetime(2026, 11, 25, 9, 0, tzinfo=UTC),
        status=status,
        id=5,
    )
    values.update(overrides)
    return m.Delivery(**values)


def make_world(services: Services, vehicles: int = 2) -> World:
    """Create a depot in Berlin-Mitte with ``vehicles`` vans and as many drivers."""
    with services.uow() as uow:
        depot = m.Depot(
            code="TST",
            name="Test Depot",
            address="Test 1",
            lat=52.52,
            lng=13.40,
            opens_at="07:00",
            closes_at="21:00",
        )
        vtype = m.VehicleType(
            code="van",
            kind=m.VehicleKind.VAN,
            name="Van",
            capacity=50,
            max_parcel_size=m.ParcelSize.L,
            speed_factor=1.0,
            range_km=300,
            co2_g_per_km=200,
            cost_per_km=0.3,
            cost_per_hour=25,
            fixed_cost=30,
        )
        uow.repo.add(depot)
        uow.repo.add(vtype)
        uow.repo.flush()
        vehicle_objs, driver_objs = [], []
        tokens = [DRIVER_TOKEN, OTHER_DRIVER_TOKEN] + [
            f"driver-token-{i:030d}" for i in range(2, vehicles)
        ]
        for i in range(vehicles):
            v = m.Vehicle(depot_id=depot.id, vehicle_type_id=vtype.id, label=f"VAN-{i}")
            d = m.Driver(
                name=f"Driver{i} Test",
                phone=f"+4930231250{i:02d}",
                employment=m.Employment.STAFF,
                api_token_hash=m.hash_api_token(tokens[i]),
                depot_id=depot.id,
            )
            uow.repo.add(v)
            uow.repo.add(d)
            vehicle_objs.append(v)
            driver_objs.append(d)
        uow.commit()
        return World(
            services,
            depot.id,
            [v.id for v in vehicle_objs],
            [d.id for d in driver_objs],
            services.today(),
        )


def make_delivery(
    world: World,
    *,
    status: DeliveryStatus = DeliveryStatus.CREATED,
    window_hours: tuple[int, int] = (1, 4),
    **overrides: Any,
) -> m.Delivery:
    """Create a delivery near the depot with a window some hours from now."""
    services = world.services
    now = services.clock.now()
    n = overrides.pop("n", None) or _next_n()
    values: dict[str, Any] = dict(
        tracking_number=f"LM{n:010d}",
        tracking_token=m.new_tracking_token(),
        recipient_name=f"Recipient{n} Person",
        phone=f"+4930231{25000 + n % 1000}",  # the range reserved for fiction
        address_line=f"Teststraße {n}",
        postcode="10115",
        city="Berlin",
        lat=52.52 + 0.002 * (n % 7),
        lng=13.40 + 0.003 * (n % 5),
        depot_id=world.depot_id,
        created_at=now,
        service_date=world.service_date,
        window_start=now + timedelta(hours=window_hours[0]),
        window_end=now + timedelta(hours=window_hours[1]),
        status=status,
    )
    values.update(overrides)
    with services.uow() as uow:
        d = m.Delivery(**values)
        uow.repo.add(d)
        uow.commit()
        return d


_counter = [0]


def _next_n() -> int:
    _counter[0] += 1
    return _counter[0]


def make_locker(world: World, sizes: str = "") -> int:
    """Create a parcel locker of the world's depot, one compartment per letter of ``sizes``."""
    with world.services.uow() as uow:
        locker = m.Locker(
            code="LK-T",
            name="Packstation Test",
            kind=m.LockerKind.LOCKER,
            address="Lockerweg 1",
            postcode="10115",
            lat=52.525,
            lng=13.405,
            depot_id=world.depot_id,
        )
        for i, size in enumerate(sizes):
            locker.compartments.append(
                m.LockerCompartment(locker_id=None, label=f"C{i}", size=m.ParcelSize(size))  # type: ignore[arg-type]
            )
        uow.repo.add(locker)
        uow.commit()
        return locker.id  # type: ignore[return-value]


def make_route(
    world: World,
    deliveries: list[m.Delivery],
    *,
    driver_index: int = 0,
    dispatched: bool = True,
    start: datetime | None = None,
) -> int:
    """Put ``deliveries`` on a route, one stop each in the given order; return the route id."""
    services = world.services
    now = start or services.clock.now()
    with services.uow() as uow:
        route = m.Route(
            driver_id=world.driver_ids[driver_index],
            vehicle_id=world.vehicle_ids[driver_index],
            depot_id=world.depot_id,
            service_date=world.service_date,
            status=m.RouteStatus.IN_PROGRESS if dispatched else m.RouteStatus.PLANNED,
            planned_start=now,
            started_at=now if dispatched else None,
        )
        for seq, d in enumerate(deliveries, start=1):
            arrival = now + timedelta(minutes=15 * seq)
            route.stops.append(
                m.Stop(
                    route_id=None,
                    sequence=seq,
                    kind=m.StopKind.ADDRESS,
                    lat=d.lat,
                    lng=d.lng,
                    service_seconds=180,
                    planned_arrival=arrival,
                    eta_earliest=arrival - timedelta(minutes=5),
                    eta_latest=arrival + timedelta(minutes=10),
                )
            )
        uow.repo.add(route)
        uow.repo.flush()
        for stop, d in zip(route.stops, deliveries, strict=True):
            loaded = uow.repo.get(m.Delivery, d.id)
            loaded.stop_id = stop.id
            if dispatched and loaded.status in (DeliveryStatus.CREATED, DeliveryStatus.SCHEDULED):
                loaded.status = DeliveryStatus.OUT_FOR_DELIVERY
        uow.commit()
        return route.id


# ---------------------------------------------------------------- reading state back

PING_AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # the test clock's start (conftest.MORNING)


def iso(dt: datetime) -> str:
    return dt.isoformat()


def ping(lat: float = 52.521, lng: float = 13.401, at: datetime = PING_AT, **extra: Any) -> dict:  # type: ignore[type-arg]
    """Return one GPS fix as a driver's phone sends it."""
    return {"lat": lat, "lng": lng, "recorded_at": iso(at), **extra}


def snapshot(obj: Any) -> SimpleNamespace:
    """Copy an entity's fields while its session is open (closing it expires the object)."""
    return SimpleNamespace(**{f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})


def stored_positions(services: Services) -> list[SimpleNamespace]:
    """Return the stored GPS history, oldest first."""
    with services.uow() as uow:
        rows = sorted(uow.repo.all(m.DriverPosition), key=lambda p: p.recorded_at)
        return [snapshot(p) for p in rows]


def load(services: Services, cls: Any, id_: int) -> SimpleNamespace:
    """Return a copy of the stored entity ``cls`` ``id_``."""
    with services.uow() as uow:
        return snapshot(uow.repo.get(cls, id_))


def load_stop_id(services: Services, delivery: m.Delivery) -> int:
    """Return the stop a delivery is on now."""
    return load(services, m.Delivery, delivery.id).stop_id  # type: ignore[arg-type, no-any-return]
