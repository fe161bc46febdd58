"""The day on PostgreSQL: plan over the API, dispatch, and one open plan per day under races."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from lastmile_portal import create_app
from lastmile_portal.adapters.migrations import upgrade
from lastmile_portal.domain import model as m
from lastmile_portal.domain.status import DeliveryStatus
from lastmile_portal.services import api_keys, day_jobs
from tests.builders import make_delivery, make_world
from tests.conftest import base_config

RACERS = 6


@pytest.fixture
def pg_app(postgres_url, tmp_path, clock, publisher):  # type: ignore[no-untyped-def]
    app = create_app(
        base_config(tmp_path, DATABASE_URL=postgres_url), clock=clock, publisher=publisher
    )
    upgrade(app.config["SETTINGS"].database_url)
    return app


class HeldJobs:
    """A queue that keeps what it is given (the race is about opening the job, not running it)."""

    name = "held"

    def __init__(self) -> None:
        self.queued: list[tuple[str, tuple[Any, ...]]] = []
        self._lock = threading.Lock()

    def enqueue(self, job: str, *args: Any, key: str | None = None) -> None:
        with self._lock:
            self.queued.append((job, args))


def test_plan_and_dispatch_on_postgresql(pg_app) -> None:  # type: ignore[no-untyped-def]
    services = pg_app.extensions["lastmile"]
    world = make_world(services)
    ds = [make_delivery(world, window_hours=(h % 3, h % 3 + 3)) for h in range(5)]
    headers = {
        "Authorization": "Bearer " + api_keys.create_api_key(services, "erp", ["routes:write"]).key
    }
    client = pg_app.test_client()

    job = client.post("/api/v1/depots/TST/plan", headers=headers).get_json()
    assert job["state"] == "done", job
    for route in job["result"]["routes"]:
        sent = client.post(f"/api/v1/routes/{route['id']}/dispatch", headers=headers)
        assert sent.status_code == 200

    with services.uow() as uow:
        for d in ds:
            assert uow.repo.get(m.Delivery, d.id).status is DeliveryStatus.OUT_FOR_DELIVERY
            (text,) = [t for t in uow.repo.outbox_of(d.id) if t.kind == "dispatched"]
            assert services.tracking_url(d.tracking_token) in text.body


def test_plans_asked_for_at_once_open_one_job(pg_app) -> None:  # type: ignore[no-untyped-def]
    services = pg_app.extensions["lastmile"]
    services.jobs = HeldJobs()
    make_world(services)
    start = threading.Barrier(RACERS)
    ids: list[int] = []
    errors: list[BaseException] = []

    def ask() -> None:
        start.wait()
        try:
            ids.append(day_jobs.request_plan(services, "TST").id)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=ask) for _ in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert len(set(ids)) == 1 and len(ids) == RACERS
    assert services.jobs.queued == [(day_jobs.PLAN_JOB, (ids[0],))]
    with services.uow() as uow:
        assert len(uow.repo.all(m.PlanningJob)) == 1
