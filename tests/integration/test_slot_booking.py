"""Slot places on PostgreSQL under concurrent requests: never over capacity, never lost."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from lastmile_portal import create_app
from lastmile_portal.adapters.migrations import upgrade
from lastmile_portal.domain import model as m
from lastmile_portal.domain.errors import ConcurrentUpdate, DomainError
from lastmile_portal.services import rescheduling
from tests.builders import make_delivery, make_world
from tests.conftest import base_config


@pytest.fixture
def pg_services(postgres_url, tmp_path, clock, publisher):  # type: ignore[no-untyped-def]
    app = create_app(
        base_config(tmp_path, DATABASE_URL=postgres_url), clock=clock, publisher=publisher
    )
    upgrade(app.config["SETTINGS"].database_url)
    return app.extensions["lastmile"]


def _slot(services, world, *, hours: int, capacity: int, booked: int = 0) -> int:  # type: ignore[no-untyped-def]
    start = services.clock.now() + timedelta(hours=hours)
    with services.uow() as uow:
        slot = m.DeliverySlot(
            depot_id=world.depot_id,
            service_date=start.astimezone(ZoneInfo("Europe/Berlin")).date(),
            starts_at=start,
            ends_at=start + timedelta(hours=2),
            capacity=capacity,
            booked=booked,
        )
        uow.repo.add(slot)
        uow.commit()
        return slot.id  # type: ignore[return-value]


def _race(calls):  # type: ignore[no-untyped-def]
    """Run the calls at once (released together); return each one's result or error."""
    start = threading.Barrier(len(calls))

    def run(call):  # type: ignore[no-untyped-def]
        start.wait()
        try:
            return call()
        except DomainError as error:
            return error

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_twenty_bookings_for_five_places_give_exactly_five(pg_services) -> None:  # type: ignore[no-untyped-def]
    world = make_world(pg_services)
    slot_id = _slot(pg_services, world, hours=26, capacity=12, booked=7)  # 5 places left
    parcels = [make_delivery(world) for _ in range(20)]

    results = _race(
        [
            (lambda t=d.tracking_token: rescheduling.move_to_slot(pg_services, t, slot_id))
            for d in parcels
        ]
    )

    moved = [r for r in results if isinstance(r, rescheduling.SlotMoved)]
    full = [r for r in results if isinstance(r, rescheduling.SlotFull)]
    assert len(moved) == 5 and len(full) == 15, results
    assert all("filled up" in r.message for r in full)
    with pg_services.uow() as uow:
        assert uow.repo.get(m.DeliverySlot, slot_id).booked == 12
        in_slot = [d for d in parcels if uow.repo.get(m.Delivery, d.id).slot_id == slot_id]
        assert {d.id for d in in_slot} == {r.delivery_id for r in moved}
        assert all(
            uow.repo.get(m.Delivery, d.id).reschedules == 0 for d in parcels if d not in in_slot
        )


def test_two_tabs_moving_one_parcel_one_wins_the_other_gets_409(pg_services) -> None:  # type: ignore[no-untyped-def]
    world = make_world(pg_services)
    first = _slot(pg_services, world, hours=26, capacity=5)
    second = _slot(pg_services, world, hours=28, capacity=5)
    d = make_delivery(world)
    with pg_services.uow() as uow:
        version = uow.repo.get(m.Delivery, d.id).version

    results = _race(
        [
            lambda: rescheduling.move_to_slot(pg_services, d.tracking_token, first, version),
            lambda: rescheduling.move_to_slot(pg_services, d.tracking_token, second, version),
        ]
    )

    winners = [r for r in results if isinstance(r, rescheduling.SlotMoved)]
    losers = [r for r in results if isinstance(r, ConcurrentUpdate)]
    assert len(winners) == 1 and len(losers) == 1, results
    with pg_services.uow() as uow:
        loaded = uow.repo.get(m.Delivery, d.id)
        booked = {s: uow.repo.get(m.DeliverySlot, s).booked for s in (first, second)}
    assert loaded.slot_id == winners[0].slot_id and loaded.reschedules == 1
    # The loser's place went back with its rollback: one place taken in all.
    assert sorted(booked.values()) == [0, 1] and booked[winners[0].slot_id] == 1
