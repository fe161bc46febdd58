"""The driver API's stop actions over HTTP: arrived, delivered with photos, failed, retries."""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import pytest
from PIL import Image

from lastmile_portal.domain import model as m
from lastmile_portal.domain.status import DeliveryStatus
from tests.builders import (
    DRIVER_TOKEN,
    OTHER_DRIVER_TOKEN,
    load,
    load_stop_id,
    make_delivery,
    make_route,
    make_world,
)

AUTH = {"Authorization": f"Bearer {DRIVER_TOKEN}"}


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


@pytest.fixture
def stop(world):  # type: ignore[no-untyped-def]
    delivery = make_delivery(world)
    make_route(world, [delivery], driver_index=0)
    return load_stop_id(world.services, delivery), delivery.id


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(out, "JPEG")
    return out.getvalue()


def _url(stop_id: int, action: str) -> str:
    return f"/api/v1/driver/stops/{stop_id}/{action}"


def _deliver(client, stop_id: int, photos: list[bytes], **headers: str) -> Any:  # type: ignore[no-untyped-def]
    data: dict[str, Any] = {
        "photo": [(io.BytesIO(p), f"p{i}.jpg", "image/jpeg") for i, p in enumerate(photos)],
        "lat": "52.52",
        "lng": "13.40",
        "recorded_at": "2026-11-25T09:05:00+00:00",
        "recipient_name": "Neighbour",
    }
    return client.post(
        _url(stop_id, "delivered"),
        data=data,
        content_type="multipart/form-data",
        headers={**AUTH, **headers},
    )


def _photos(services) -> list[m.ProofPhoto]:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        return list(uow.repo.all(m.ProofPhoto))


def test_arrived_then_delivered_with_a_photo(client, services, stop) -> None:  # type: ignore[no-untyped-def]
    stop_id, delivery_id = stop

    arrived = client.post(_url(stop_id, "arrived"), json={"lat": 52.52, "lng": 13.4}, headers=AUTH)
    assert arrived.status_code == 200, arrived.get_json()
    assert arrived.get_json() == {"stop_id": stop_id, "stop_status": "arrived"}
    assert load(services, m.Delivery, delivery_id).status is DeliveryStatus.ARRIVING

    delivered = _deliver(client, stop_id, [_jpeg()])

    assert delivered.status_code == 200, delivered.get_json()
    assert delivered.get_json() == {
        "stop_id": stop_id,
        "stop_status": "done",
        "parcels": 1,
        "photos": 1,
    }
    assert load(services, m.Delivery, delivery_id).status is DeliveryStatus.DELIVERED
    photos = _photos(services)
    assert [p.delivery_id for p in photos] == [delivery_id]
    assert (photos[0].lat, photos[0].lng) == (52.52, 13.40)


def test_arrived_needs_no_body(client, stop) -> None:  # type: ignore[no-untyped-def]
    response = client.post(_url(stop[0], "arrived"), headers=AUTH)
    assert response.status_code == 200


def test_failed_with_a_reason_fails_the_delivery_and_asks_for_a_replan(
    client, services, stop, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    stop_id, delivery_id = stop
    queued: list[str] = []
    enqueue = services.jobs.enqueue

    def spy(name: str, *args: Any, **kwargs: Any) -> Any:
        queued.append(name)
        return enqueue(name, *args, **kwargs)  # the inline queue runs it now

    monkeypatch.setattr(services.jobs, "enqueue", spy)

    response = client.post(
        _url(stop_id, "failed"), json={"reason": "not_home", "note": "dog barking"}, headers=AUTH
    )

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"stop_id": stop_id, "stop_status": "failed", "parcels": 1}
    delivery = load(services, m.Delivery, delivery_id)
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.attempts == 1
    assert "reoptimize_route" in queued


def test_an_unknown_reason_is_422_listing_the_allowed_ones(client, services, stop) -> None:  # type: ignore[no-untyped-def]
    response = client.post(_url(stop[0], "failed"), json={"reason": "lazy"}, headers=AUTH)

    assert response.status_code == 422
    message = response.get_json()["error"]
    for reason in ("not_home", "no_access", "address_not_found", "refused", "damaged", "unsafe"):
        assert reason in message
    assert load(services, m.Stop, stop[0]).status is m.StopStatus.PENDING


def test_a_note_over_280_characters_is_422(client, stop) -> None:  # type: ignore[no-untyped-def]
    body = {"reason": "refused", "note": "x" * 281}
    assert client.post(_url(stop[0], "failed"), json=body, headers=AUTH).status_code == 422


@pytest.mark.parametrize("action", ["arrived", "failed", "delivered"])
def test_another_drivers_stop_is_403_and_a_missing_one_404(client, services, stop, action) -> None:  # type: ignore[no-untyped-def]
    other = {"Authorization": f"Bearer {OTHER_DRIVER_TOKEN}"}
    body = {"reason": "not_home"}

    theirs = client.post(_url(stop[0], action), json=body, headers=other)
    missing = client.post(_url(99_999, action), json=body, headers=AUTH)

    assert theirs.status_code == 403
    assert missing.status_code == 404
    assert load(services, m.Stop, stop[0]).status is m.StopStatus.PENDING


@pytest.mark.parametrize("action", ["arrived", "failed", "delivered"])
def test_a_closed_stop_is_409_with_its_state(client, services, stop, action) -> None:  # type: ignore[no-untyped-def]
    assert _deliver(client, stop[0], []).status_code == 200

    response = client.post(_url(stop[0], action), json={"reason": "not_home"}, headers=AUTH)

    assert response.status_code == 409
    body = response.get_json()
    assert body["stop_status"] == "done"
    assert "already done" in body["error"]
    assert load(services, m.Delivery, stop[1]).status is DeliveryStatus.DELIVERED


def test_a_replay_with_the_same_key_gets_the_same_answer_and_changes_nothing(
    client, services, stop
) -> None:  # type: ignore[no-untyped-def]
    first = _deliver(client, stop[0], [_jpeg()], **{"Idempotency-Key": "k-1"})
    again = _deliver(client, stop[0], [_jpeg()], **{"Idempotency-Key": "k-1"})

    assert first.status_code == again.status_code == 200
    assert first.get_json() == again.get_json()
    assert len(_photos(services)) == 1
    assert load(services, m.Delivery, stop[1]).status is DeliveryStatus.DELIVERED
    # Without the key the same request is a second action on a closed stop.
    assert _deliver(client, stop[0], [_jpeg()]).status_code == 409


def test_a_key_reused_for_another_request_is_422(client, services, stop) -> None:  # type: ignore[no-untyped-def]
    key = {"Idempotency-Key": "k-2", **AUTH}
    assert client.post(_url(stop[0], "arrived"), headers=key).status_code == 200

    response = client.post(_url(stop[0], "failed"), json={"reason": "unsafe"}, headers=key)

    assert response.status_code == 422
    assert "Idempotency-Key" in response.get_json()["error"]
    assert load(services, m.Stop, stop[0]).status is m.StopStatus.ARRIVED


def test_a_refused_photo_is_422_and_the_stop_stays_open(client, services, stop) -> None:  # type: ignore[no-untyped-def]
    response = _deliver(client, stop[0], [_jpeg(), b"#!/bin/sh\necho not an image\n"])

    assert response.status_code == 422
    assert "Photo 2" in response.get_json()["error"]
    assert load(services, m.Stop, stop[0]).status is m.StopStatus.PENDING
    assert load(services, m.Delivery, stop[1]).status is DeliveryStatus.OUT_FOR_DELIVERY
    assert _photos(services) == []


def test_the_delivered_body_cap_takes_photos_over_1_mib_and_refuses_past_five(
    client, services, stop, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    # Over the 1 MiB cap of the other endpoints, under PHOTO_MAX_BYTES: judged, not cut off.
    big = b"\0" * (2 * 1024 * 1024)
    assert _deliver(client, stop[0], [big]).status_code == 422

    small = dataclasses.replace(services.settings, photo_max_bytes=100_000)
    monkeypatch.setattr(services, "settings", small)
    response = _deliver(client, stop[0], [b"\0" * 100_000] * 6)

    assert response.status_code == 413
    assert load(services, m.Stop, stop[0]).status is m.StopStatus.PENDING
