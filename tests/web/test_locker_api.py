"""The locker operator's API over HTTP, the driver's locker stop, and the recipient's page."""

from __future__ import annotations

import json
import re

import pytest

from lastmile_portal.domain import model as m
from lastmile_portal.domain.status import DeliveryStatus
from lastmile_portal.services import lockers, tracking
from tests.builders import DRIVER_TOKEN, load, load_stop_id, make_world
from tests.services.test_locker_deposits import add_locker, compartments, deposit, locker_parcel


@pytest.fixture
def config(config):  # type: ignore[no-untyped-def]
    return {**config, "AUTH_FAILURE_RATE_LIMIT": "5 per minute"}


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


@pytest.fixture
def locker(world):  # type: ignore[no-untyped-def]
    return add_locker(world, code="LK1", sizes="SMML")


def issue_key(app, code: str) -> str:  # type: ignore[no-untyped-def]
    """Issue a key the way an operator does: the CLI prints it once."""
    result = app.test_cli_runner().invoke(args=["locker-key", code])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"New API key for locker {code}, shown only once:")
    return result.output.splitlines()[1]


def report(client, code: str, key: str | None, **body):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.post(f"/api/v1/lockers/{code}/collected", json=body, headers=headers)


@pytest.fixture
def waiting(services, world, locker):  # type: ignore[no-untyped-def]
    """A parcel in compartment A1 of LK1 with pickup code 424242."""
    d = locker_parcel(world, locker, reserve=True)
    deposit(services, d.id)
    return d


def test_the_operator_reports_a_collection_and_a_repeat_gets_the_same_answer(  # type: ignore[no-untyped-def]
    app, client, services, locker, waiting, clock
) -> None:
    key = issue_key(app, "LK1")
    at = clock.now()

    first = report(client, "LK1", key, tracking_number=waiting.tracking_number)
    clock.advance(minutes=2)
    again = report(client, "LK1", key, pickup_code="424242")

    assert first.status_code == 200, first.get_json()
    assert first.get_json() == {
        "tracking_number": waiting.tracking_number,
        "status": "collected",
        "compartment": "A1",
        "collected_at": at.isoformat(),
    }
    assert (again.status_code, again.get_json()) == (200, first.get_json())
    assert load(services, m.Delivery, waiting.id).status is DeliveryStatus.COLLECTED
    assert compartments(services, locker)["A1"] == ("free", None)
    with services.uow() as uow:
        kinds = [t.kind for t in uow.repo.outbox_of(waiting.id)]
    assert kinds.count("rating_request") == 1

    page = client.get(f"/t/{waiting.tracking_token}").get_data(as_text=True)
    assert 'data-testid="locker-collected"' in page and "424242" not in page
    assert "You collected your parcel (Wed 25 Nov, 10:00)." in page
    assert "Collected from <strong>Packstation LK1</strong>" in page


def test_wrong_keys_are_401_another_lockers_key_403_and_unknown_parcels_404(  # type: ignore[no-untyped-def]
    app, client, world, waiting
) -> None:
    add_locker(world, code="LK2")
    key = issue_key(app, "LK1")
    other = issue_key(app, "LK2")

    missing = report(client, "LK1", None, tracking_number=waiting.tracking_number)
    wrong = report(client, "LK1", "x" * 43, tracking_number=waiting.tracking_number)
    foreign = report(client, "LK1", other, tracking_number=waiting.tracking_number)
    unknown = report(client, "LK1", key, tracking_number="LM9999999999")
    elsewhere = report(client, "LK2", other, tracking_number=waiting.tracking_number)

    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert wrong.headers["WWW-Authenticate"] == "Bearer"
    assert "locker API key" in wrong.get_json()["error"]
    assert foreign.status_code == 403 and "LK1" in foreign.get_json()["error"]
    assert unknown.status_code == 404 and "was put into LK1" in unknown.get_json()["error"]
    assert elsewhere.status_code == 404
    assert load(app.extensions["lastmile"], m.Delivery, waiting.id).status is (
        DeliveryStatus.AT_LOCKER
    )


def test_bad_bodies_are_422_and_change_nothing(app, client, services, waiting) -> None:  # type: ignore[no-untyped-def]
    key = issue_key(app, "LK1")
    auth = {"Authorization": f"Bearer {key}"}
    url = "/api/v1/lockers/LK1/collected"

    answers = [
        client.post(url, data="tracking_number=x", headers=auth),
        client.post(url, json=[waiting.tracking_number], headers=auth),
        client.post(url, json={}, headers=auth),
        client.post(url, json={"tracking_number": 42}, headers=auth),
        client.post(url, json={"pickup_code": "4242"}, headers=auth),
        client.post(
            url,
            json={"tracking_number": waiting.tracking_number, "pickup_code": "424242"},
            headers=auth,
        ),
    ]

    assert [a.status_code for a in answers] == [422] * 6
    assert all(a.get_json()["error"] for a in answers)
    assert load(services, m.Delivery, waiting.id).status is DeliveryStatus.AT_LOCKER
    big = client.post(url, json={"tracking_number": "x" * 10_000}, headers=auth)
    assert big.status_code == 413


def test_a_parcel_returned_to_the_sender_is_409_for_the_operator(  # type: ignore[no-untyped-def]
    app, client, services, waiting, clock
) -> None:
    key = issue_key(app, "LK1")
    clock.advance(days=8)
    assert lockers.return_uncollected(services).returned == 1

    late = report(client, "LK1", key, tracking_number=waiting.tracking_number)

    assert late.status_code == 409
    assert "went back to the sender" in late.get_json()["error"]
    page = client.get(f"/t/{waiting.tracking_token}").get_data(as_text=True)
    assert 'data-testid="locker-returned"' in page
    assert "Your parcel went back to the sender (Thu 3 Dec, 10:00)." in page
    assert "Was waiting at <strong>Packstation LK1</strong>" in page
    # Nothing of the delivery is promised any more: no window, no ETA, no driver.
    assert re.search(r'id="window-block"\s+hidden', page)
    assert re.search(r'id="eta-block"\s+hidden', page)
    assert 'data-testid="driver"' not in page


def test_wrong_keys_are_rate_limited_per_address(app, client, waiting) -> None:  # type: ignore[no-untyped-def]
    key = issue_key(app, "LK1")
    for _ in range(5):
        assert report(client, "LK1", "y" * 43, pickup_code="424242").status_code == 401

    # The address has spent its budget: even the right key waits, nothing is looked up.
    limited = report(client, "LK1", key, pickup_code="424242")

    assert limited.status_code == 429 and "Retry-After" in limited.headers


def test_a_rotated_key_stops_the_old_one(app, client, waiting) -> None:  # type: ignore[no-untyped-def]
    old = issue_key(app, "LK1")
    new = issue_key(app, "LK1")

    assert report(client, "LK1", old, pickup_code="424242").status_code == 401
    assert report(client, "LK1", new, pickup_code="424242").status_code == 200


def test_the_cli_names_an_unknown_locker_in_one_line(app) -> None:  # type: ignore[no-untyped-def]
    result = app.test_cli_runner().invoke(args=["locker-key", "NOPE"])

    assert result.exit_code == 1
    assert "There is no locker with the code 'NOPE'." in result.output
    assert "Traceback" not in result.output


def test_the_endpoint_is_in_the_openapi_description(client) -> None:  # type: ignore[no-untyped-def]
    spec = client.get("/api/openapi.json").get_json()

    post = spec["paths"]["/api/v1/lockers/{code}/collected"]["post"]
    assert post["security"] == [{"lockerKey": []}]
    assert {"200", "401", "403", "404", "409", "422"} <= set(post["responses"])


# ---------------------------------------------------------------- the recipient's page


def test_only_the_recipient_sees_the_pickup_code_door_and_last_day(  # type: ignore[no-untyped-def]
    client, services, world, locker, waiting
) -> None:
    neighbour = locker_parcel(world, locker)  # addressed to the same locker, not put in yet

    mine = client.get(f"/t/{waiting.tracking_token}").get_data(as_text=True)
    theirs = client.get(f"/t/{neighbour.tracking_token}").get_data(as_text=True)

    assert 'data-testid="locker-pickup"' in mine
    assert "424242" in mine and "A1" in mine and "Wed 2 Dec" in mine
    assert "Packstation LK1" in mine and "LK1weg 1, 10115 Berlin" in mine
    assert "424242" not in theirs and 'data-testid="locker-pickup"' not in theirs
    # The driver's part is over: the page's live snapshot brings no ETA (nor the code).
    snapshot = tracking.live_snapshot(services, waiting.id)
    assert snapshot["eta"] is None and snapshot["finished"] is True
    assert "424242" not in json.dumps(snapshot, default=str)


# ---------------------------------------------------------------- the driver's locker stop


def _delivered(client, stop_id: int):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/v1/driver/stops/{stop_id}/delivered",
        data={"lat": "52.525", "lng": "13.405"},
        content_type="multipart/form-data",
        headers={"Authorization": f"Bearer {DRIVER_TOKEN}"},
    )


def test_a_driver_delivering_a_locker_stop_puts_the_parcel_in_and_texts_the_code(  # type: ignore[no-untyped-def]
    client, services, world, locker
) -> None:
    d = locker_parcel(world, locker, reserve=True)

    answer = _delivered(client, load_stop_id(services, d))

    assert answer.status_code == 200, answer.get_json()
    assert load(services, m.Delivery, d.id).status is DeliveryStatus.AT_LOCKER
    assert compartments(services, locker)["A1"] == ("occupied", d.id)
    with services.uow() as uow:
        texts = {t.kind: t.body for t in uow.repo.outbox_of(d.id)}
    assert "Pickup code: 424242." in texts["locker_ready"]
    page = client.get(f"/t/{d.tracking_token}").get_data(as_text=True)
    assert "424242" in page


def test_a_full_locker_refuses_the_whole_delivery_so_the_driver_can_fail_it(  # type: ignore[no-untyped-def]
    client, services, world
) -> None:
    full = add_locker(world, code="LK9", sizes="S")
    d = locker_parcel(world, full, size="M")

    answer = _delivered(client, load_stop_id(services, d))

    assert answer.status_code == 409
    assert "no free compartment for a parcel of size M" in answer.get_json()["error"]
    assert load(services, m.Delivery, d.id).status is DeliveryStatus.OUT_FOR_DELIVERY
    with services.uow() as uow:
        assert uow.repo.outbox_of(d.id) == []
