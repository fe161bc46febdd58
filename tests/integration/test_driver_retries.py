"""A phone's retries racing each other on real PostgreSQL: one hand-over, one answer for all."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from lastmile_portal import create_app
from lastmile_portal.adapters.migrations import upgrade
from lastmile_portal.domain import model as m
from lastmile_portal.domain.status import DeliveryStatus
from tests.builders import DRIVER_TOKEN, load_stop_id, make_delivery, make_route, make_world
from tests.conftest import base_config

RACERS = 6


@pytest.fixture
def pg_app(postgres_url, tmp_path, clock, publisher):  # type: ignore[no-untyped-def]
    app = create_app(
        base_config(tmp_path, DATABASE_URL=postgres_url), clock=clock, publisher=publisher
    )
    upgrade(app.config["SETTINGS"].database_url)
    return app


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (80, 60), (30, 90, 160)).save(out, "JPEG")
    return out.getvalue()


def test_racing_retries_with_one_key_deliver_once_and_all_get_the_same_answer(pg_app) -> None:  # type: ignore[no-untyped-def]
    services = pg_app.extensions["lastmile"]
    photo = _jpeg()
    world = make_world(services)
    for _round in range(3):  # the race is real only sometimes: run it a few times
        d = make_delivery(world)
        make_route(world, [d])
        stop_id = load_stop_id(services, d)
        start = threading.Barrier(RACERS)

        def retry(_: int, stop_id: int = stop_id, start: threading.Barrier = start) -> Any:
            client = pg_app.test_client()  # each its own request, session and connection
            start.wait(timeout=30)
            return client.post(
                f"/api/v1/driver/stops/{stop_id}/delivered",
                data={
                    "photo": [(io.BytesIO(photo), "p.jpg", "image/jpeg")],
                    "lat": "52.52",
                    "lng": "13.40",
                },
                content_type="multipart/form-data",
                headers={
                    "Authorization": f"Bearer {DRIVER_TOKEN}",
                    "Idempotency-Key": f"race-{stop_id}",
                },
            )

        with ThreadPoolExecutor(RACERS) as pool:
            answers = list(pool.map(retry, range(RACERS)))

        assert [a.status_code for a in answers] == [200] * RACERS, [a.get_json() for a in answers]
        assert len({a.get_data() for a in answers}) == 1
        with services.uow() as uow:
            assert uow.repo.get(m.Delivery, d.id).status is DeliveryStatus.DELIVERED
            photos = [p for p in uow.repo.all(m.ProofPhoto) if p.delivery_id == d.id]
            texts = [s.kind for s in uow.repo.outbox_of(d.id)]
            kept = {p.storage_key for p in uow.repo.all(m.ProofPhoto)} | {
                p.thumbnail_key for p in uow.repo.all(m.ProofPhoto)
            }
        assert len(photos) == 1
        assert texts.count("delivered_with_proof") == 1
        # The losers' files were deleted with their rolled-back rows.
        on_disk = {p.name for p in Path(services.photos.folder).iterdir()}
        assert on_disk == kept
