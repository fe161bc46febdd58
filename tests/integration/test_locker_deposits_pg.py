"""Locker deposits, collections and returns on real PostgreSQL under concurrency: drivers
putting parcels into one locker at once never share a door nor overfill it, and a
collection racing the return job ends one way only."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from lastmile_portal import create_app
from lastmile_portal.adapters.migrations import upgrade
from lastmile_portal.domain import model as m
from lastmile_portal.domain.errors import InvalidTransition
from lastmile_portal.domain.status import DeliveryStatus
from lastmile_portal.services import lockers
from tests.builders import make_delivery, make_world
from tests.conftest import base_config
from tests.services.test_locker_deposits import add_locker, deposit


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


def addressed_to(world, locker_id: int) -> m.Delivery:  # type: ignore[no-untyped-def]
    return make_delivery(
        world,
        status=DeliveryStatus.OUT_FOR_DELIVERY,
        option=m.DeliveryOption.LOCKER,
        locker_id=locker_id,
    )


def test_thirty_simultaneous_deposits_fill_ten_free_doors_once_and_keep_the_reserved_ones(
    pg_services, world
) -> None:
    locker = add_locker(world, code="POP", sizes="M" * 14)
    reserved = [addressed_to(world, locker) for _ in range(4)]
    with pg_services.uow() as uow:
        for d in reserved:
            assert uow.repo.reserve_compartment(locker, d.id, m.ParcelSize.M, d.created_at)
        uow.commit()
    walk_ins = [addressed_to(world, locker) for _ in range(30)]  # no reservation
    start = threading.Barrier(len(reserved) + len(walk_ins))

    def put_in(d: m.Delivery) -> str:
        start.wait(timeout=30)  # every driver at once, each in its own transaction
        try:
            deposit(pg_services, d.id)
            return "in"
        except lockers.NoCompartment:
            return "full"

    with ThreadPoolExecutor(len(reserved) + len(walk_ins)) as pool:
        outcomes = list(pool.map(put_in, reserved + walk_ins))

    assert outcomes[: len(reserved)] == ["in"] * len(reserved)  # their doors were kept
    assert outcomes[len(reserved) :].count("in") == 10
    with pg_services.uow() as uow:
        doors = [c for c in uow.repo.all(m.LockerCompartment) if c.locker_id == locker]
        inside = {
            d.id
            for d in (uow.repo.get(m.Delivery, p.id) for p in reserved + walk_ins)
            if d.status is DeliveryStatus.AT_LOCKER
        }
        codes = [uow.repo.get(m.Delivery, i).pickup_code for i in inside]
    assert all(c.status is m.CompartmentStatus.OCCUPIED for c in doors)
    assert {c.delivery_id for c in doors} == inside and len(inside) == 14
    assert len(set(codes)) == len(codes)  # every parcel has a code of its own


def test_a_collection_racing_the_return_job_ends_one_way_only(pg_services, world, clock) -> None:
    locker = add_locker(world, code="RACE", sizes="M" * 5)
    key = lockers.issue_locker_key(pg_services, "RACE")
    locker_id = lockers.authenticate_locker(pg_services, key)
    for _round in range(5):  # the race is real only sometimes: run it a few times
        d = addressed_to(world, locker)
        deposit(pg_services, d.id)
        clock.advance(days=8)
        start = threading.Barrier(2)

        def collect(d: m.Delivery = d, start: threading.Barrier = start) -> str:
            start.wait(timeout=10)
            try:
                return lockers.collect_parcel(
                    pg_services, locker_id, "RACE", tracking_number=d.tracking_number
                ).status
            except InvalidTransition:
                return "refused"

        def sweep(start: threading.Barrier = start) -> str:
            start.wait(timeout=10)
            return f"returned {lockers.return_uncollected(pg_services).returned}"

        with ThreadPoolExecutor(2) as pool:
            collected, swept = pool.submit(collect), pool.submit(sweep)
            outcome = (collected.result(), swept.result())

        with pg_services.uow() as uow:
            status = uow.repo.get(m.Delivery, d.id).status
            held = [c for c in uow.repo.all(m.LockerCompartment) if c.delivery_id == d.id]
            timeline = [e.kind for e in uow.repo.timeline(d.id)]
        assert outcome in {("collected", "returned 0"), ("refused", "returned 1")}
        assert status is (
            DeliveryStatus.COLLECTED if outcome[0] == "collected" else DeliveryStatus.RETURNED
        )
        assert held == []
        assert timeline.count("ParcelCollected") + timeline.count("ParcelReturned") == 1
