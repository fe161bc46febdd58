"""The driver's phone page: sign in with the token, today's stops, arrived / delivered / failed."""

from __future__ import annotations

import io
import re
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

SIGN_IN = "/driver/sign-in"


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


@pytest.fixture
def stop(world):  # type: ignore[no-untyped-def]
    """Return (stop id, delivery id) of a dispatched stop of driver 0."""
    delivery = make_delivery(world, instructions="Ring twice", access_code="4711")
    make_route(world, [delivery], driver_index=0)
    return load_stop_id(world.services, delivery), delivery.id


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


def sign_in(client, token: str = DRIVER_TOKEN) -> Any:  # type: ignore[no-untyped-def]
    page = client.get(SIGN_IN).get_data(as_text=True)
    return client.post(SIGN_IN, data={"csrf_token": csrf(page), "token": token})


def page_csrf(client) -> str:  # type: ignore[no-untyped-def]
    page = client.get("/driver")
    assert page.status_code == 200, page.headers.get("Location")
    return csrf(page.get_data(as_text=True))


def jpeg(colour: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "JPEG")
    return out.getvalue()


def deliver(client, stop_id: int, photos: list[bytes], **fields: str) -> Any:  # type: ignore[no-untyped-def]
    data: dict[str, Any] = {
        "csrf_token": page_csrf(client),
        "photo": [(io.BytesIO(p), f"IMG_{i}.jpg", "image/jpeg") for i, p in enumerate(photos)],
        "lat": "52.5201",
        "lng": "13.4001",
        "recipient_name": "",
        **fields,
    }
    return client.post(
        f"/driver/stops/{stop_id}/delivered", data=data, content_type="multipart/form-data"
    )


def follow(client, response) -> str:  # type: ignore[no-untyped-def]
    """Return the page a post-redirect-get lands on (its message consumed)."""
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    return client.get(response.headers["Location"]).get_data(as_text=True)


def proof_photos(services) -> list[m.ProofPhoto]:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        return list(uow.repo.all(m.ProofPhoto))


# ---------------------------------------------------------------- signing in


def test_a_good_token_signs_in_and_shows_todays_stops(client, world, stop) -> None:  # type: ignore[no-untyped-def]
    signed = sign_in(client)

    assert signed.status_code == 303
    assert signed.headers["Location"].endswith("/driver")
    html = client.get("/driver").get_data(as_text=True)
    stop_id, delivery_id = stop
    delivery = load(world.services, m.Delivery, delivery_id)
    assert "Driver0 Test" in html
    assert f'id="stop-{stop_id}"' in html
    assert delivery.address_line in html
    assert "Ring twice" in html
    assert "https://www.google.com/maps/dir/?api=1&amp;destination=" in html
    assert 'capture="environment"' in html
    # The token itself is nowhere in the cookie the phone keeps.
    cookie = client.get_cookie("session")
    assert cookie is not None and DRIVER_TOKEN not in cookie.value


def test_a_wrong_token_is_refused_clearly_and_nothing_is_signed_in(client, stop) -> None:  # type: ignore[no-untyped-def]
    refused = sign_in(client, "not-the-token-of-anyone-at-all")

    assert refused.status_code == 401
    assert "That driver token is not valid" in refused.get_data(as_text=True)
    assert client.get("/driver").status_code == 303  # still signed out


@pytest.fixture
def strict_app(config, clock, publisher):  # type: ignore[no-untyped-def]
    from lastmile_portal import create_app

    return create_app(
        {**config, "AUTH_FAILURE_RATE_LIMIT": "3 per minute"}, clock=clock, publisher=publisher
    )


def test_wrong_tokens_are_rate_limited_like_the_api(strict_app) -> None:  # type: ignore[no-untyped-def]
    make_world(strict_app.extensions["lastmile"])
    client = strict_app.test_client()
    for _ in range(3):
        assert sign_in(client, "guessing-a-driver-token-0000").status_code == 401

    blocked = sign_in(client, DRIVER_TOKEN)  # even the right one, from this address, for now

    assert blocked.status_code == 429
    assert "Too many wrong tokens" in blocked.get_data(as_text=True)
    assert int(blocked.headers["Retry-After"]) > 0
    assert client.get("/driver").status_code == 303


def test_sign_in_without_the_csrf_token_is_refused(client, stop) -> None:  # type: ignore[no-untyped-def]
    client.get(SIGN_IN)  # the session has a CSRF token; a cross-site form cannot know it

    refused = client.post(SIGN_IN, data={"token": DRIVER_TOKEN})

    assert "Nothing was sent" in follow(client, refused)
    assert client.get("/driver").status_code == 303  # not signed in


def test_forms_work_over_https_where_no_referer_is_sent(client, services, stop) -> None:  # type: ignore[no-untyped-def]
    # The pages send Referrer-Policy: no-referrer, so a browser posts no Referer: the CSRF
    # check must not ask for one (Flask-WTF's strict HTTPS check does).
    https = "https://portal.example"
    page = client.get(SIGN_IN, base_url=https).get_data(as_text=True)

    signed = client.post(
        SIGN_IN, base_url=https, data={"csrf_token": csrf(page), "token": DRIVER_TOKEN}
    )

    assert signed.status_code == 303
    assert signed.headers["Location"].endswith("/driver")
    html = client.get("/driver", base_url=https).get_data(as_text=True)
    stop_id, delivery_id = stop
    arrived = client.post(
        f"/driver/stops/{stop_id}/arrived", base_url=https, data={"csrf_token": csrf(html)}
    )
    assert arrived.status_code == 303
    assert load(services, m.Delivery, delivery_id).status is DeliveryStatus.ARRIVING


def test_the_stop_list_needs_a_sign_in(client, stop) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/driver")

    assert response.status_code == 303
    assert response.headers["Location"].endswith(SIGN_IN)


def test_sign_out_ends_the_session(client, stop) -> None:  # type: ignore[no-untyped-def]
    sign_in(client)

    html = follow(client, client.post("/driver/sign-out", data={"csrf_token": page_csrf(client)}))

    assert "Signed out" in html
    assert client.get("/driver").status_code == 303


# ---------------------------------------------------------------- stop actions


def test_delivered_with_a_photo_stores_it_and_says_so(client, services, stop) -> None:  # type: ignore[no-untyped-def]
    stop_id, delivery_id = stop
    sign_in(client)

    html = follow(client, deliver(client, stop_id, [jpeg()], recipient_name="Mrs Neighbour"))

    assert "Delivered — 1 parcel, 1 photo." in html
    delivery = load(services, m.Delivery, delivery_id)
    assert delivery.status is DeliveryStatus.DELIVERED
    photos = proof_photos(services)
    assert [p.delivery_id for p in photos] == [delivery_id]
    assert (photos[0].lat, photos[0].lng) == (pytest.approx(52.5201), pytest.approx(13.4001))
    stored = Image.open(io.BytesIO(services.photos.get(photos[0].storage_key)))
    assert stored.format == "JPEG"
    # The stop is closed now: no actions offered for it any more.
    assert f'action="/driver/stops/{stop_id}/delivered"' not in html


def test_arrived_then_failed_with_a_reason(client, services, stop) -> None:  # type: ignore[no-untyped-def]
    stop_id, delivery_id = stop
    sign_in(client)

    arrived = follow(
        client,
        client.post(f"/driver/stops/{stop_id}/arrived", data={"csrf_token": page_csrf(client)}),
    )
    assert "Arrived" in arrived
    assert load(services, m.Delivery, delivery_id).status is DeliveryStatus.ARRIVING

    failed = follow(
        client,
        client.post(
            f"/driver/stops/{stop_id}/failed",
            data={"csrf_token": page_csrf(client), "reason": "not_home", "note": "dog barking"},
        ),
    )

    assert "Failed — 1 parcel: Nobody home." in failed
    assert load(services, m.Delivery, delivery_id).status is DeliveryStatus.FAILED
    with services.uow() as uow:
        texts = [f"{e.summary} {e.data}" for e in uow.repo.timeline(delivery_id)]
    assert any("Nobody home: dog barking" in t for t in texts), texts


def test_a_refused_photo_says_why_and_changes_nothing(client, services, stop) -> None:  # type: ignore[no-untyped-def]
    stop_id, delivery_id = stop
    sign_in(client)

    html = follow(client, deliver(client, stop_id, [b"<html>not a picture</html>"]))

    assert "Not sent: The photo is not a JPEG, PNG or WebP image." in html
    assert load(services, m.Delivery, delivery_id).status is DeliveryStatus.OUT_FOR_DELIVERY
    assert proof_photos(services) == []
    assert f'action="/driver/stops/{stop_id}/delivered"' in html  # still offered


def test_a_closed_stop_says_its_state(client, services, stop) -> None:  # type: ignore[no-untyped-def]
    stop_id, delivery_id = stop
    sign_in(client)
    client.post(
        f"/driver/stops/{stop_id}/failed",
        data={"csrf_token": page_csrf(client), "reason": "no_access"},
    )

    # A second tab still showing the stop open sends "delivered".
    html = follow(client, deliver(client, stop_id, [jpeg()]))

    assert "Not changed: this stop is already failed." in html
    assert load(services, m.Delivery, delivery_id).status is DeliveryStatus.FAILED
    assert proof_photos(services) == []


def test_another_drivers_stop_is_refused(client, services, world) -> None:  # type: ignore[no-untyped-def]
    theirs = make_delivery(world)
    make_route(world, [theirs], driver_index=1)
    stop_id = load_stop_id(services, theirs)
    sign_in(client)  # driver 0

    refused = deliver(client, stop_id, [jpeg()])

    assert refused.status_code == 403
    assert load(services, m.Delivery, theirs.id).status is DeliveryStatus.OUT_FOR_DELIVERY
    assert proof_photos(services) == []


@pytest.mark.parametrize("action", ["arrived", "delivered", "failed"])
def test_an_action_without_the_csrf_token_changes_nothing(client, services, stop, action) -> None:  # type: ignore[no-untyped-def]
    stop_id, delivery_id = stop
    sign_in(client)
    form: dict[str, Any] = {"reason": "not_home", "photo": (io.BytesIO(jpeg()), "a.jpg")}

    refused = client.post(
        f"/driver/stops/{stop_id}/{action}", data=form, content_type="multipart/form-data"
    )

    assert "Nothing was sent: this page was out of date" in follow(client, refused)
    assert load(services, m.Delivery, delivery_id).status is DeliveryStatus.OUT_FOR_DELIVERY
    assert proof_photos(services) == []


@pytest.fixture
def small_photos_app(config, clock, publisher):  # type: ignore[no-untyped-def]
    from lastmile_portal import create_app

    return create_app({**config, "PHOTO_MAX_BYTES": "200000"}, clock=clock, publisher=publisher)


def test_photos_too_large_together_are_refused_with_the_limit(small_photos_app) -> None:  # type: ignore[no-untyped-def]
    services = small_photos_app.extensions["lastmile"]
    world = make_world(services)
    delivery = make_delivery(world)
    make_route(world, [delivery], driver_index=0)
    stop_id = load_stop_id(services, delivery)
    client = small_photos_app.test_client()
    sign_in(client)

    # Five photos at the limit may go in one form (976 KB here); these two are more.
    html = follow(client, deliver(client, stop_id, [b"\xff" * 600_000] * 2))

    assert "Not sent: those photos are too large together (at most 976 KB)." in html
    assert load(services, m.Delivery, delivery.id).status is DeliveryStatus.OUT_FOR_DELIVERY
    assert proof_photos(services) == []


# ---------------------------------------------------------------- rotating the token


def test_a_rotated_token_signs_the_phone_out(app, client, stop) -> None:  # type: ignore[no-untyped-def]
    sign_in(client)
    assert client.get("/driver").status_code == 200

    rotated = app.test_cli_runner().invoke(args=["driver-token", "Driver0 Test"])
    assert rotated.exit_code == 0, rotated.output

    response = client.get("/driver")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(SIGN_IN)
    assert "Your sign-in has ended" in client.get(SIGN_IN).get_data(as_text=True)
    assert client.get("/driver").status_code == 303  # and it stays out


def test_cli_driver_token_prints_a_working_token_and_the_old_one_stops(app, client, stop) -> None:  # type: ignore[no-untyped-def]
    old = {"Authorization": f"Bearer {DRIVER_TOKEN}"}
    assert client.get("/api/v1/driver/manifest", headers=old).status_code == 200  # now cached

    result = app.test_cli_runner().invoke(args=["driver-token", "1"])

    assert result.exit_code == 0, result.output
    link = re.search(r"(\S+)/driver/sign-in#token=(\S+)", result.output)
    assert link, result.output
    token = link.group(2)
    assert token in result.output.splitlines()[1]  # the token alone on its own line, too
    assert client.get("/api/v1/driver/manifest", headers=old).status_code == 401
    new = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/driver/manifest", headers=new).status_code == 200
    assert sign_in(client, token).status_code == 303
    assert sign_in(app.test_client(), DRIVER_TOKEN).status_code == 401
    # The other driver's token is untouched.
    other = {"Authorization": f"Bearer {OTHER_DRIVER_TOKEN}"}
    assert client.get("/api/v1/driver/manifest", headers=other).status_code == 200


def test_cli_driver_token_names_an_unknown_driver(app, stop) -> None:  # type: ignore[no-untyped-def]
    result = app.test_cli_runner().invoke(args=["driver-token", "Nobody Here"])

    assert result.exit_code == 1
    assert "No driver with the id or name 'Nobody Here'" in result.output
