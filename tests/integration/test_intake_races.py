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
