"""A carrier's system puts parcels in over the integration API and reads them back."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from lastmile_portal.domain import model as m
from lastmile_portal.domain.proof import PhotoUpload
from lastmile_portal.domain.status import DeliveryStatus
from lastmile_portal.services import api_keys, proof_of_delivery
from tests.builders import load_stop_id, make_route, make_world
from tests.services.test_rescheduling import make_slot
from tests.web.test_driver_stop_actions import _jpeg


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


@pytest.fixture
def key(services, world) -> dict[str, str]:  # type: ignore[no-untyped-def]
    issued = api_keys.create_api_key(services, "shop-erp")
    return {"Authorization": f"Bearer {issued.key}"}


def announcement(services, **changes: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    now = services.clock.now()
    body: dict[str, Any] = {
        "reference": "ORDER-1001",
        "depot": "TST",
        "recipient": {"name": "Ada Lovelace", "phone": "030 23125999", "email": "ada@example.org"},
        "address": {
            "line": "Invalidenstraße 117",
            "postcode": "10115",
            "city": "Berlin",
            "lat": 52.531,
            "lng": 13.384,
        },
        "window": {
            "start": (now + timedelta(hours=2)).isoformat(),
            "end": (now + timedelta(hours=4)).isoformat(),
        },
        "parcel": {"size": "M", "weight_kg": 2.5},
        "instructions": "Ring twice",
    }
    body.update(changes)
    return body


def test_an_announced_parcel_gets_a_tracking_number_and_link(client, services, key) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/deliveries", json=announcement(services), headers=key)

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) == {"tracking_number", "tracking_url", "status"}
    assert body["status"] == "created"
    assert body["tracking_url"].startswith(services.settings.public_base_url + "/t/")
    assert response.headers["Location"].endswith(f"/api/v1/deliveries/{body['tracking_number']}")
    with services.uow() as uow:
        d = uow.repo.delivery_by_tracking_number(body["tracking_number"])
        assert (d.phone, d.reference, d.instructions) == (
            "+493023125999",
            "ORDER-1001",
            "Ring twice",
        )
        assert d.service_date == services.today()
        assert [e.kind for e in uow.repo.timeline(d.id)] == ["DeliveryCreated"]
    # The recipient's page opens with the link.
    assert client.get(urlsplit(body["tracking_url"]).path).status_code == 200


def test_the_same_announcement_again_is_the_same_answer(client, services, key) -> None:  # type: ignore[no-untyped-def]
    first = client.post("/api/v1/deliveries", json=announcement(services), headers=key)
    again = client.post("/api/v1/deliveries", json=announcement(services), headers=key)

    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    with services.uow() as uow:
        assert len(uow.repo.all(m.Delivery)) == 1


def test_a_reference_with_other_details_is_409(client, services, key) -> None:  # type: ignore[no-untyped-def]
    first = client.post("/api/v1/deliveries", json=announcement(services), headers=key)
    other = announcement(services)
    other["address"]["line"] = "Chausseestraße 1"

    clash = client.post("/api/v1/deliveries", json=other, headers=key)

    assert clash.status_code == 409
    assert clash.get_json()["tracking_number"] == first.get_json()["tracking_number"]
    assert "ORDER-1001" in clash.get_json()["error"]


def test_every_bad_field_is_named_at_once_and_nothing_is_stored(client, services, key) -> None:  # type: ignore[no-untyped-def]
    now = services.clock.now()
    bad = announcement(services, depot="NOPE")
    bad["recipient"]["phone"] = "12"
    bad["address"].pop("postcode")
    bad["window"] = {"start": (now - timedelta(hours=3)).isoformat(), "end": now.isoformat()}
    bad["parcel"]["size"] = "XXL"

    response = client.post("/api/v1/deliveries", json=bad, headers=key)

    assert response.status_code == 422
    fields = response.get_json()["fields"]
    assert set(fields) == {"address.postcode", "window.end", "parcel.size"}
    # The checks that need the database come once the body reads right.
    good_shape = announcement(services, depot="NOPE")
    good_shape["recipient"]["phone"] = "12"
    second = client.post("/api/v1/deliveries", json=good_shape, headers=key).get_json()
    assert set(second["fields"]) == {"depot", "recipient.phone"}
    with services.uow() as uow:
        assert uow.repo.all(m.Delivery) == []


def test_without_coordinates_the_answer_says_a_geocoder_is_missing(client, services, key) -> None:  # type: ignore[no-untyped-def]
    body = announcement(services)
    del body["address"]["lat"], body["address"]["lng"]

    response = client.post("/api/v1/deliveries", json=body, headers=key)

    assert response.status_code == 422
    assert "geocoder" in response.get_json()["fields"]["address.lat"]


def test_a_slot_books_a_place_and_a_full_slot_is_refused(client, services, world, key) -> None:  # type: ignore[no-untyped-def]
    slot = make_slot(world, services.clock.now() + timedelta(hours=3), capacity=1)
    body = announcement(services, slot=slot)
    del body["window"]

    taken = client.post("/api/v1/deliveries", json=body, headers=key)
    full = client.post(
        "/api/v1/deliveries", json={**copy.deepcopy(body), "reference": "ORDER-1002"}, headers=key
    )

    assert taken.status_code == 201, taken.get_json()
    assert full.status_code == 422 and full.get_json()["fields"] == {"slot": "is full"}
    with services.uow() as uow:
        assert uow.repo.get(m.DeliverySlot, slot).booked == 1


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer lmk_not-a-key"}, 401), (None, 403)],
    ids=["no-key", "unknown-key", "read-only-key"],
)
def test_keys_are_checked_and_scoped(client, services, world, headers, status) -> None:  # type: ignore[no-untyped-def]
    if headers is None:
        reader = api_keys.create_api_key(services, "dashboard", ("deliveries:read",))
        headers = {"Authorization": f"Bearer {reader.key}"}

    response = client.post("/api/v1/deliveries", json=announcement(services), headers=headers)

    assert response.status_code == status
    with services.uow() as uow:
        assert uow.repo.all(m.Delivery) == []


def test_a_revoked_key_is_refused_at_once(client, services, key) -> None:  # type: ignore[no-untyped-def]
    api_keys.revoke_api_key(services, "shop-erp")

    response = client.post("/api/v1/deliveries", json=announcement(services), headers=key)

    assert response.status_code == 401
    assert "revoked" in response.get_json()["error"]


def test_the_carrier_reads_status_eta_and_proof_photos_back(client, services, world, key) -> None:  # type: ignore[no-untyped-def]
    created = client.post("/api/v1/deliveries", json=announcement(services), headers=key)
    number = created.get_json()["tracking_number"]
    with services.uow() as uow:
        d = uow.repo.delivery_by_tracking_number(number)
    make_route(world, [d])
    stop_id = load_stop_id(services, d)

    out = client.get(f"/api/v1/deliveries/{number}", headers=key).get_json()
    assert out["status"] == "out_for_delivery" and out["eta_earliest"] and out["eta_latest"]
    assert out["reference"] == "ORDER-1001" and out["proof_photos"] == []

    proof_of_delivery.mark_delivered(
        services, world.driver_ids[0], stop_id, photos=[PhotoUpload(_jpeg(), "image/jpeg")]
    )
    done = client.get(f"/api/v1/deliveries/{number}", headers=key).get_json()

    assert done["status"] == "delivered" and done["eta_latest"] is None
    [photo] = done["proof_photos"]
    image = client.get(photo["path"], headers=key)
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
    assert image.data.startswith(b"\xff\xd8")
    assert client.get(photo["path"]).status_code == 401
    assert (
        client.get(f"/api/v1/deliveries/LM0000000000/photos/{photo['id']}", headers=key).status_code
        == 404
    )


def test_cancel_frees_the_slot_place_and_takes_the_parcel_off_its_route(
    client, services, world, key
) -> None:  # type: ignore[no-untyped-def]
    slot = make_slot(world, services.clock.now() + timedelta(hours=3), capacity=3)
    body = announcement(services, slot=slot)
    del body["window"]
    number = client.post("/api/v1/deliveries", json=body, headers=key).get_json()["tracking_number"]
    with services.uow() as uow:
        d = uow.repo.delivery_by_tracking_number(number)
    make_route(world, [d], dispatched=False)

    response = client.post(
        f"/api/v1/deliveries/{number}/cancel", json={"reason": "order returned"}, headers=key
    )
    again = client.post(f"/api/v1/deliveries/{number}/cancel", headers=key)

    assert response.status_code == again.status_code == 200
    assert response.get_json()["status"] == "cancelled"
    with services.uow() as uow:
        d = uow.repo.delivery_by_tracking_number(number)
        assert d.status is DeliveryStatus.CANCELLED and d.stop_id is None
        assert uow.repo.get(m.DeliverySlot, slot).booked == 0
        assert all(not r.stops for r in uow.repo.all(m.Route))


def test_a_parcel_with_the_driver_cannot_be_cancelled(client, services, world, key) -> None:  # type: ignore[no-untyped-def]
    number = client.post("/api/v1/deliveries", json=announcement(services), headers=key).get_json()[
        "tracking_number"
    ]
    with services.uow() as uow:
        d = uow.repo.delivery_by_tracking_number(number)
    make_route(world, [d])

    response = client.post(f"/api/v1/deliveries/{number}/cancel", headers=key)

    assert response.status_code == 409
    assert "out for delivery" in response.get_json()["error"]


# ---------------------------------------------------------------- CSV files and keys from the CLI

HEADER = "reference,name,phone,address,postcode,city,lat,lng,window_start,window_end,size\n"


def _csv_row(services, ref: str, **over: str) -> str:  # type: ignore[no-untyped-def]
    now = services.clock.now()
    values = {
        "reference": ref,
        "name": "Grace Hopper",
        "phone": "+49 30 23125998",
        "address": "Torstraße 1",
        "postcode": "10119",
        "city": "Berlin",
        "lat": "52.53",
        "lng": "13.40",
        "window_start": (now + timedelta(hours=2)).isoformat(),
        "window_end": (now + timedelta(hours=5)).isoformat(),
        "size": "S",
    }
    values.update(over)
    return ",".join(values[c] for c in HEADER.strip().split(",")) + "\n"


def test_a_csv_with_broken_rows_imports_the_good_ones_and_reports_each_bad_one(
    app, services, world, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    past = services.clock.now() - timedelta(hours=1)
    lines = [
        HEADER,
        _csv_row(services, "A-1"),
        _csv_row(services, "A-2", phone="not a phone"),
        _csv_row(services, "A-3", postcode=""),
        _csv_row(
            services,
            "A-4",
            window_start=(past - timedelta(hours=2)).isoformat(),
            window_end=past.isoformat(),
        ),
        _csv_row(services, "A-1", address="Elsewhere 2"),  # duplicate reference, other details
        _csv_row(services, "A-5"),
    ]
    path = tmp_path / "parcels.csv"
    path.write_text("".join(lines), encoding="utf-8")
    runner = app.test_cli_runner()

    result = runner.invoke(args=["import-deliveries", str(path), "--depot", "TST"])

    assert result.exit_code == 2, result.output
    assert "Imported 2 parcels; 0 were already there; 4 rows refused." in result.output
    assert "line 3 (A-2): " in result.output and "recipient.phone" in result.output
    assert "line 4 (A-3): " in result.output and "address.postcode: is required" in result.output
    assert "line 5 (A-4): " in result.output and "window.end: is in the past" in result.output
    assert "line 6 (A-1): Reference A-1 was announced with other details" in result.output
    with services.uow() as uow:
        assert sorted(d.reference for d in uow.repo.all(m.Delivery)) == ["A-1", "A-5"]

    again = runner.invoke(args=["import-deliveries", str(path), "--depot", "TST"])
    assert "Imported 0 parcels; 2 were already there; 4 rows refused." in again.output


def test_a_csv_missing_a_column_imports_nothing(app, services, world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "parcels.csv"
    path.write_text("reference,name,phone\nA-1,Ada,+493023125999\n", encoding="utf-8")

    result = app.test_cli_runner().invoke(args=["import-deliveries", str(path), "--depot", "TST"])

    assert result.exit_code == 1
    assert "The CSV header lacks: address, postcode, city, window_start" in result.output
    with services.uow() as uow:
        assert uow.repo.all(m.Delivery) == []


def test_an_api_key_from_the_cli_works_until_revoked(app, client, services, world) -> None:  # type: ignore[no-untyped-def]
    runner = app.test_cli_runner()  # click 8.2+: stdout and stderr apart
    created = runner.invoke(args=["api-key", "create", "warehouse"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[0]
    headers = {"Authorization": f"Bearer {token}"}

    assert (
        client.post("/api/v1/deliveries", json=announcement(services), headers=headers).status_code
        == 201
    )
    assert (
        "warehouse\tdeliveries:write,deliveries:read\tactive"
        in runner.invoke(args=["api-key", "list"]).stdout
    )
    assert runner.invoke(args=["api-key", "revoke", "warehouse"]).exit_code == 0
    assert client.get("/api/v1/deliveries/X", headers=headers).status_code == 401
    dup = runner.invoke(args=["api-key", "create", "warehouse"])
    assert dup.exit_code == 1 and "exists" in dup.output


def test_a_parcel_announced_after_planning_joins_a_route_still_at_the_depot(
    client, services, world, key
) -> None:  # type: ignore[no-untyped-def]
    from tests.builders import make_delivery

    planned = make_delivery(world, lat=52.531, lng=13.385)
    route_id = make_route(world, [planned], dispatched=False)

    answer = client.post("/api/v1/deliveries", json=announcement(services), headers=key)

    assert answer.status_code == 201, answer.get_json()
    with services.uow() as uow:
        d = uow.repo.delivery_by_tracking_number(answer.get_json()["tracking_number"])
        stop = uow.repo.get(m.Stop, d.stop_id) if d.stop_id else None
        assert stop is not None and stop.route_id == route_id
        assert "DeliveryPlanned" in [e.kind for e in uow.repo.timeline(d.id)]
