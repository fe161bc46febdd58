"""Carriers' announcements on real PostgreSQL: one reference sent at once from many workers."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from lastmile_portal import create_app
from lastmile_portal.adapters.migrations import upgrade
from lastmile_portal.domain import model as m
from lastmile_portal.services import intake
from tests.builders import make_world
from tests.conftest import base_config
from tests.web.test_integration_api import announcement

RACERS = 8


@pytest.fixture
def pg_services(postgres_url, tmp_path, clock, publisher):  # type: ignore[no-untyped-def]
    app = create_app(
        base_config(tmp_path, DATABASE_URL=postgres_url), clock=clock, publisher=publisher
    )
    upgrade(app.config["SETTINGS"].database_url)
    return app.extensions["lastmile"]


def test_one_reference_announced_at_once_makes_one_parcel_and_one_answer(pg_services) -> None:  # type: ignore[no-untyped-def]
    make_world(pg_services)
    for round_ in range(3):  # the race is real only sometimes: run it a few times
        body = announcement(pg_services, reference=f"RACE-{round_}")
        start = threading.Barrier(RACERS)

        def send(_: int, body: dict[str, Any] = body, start: threading.Barrier = start) -> Any:
            start.wait(timeout=30)
            return intake.announce_delivery(pg_services, body)

        with ThreadPoolExecutor(RACERS) as pool:
            answers = list(pool.map(send, range(RACERS)))

        assert len({a.tracking_number for a in answers}) == 1
        assert sum(not a.replayed for a in answers) == 1
        with pg_services.uow() as uow:
            made = [d for d in uow.repo.all(m.Delivery) if d.reference == f"RACE-{round_}"]
        assert len(made) == 1


def test_the_same_file_imported_twice_at_once_takes_each_row_once(pg_services) -> None:  # type: ignore[no-untyped-def]
    import io

    from tests.web.test_integration_api import HEADER, _csv_row

    make_world(pg_services)
    text = HEADER + "".join(_csv_row(pg_services, f"F-{i}") for i in range(120))
    start = threading.Barrier(2)

    def run(_: int) -> intake.ImportReport:
        start.wait(timeout=30)
        return intake.import_csv(pg_services, io.StringIO(text), "TST")

    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(run, range(2)))

    assert sum(r.accepted for r in reports) == 120
    assert sum(r.replayed for r in reports) == 120
    assert all(r.rejected == [] for r in reports)
    with pg_services.uow() as uow:
        assert len([d for d in uow.repo.all(m.Delivery) if d.reference.startswith("F-")]) == 120
