"""The webhook sender's claim on real PostgreSQL: senders racing over one outbox send each
event once, never two events of one delivery at the same time, and in order."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from lastmile_portal import create_app
from lastmile_portal.adapters.migrations import upgrade
from lastmile_portal.domain import webhooks as wh
from lastmile_portal.services import Services, proof_of_delivery, webhooks
from tests.builders import load_stop_id, make_delivery, make_route, make_world
from tests.conftest import base_config
from tests.webhook_receiver import WebhookReceiver


class HeldJobs:
    """A job queue that runs nothing: the outbox fills, then the test's senders empty it."""

    name = "held"

    def enqueue(self, job: str, *args: Any, key: str | None = None) -> None:
        pass


@pytest.fixture
def pg_services(postgres_url, tmp_path, clock, publisher):  # type: ignore[no-untyped-def]
    app = create_app(
        base_config(tmp_path, DATABASE_URL=postgres_url), clock=clock, publisher=publisher
    )
    upgrade(app.config["SETTINGS"].database_url)
    return app.extensions["lastmile"]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver().start()
    yield r
    r.stop()


def test_racing_senders_send_every_event_once_in_order_per_delivery(  # type: ignore[no-untyped-def]
    pg_services: Services, receiver
) -> None:
    world = make_world(pg_services)
    parcels = [make_delivery(world) for _ in range(8)]
    make_route(world, parcels)
    webhooks.add_subscription(pg_services, receiver.url + "/a", wh.STATUS_CHANGED)
    webhooks.add_subscription(pg_services, receiver.url + "/b", wh.STATUS_CHANGED)
    pg_services.jobs = HeldJobs()
    driver = world.driver_ids[0]
    for d in parcels:
        stop = load_stop_id(pg_services, d)
        proof_of_delivery.mark_arrived(pg_services, driver, stop)
        proof_of_delivery.mark_delivered(pg_services, driver, stop)
    assert len(receiver.received) == 0

    in_flight: set[tuple[str, str]] = set()
    overlaps: list[tuple[str, str]] = []
    guard = threading.Lock()
    transport = pg_services.webhook_transport

    class Watching:
        """The real transport, noting two events of one delivery on their way at once."""

        def post(self, url: str, body: bytes, headers: dict[str, str], timeout_s: float):  # type: ignore[no-untyped-def]
            key = (url, body.split(b'"tracking_number":"')[1][:12].decode())
            with guard:
                if key in in_flight:
                    overlaps.append(key)
                in_flight.add(key)
            try:
                time.sleep(0.005)  # long enough for another sender to try the same delivery
                return transport.post(url, body, headers, timeout_s)
            finally:
                with guard:
                    in_flight.discard(key)

    pg_services.webhook_transport = Watching()  # type: ignore[assignment]
    start = threading.Barrier(6)

    def sender() -> dict[str, int]:
        start.wait(timeout=30)
        return webhooks.send_due(pg_services)

    with ThreadPoolExecutor(6) as pool:
        runs = list(pool.map(lambda _: sender(), range(6)))

    assert sum(r.get("delivered", 0) for r in runs) == 32
    assert overlaps == []
    for path in ("/a", "/b"):
        got = receiver.to(path)
        assert len({r.json["id"] for r in got}) == len(got) == 16  # each event once
        for d in parcels:
            mine = [r.json["data"]["new"] for r in got if d.tracking_number.encode() in r.body]
            assert mine == ["arriving", "delivered"]
    with pg_services.uow() as uow:
        assert {r.status for r in uow.repo.all(wh.WebhookMessage)} == {wh.WebhookStatus.DELIVERED}
