"""The driver API's stop actions over HTTP: arrived, delivered with photos, failed, retries."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
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


def _files(services) -> list[Path]:  # type: ignore[no-untyped-def]
    folder = Path(services.photos.folder)
    return sorted(folder.iterdir()) if folder.exists() else []


def _photos(services) -> list[m.ProofPhoto]:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        return list(uow.repo.all(m.ProofPhoto))


def test_arrived_then_delivered_with_a_photo(client, services, stop) -> None:  # type: ignore[no-untyped-def]
    stop_id, delivery_id = stop

    arrived = client.post(_url(stop_id, "arrived"), json={"lat": 52.52, "lng": 13.4}, headers=AUTH)
    assert arrived.status_code == 200, arrived.get_json()
    assert arrived.get_json()["stop_status"] == "arrived"
    assert arrived.get_json()["open_parcels"] == 1
    assert load(services, m.Delivery, delivery_id).status is DeliveryStatus.ARRIVING

    delivered = _deliver(client, stop_id, [_jpeg()])

    assert delivered.status_code == 200, delivered.get_json()
    body = delivered.get_json()
    assert body == {
        "stop_id": stop_id,
        "stop_status": "done",
        "parcels": 1,
        "tracking_numbers": body["tracking_numbers"],
        "photos": 1,
        "open_parcels": 0,
    }
    assert len(body["tracking_numbers"]) == 1
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
    body = response.get_json()
    assert (body["stop_id"], body["stop_status"], body["parcels"]) == (stop_id, "failed", 1)
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


# ---------------------------------------------------------------- several parcels at a stop


@pytest.fixture
def shared_stop(world):  # type: ignore[no-untyped-def]
    """Two parcels for one address on one stop of driver 0's route."""
    first = make_delivery(world)
    second = make_delivery(world, lat=first.lat, lng=first.lng, address_line=first.address_line)
    make_route(world, [first])
    stop_id = load_stop_id(world.services, first)
    with world.services.uow() as uow:
        uow.repo.get(m.Delivery, second.id).stop_id = stop_id
        uow.repo.get(m.Delivery, second.id).status = DeliveryStatus.OUT_FOR_DELIVERY
        uow.commit()
    return stop_id, first, second


def _form_post(client, stop_id: int, action: str, data: dict[str, Any], **headers: str) -> Any:  # type: ignore[no-untyped-def]
    return client.post(
        _url(stop_id, action),
        data=data,
        content_type="multipart/form-data",
        headers={**AUTH, **headers},
    )


def test_delivering_some_parcels_keeps_the_stop_open_for_the_rest(
    client, services, shared_stop
) -> None:  # type: ignore[no-untyped-def]
    stop_id, first, second = shared_stop

    response = _form_post(
        client,
        stop_id,
        "delivered",
        {"deliveries": first.tracking_number, "recipient_name": "Ada", "photo": []},
    )

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["tracking_numbers"] == [first.tracking_number]
    assert (body["parcels"], body["open_parcels"]) == (1, 1)
    assert body["stop_status"] in ("pending", "arrived")
    assert load(services, m.Delivery, first.id).status is DeliveryStatus.DELIVERED
    assert load(services, m.Delivery, second.id).status is DeliveryStatus.OUT_FOR_DELIVERY

    # The other one was refused at the door: the stop closes, done (one parcel went).
    rest = client.post(_url(stop_id, "failed"), json={"reason": "refused"}, headers=AUTH)

    assert rest.status_code == 200, rest.get_json()
    assert rest.get_json()["tracking_numbers"] == [second.tracking_number]
    assert rest.get_json()["stop_status"] == "done"
    assert load(services, m.Delivery, second.id).status is DeliveryStatus.FAILED
    assert load(services, m.Delivery, first.id).status is DeliveryStatus.DELIVERED


def test_a_parcel_not_at_the_stop_is_422_and_nothing_changes(client, services, shared_stop) -> None:  # type: ignore[no-untyped-def]
    stop_id, first, second = shared_stop

    response = _form_post(
        client,
        stop_id,
        "delivered",
        {"deliveries": f"{first.tracking_number},LM9999999999", "recipient_name": "Ada"},
    )

    assert response.status_code == 422
    assert "LM9999999999" in response.get_json()["error"]
    assert load(services, m.Delivery, first.id).status is DeliveryStatus.OUT_FOR_DELIVERY
    assert load(services, m.Stop, stop_id).status is m.StopStatus.PENDING


def test_a_parcel_already_delivered_cannot_be_delivered_again_by_name(
    client, services, shared_stop
) -> None:  # type: ignore[no-untyped-def]
    stop_id, first, _second = shared_stop
    data = {"deliveries": first.tracking_number, "recipient_name": "Ada"}
    assert _form_post(client, stop_id, "delivered", data).status_code == 200

    again = _form_post(client, stop_id, "delivered", data)

    assert again.status_code == 409
    assert first.tracking_number in again.get_json()["error"]


# ---------------------------------------------------------------- photo rules and texts


def _outbox_kinds(services, delivery_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        return [msg.kind for msg in uow.repo.outbox_of(delivery_id)]


def test_a_safe_place_hand_over_without_a_photo_is_refused_by_default(
    client, services, world
) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world, option=m.DeliveryOption.SAFE_PLACE, safe_place="Behind the bin")
    make_route(world, [d])
    stop_id = load_stop_id(services, d)

    refused = _form_post(client, stop_id, "delivered", {"lat": "52.52", "lng": "13.40"})

    assert refused.status_code == 422
    assert "photo is required" in refused.get_json()["error"]
    assert load(services, m.Delivery, d.id).status is DeliveryStatus.OUT_FOR_DELIVERY

    with_photo = _form_post(
        client, stop_id, "delivered", {"photo": [(io.BytesIO(_jpeg()), "p.jpg", "image/jpeg")]}
    )
    assert with_photo.status_code == 200, with_photo.get_json()


def test_photo_required_always_refuses_even_a_hand_over_in_person(
    client, services, stop, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    always = dataclasses.replace(services.settings, proof_photo_required="always")
    monkeypatch.setattr(services, "settings", always)

    response = _deliver(client, stop[0], [])

    assert response.status_code == 422
    assert "photo of the hand-over is required" in response.get_json()["error"]
    assert _photos(services) == []


def test_a_photo_sends_the_proof_text_with_its_link_then_asks_for_a_rating(
    client, services, stop
) -> None:  # type: ignore[no-untyped-def]
    assert _deliver(client, stop[0], [_jpeg()]).status_code == 200

    kinds = _outbox_kinds(services, stop[1])
    assert "delivered_with_proof" in kinds and "delivered" not in kinds
    assert "rating_request" in kinds
    with services.uow() as uow:
        proof = next(s for s in uow.repo.outbox_of(stop[1]) if s.kind == "delivered_with_proof")
        token = uow.repo.get(m.Delivery, stop[1]).tracking_token
    assert f"/t/{token}#proof" in proof.body


def test_a_hand_over_without_a_photo_sends_the_plain_delivered_text(client, services, stop) -> None:  # type: ignore[no-untyped-def]
    assert _deliver(client, stop[0], []).status_code == 200

    kinds = _outbox_kinds(services, stop[1])
    assert "delivered" in kinds and "delivered_with_proof" not in kinds


def test_a_failed_attempt_can_carry_a_photo_for_support(client, services, stop) -> None:  # type: ignore[no-untyped-def]
    response = _form_post(
        client,
        stop[0],
        "failed",
        {
            "reason": "no_access",
            "note": "gate locked",
            "lat": "52.52",
            "lng": "13.40",
            "photo": [(io.BytesIO(_jpeg()), "gate.jpg", "image/jpeg")],
        },
    )

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["photos"] == 1
    assert load(services, m.Delivery, stop[1]).status is DeliveryStatus.FAILED
    assert [p.delivery_id for p in _photos(services)] == [stop[1]]
    with services.uow() as uow:
        recorded = [e for e in uow.repo.timeline(stop[1]) if e.kind == "ProofRecorded"]
    assert recorded and recorded[0].data["failed_attempt"] is True


# ---------------------------------------------------------------- bad uploads over HTTP


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 40)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "declared", "message"),
    [
        (b"%PDF-1.4 not a photo", "image/jpeg", "not a JPEG, PNG or WebP"),
        (_jpeg()[:200], "image/jpeg", "could not be read"),
        (_png(), "image/jpeg", "sent as JPEG but the file is PNG"),
        (_jpeg(), "text/html", "send a JPEG, PNG or WebP image"),
    ],
    ids=["not-an-image", "truncated-jpeg", "png-declared-as-jpeg", "declared-html"],
)
def test_a_bad_upload_is_422_and_nothing_is_stored(  # type: ignore[no-untyped-def]
    client, services, stop, data, declared, message
) -> None:
    response = _form_post(
        client, stop[0], "delivered", {"photo": [(io.BytesIO(data), "x", declared)]}
    )

    assert response.status_code == 422
    assert message in response.get_json()["error"]
    assert _photos(services) == []
    assert _files(services) == []
    assert load(services, m.Delivery, stop[1]).status is DeliveryStatus.OUT_FOR_DELIVERY


def test_a_decompression_bomb_is_refused_before_it_is_decoded(client, services, stop) -> None:  # type: ignore[no-untyped-def]
    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, "PNG")  # 400 Mpx in a few KB
    assert len(out.getvalue()) < 200_000

    response = _form_post(
        client,
        stop[0],
        "delivered",
        {"photo": [(io.BytesIO(out.getvalue()), "b.png", "image/png")]},
    )

    assert response.status_code == 422
    assert "million pixels" in response.get_json()["error"]
    assert _photos(services) == []


def test_a_polyglot_is_stored_as_the_re_encoded_image_only(client, services, stop) -> None:  # type: ignore[no-untyped-def]
    payload = b"<script>alert(document.cookie)</script>"
    response = _form_post(
        client,
        stop[0],
        "delivered",
        {"photo": [(io.BytesIO(_jpeg() + payload), "p.jpg", "image/jpeg")]},
    )

    assert response.status_code == 200, response.get_json()
    (row,) = _photos(services)
    stored = services.photos.get(row.storage_key)
    assert payload not in stored and b"<script" not in stored
    assert stored.startswith(b"\xff\xd8") and stored.rstrip(b"\0").endswith(b"\xff\xd9")


def test_a_50_mb_photo_is_refused_as_too_large_and_nothing_is_stored(
    client, services, stop
) -> None:  # type: ignore[no-untyped-def]
    response = _form_post(
        client,
        stop[0],
        "delivered",
        {
            "photo": [
                (io.BytesIO(b"\xff\xd8" + b"\0" * (50 * 1024 * 1024)), "big.jpg", "image/jpeg")
            ]
        },
    )

    # Under the body cap (five full-size photos), so judged: one photo over PHOTO_MAX_BYTES.
    assert response.status_code == 422
    assert "larger than 10 MB" in response.get_json()["error"]
    assert _photos(services) == [] and _files(services) == []
    assert load(services, m.Stop, stop[0]).status is m.StopStatus.PENDING


def test_spent_idempotency_answers_are_purged_after_two_days(
    client, services, world, clock
) -> None:  # type: ignore[no-untyped-def]
    from lastmile_portal.services import retention

    old, new = make_delivery(world), make_delivery(world)
    make_route(world, [old, new])
    first = client.post(
        _url(load_stop_id(services, old), "arrived"), headers={**AUTH, "Idempotency-Key": "a"}
    )
    assert first.status_code == 200
    clock.advance(hours=47)
    client.post(
        _url(load_stop_id(services, new), "arrived"), headers={**AUTH, "Idempotency-Key": "b"}
    )
    clock.advance(hours=2)

    result = retention.purge_idempotency_answers(services)

    assert result.deleted == 1
    with services.uow() as uow:
        kept = [a.key for a in uow.repo.all(m.IdempotentAnswer)]
    assert kept == ["b"]
    # The purged key is free again: a late replay is a new request on an arrived stop.
    again = client.post(
        _url(load_stop_id(services, old), "arrived"), headers={**AUTH, "Idempotency-Key": "a"}
    )
    assert again.status_code == 200
