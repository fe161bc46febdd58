"""Locker reservations on real PostgreSQL under concurrent requests: never overbooked, and
two tabs changing one parcel never both win."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from lastmile_portal import create_app
from lastmile_portal.adapters.migrations import upgrade
from lastmile_portal.domain import model as m
from lastmile_portal.domain.errors import ConcurrentUpdate
from lastmile_portal.services import lockers
from tests.builders import make_delivery, make_world
from tests.conftest import base_config
from tests.services.test_lockers import add_locker


@pytest.fixture
def pg_services(postgres_url, tmp_path, clock, publisher):  # type: ignore[no-untyped-def]
    app = create_app(
        base_config(tmp_path, DATABASE_URL=postgres_url), clock=clock, publisher=publisher
    )
    upgrade(app.config["SETTINGS"].database_url)
    return app.extensions["lastmile"]


@pytest.fixture
def world(pg_services):  # type: ignore[no-untyped-def]
    return make_world(pg_services)


def test_fifty_simultaneous_choices_for_ten_compartments_book_exactly_ten(
    pg_services, world
) -> None:
    popular = add_locker(world, "POP", sizes="M" * 10)
    other = add_locker(world, "ALT", lat=52.53, lng=13.41, sizes="M" * 3)
    parcels = [make_delivery(world) for _ in range(50)]
    start = threading.Barrier(50)

    def choose(d: m.Delivery) -> str:
        start.wait(timeout=30)  # every request at once, each in its own session
        try:
            lockers.choose_locker(pg_services, d.tracking_token, popular, d.version)
            return "ok"
        except lockers.LockerFull as full:
            assert [a.locker_id for a in full.alternatives] == [other]
            assert "Locker POP is full" in full.message and "Locker ALT" in full.message
            return "full"

    with ThreadPoolExecutor(50) as pool:
        outcomes = list(pool.map(choose, parcels))

    assert outcomes.count("ok") == 10 and outcomes.count("full") == 40
    with pg_services.uow() as uow:
        booked = [c for c in uow.repo.all(m.LockerCompartment) if c.locker_id == popular]
        sent = [
            d for d in (uow.repo.get(m.Delivery, p.id) for p in parcels) if d.locker_id == popular
        ]
    assert all(c.status is m.CompartmentStatus.RESERVED for c in booked)
    assert len({c.delivery_id for c in booked}) == 10
    assert {d.id for d in sent} == {c.delivery_id for c in booked}


def test_two_tabs_choosing_for_one_parcel_one_wins_the_other_gets_409(pg_services, world) -> None:
    lockers_ = [add_locker(world, "ONE", sizes="M" * 10), add_locker(world, "TWO", sizes="M" * 10)]
    for _round in range(5):  # the race is real only sometimes: run it a few times
        d = make_delivery(world)
        start = threading.Barrier(2)

        def tab(locker_id: int, d: m.Delivery = d, start: threading.Barrier = start) -> object:
            start.wait(timeout=10)
            try:
                return lockers.choose_locker(pg_services, d.tracking_token, locker_id, d.version)
            except ConcurrentUpdate as stale:
                return stale

        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(tab, lockers_))

        won = [r for r in results if isinstance(r, lockers.LockerChoice)]
        lost = [r for r in results if isinstance(r, ConcurrentUpdate)]
        assert len(won) == 1 and len(lost) == 1
        assert lost[0].status_code == 409
        # The loser's page shows the winner's choice, at the new version.
        fresh = lockers.locker_section(pg_services, d.tracking_token)
        assert fresh.current is not None and fresh.current.name == won[0].locker_name
        assert fresh.version == d.version + 1
        with pg_services.uow() as uow:
            held = [c for c in uow.repo.all(m.LockerCompartment) if c.delivery_id == d.id]
        assert len(held) == 1  # the loser's reservation rolled back with its change
