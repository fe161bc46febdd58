"""The tracking page through Flask's test client: what a recipient sees, and what they must not."""

from __future__ import annotations

import re

import pytest

from lastmile_portal.domain.status import DeliveryStatus
from lastmile_portal.services import gps_intake
from tests.builders import make_delivery, make_locker, make_route, make_world


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


def test_page_shows_window_eta_driver_and_stops_before(client, services, world) -> None:
    first = make_delivery(world, recipient_name="Ada Lovelace")
    mine = make_delivery(world, recipient_name="Grace Hopper", lat=52.5230, lng=13.4030)
    make_route(world, [first, mine])
    gps_intake.record_positions(
        services,
        world.driver_ids[0],
        [{"lat": 52.521, "lng": 13.401, "recorded_at": services.clock.now().isoformat()}],
    )

    page = client.get(f"/t/{mine.tracking_token}")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Out for delivery" in html
    assert "Hi Grace" in html
    assert re.search(r'data-testid="window">Wed 25 Nov, 11:00–14:00<', html)
    assert "1 stop before yours" in html
    assert "Driver0" in html and "Van" in html
    # About 270 m from the driver's fix.
    assert re.search(r"Driver (260|270|280) m from your address", html)


def test_page_never_shows_another_recipients_data(client, services, world) -> None:
    other = make_delivery(
        world,
        recipient_name="Zelda Neighbour",
        address_line="Secretweg 99",
        access_code="4711",
        instructions="Key under the mat",
        lat=52.537713,
        lng=13.441197,
    )
    mine = make_delivery(world, recipient_name="Mine Owner", access_code="1234")
    make_route(world, [other, mine])

    html = client.get(f"/t/{mine.tracking_token}").get_data(as_text=True)

    for secret in (
        "Zelda",
        "Secretweg",
        "4711",
        "Key under the mat",
        other.phone,
        other.tracking_number,
        other.tracking_token,
        "52.537713",
        "13.441197",
    ):
        assert secret not in html
    # Nor the recipient's own access code: it is masked once entered.
    assert "1234" not in html


@pytest.mark.parametrize(
    "token",
    [
        "x",
        "a" * 200,
        "has spaces in it and more",
        "../../etc/passwd",
        "valid-looking-but-unknown-token-123",
    ],
)
def test_unknown_and_malformed_tokens_get_the_same_404(client, world, token) -> None:
    make_delivery(world)
    response = client.get(f"/t/{token}")
    assert response.status_code == 404
    assert "Link not found" in response.get_data(as_text=True)


def test_404_page_is_identical_for_malformed_and_unknown_tokens(client) -> None:
    malformed = client.get("/t/!!!").get_data(as_text=True)
    unknown = client.get("/t/abcdefghijklmnopqrstuvwxyz012345").get_data(as_text=True)
    assert malformed == unknown


def delivered_page(client, services, world) -> str:  # type: ignore[no-untyped-def]
    """Deliver one parcel through the driver's use case and return its tracking page."""
    from lastmile_portal.services import proof_of_delivery

    d = make_delivery(world)
    make_route(world, [d])
    with services.uow() as uow:
        stop_id = uow.repo.get(type(d), d.id).stop_id
    proof_of_delivery.mark_delivered(services, world.driver_ids[0], stop_id)
    return client.get(f"/t/{d.tracking_token}").get_data(as_text=True)


def test_delivered_parcel_shows_who_delivered_and_no_eta(client, services, world) -> None:
    html = delivered_page(client, services, world)
    assert "Delivered" in html
    assert re.search(r'id="eta-block"\s+hidden', html)
    assert "Delivered by" in html


def test_status_timeline_lists_each_status_change(client, services, world) -> None:
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED)
    route_id = make_route(world, [d], dispatched=False)
    from lastmile_portal.services import routing

    routing.dispatch_route(services, route_id)

    html = client.get(f"/t/{d.tracking_token}").get_data(as_text=True)
    timeline = html[html.index('data-testid="timeline"') :]
    assert "Out for delivery" in timeline


def test_tracking_route_is_rate_limited(tmp_path, clock, publisher) -> None:
    from lastmile_portal import create_app
    from lastmile_portal.adapters.migrations import upgrade
    from tests.conftest import base_config

    app = create_app(
        base_config(tmp_path, TRACKING_RATE_LIMIT="3 per minute"), clock=clock, publisher=publisher
    )
    upgrade(app.config["SETTINGS"].database_url)
    client = app.test_client()
    codes = [client.get("/t/abcdefghijklmnopqrstuvwxyz012345").status_code for _ in range(5)]
    assert codes == [404, 404, 404, 429, 429]
    assert "Too many requests" in client.get("/t/abcdefghijklmnopqrstuvwxyz012345").get_data(
        as_text=True
    )


def test_delivered_page_speaks_in_the_past(client, services, world) -> None:
    html = delivered_page(client, services, world)
    assert "Your parcel has arrived (Wed 25 Nov, 10:00)." in html
    assert "Delivered to <strong>" in html
    assert "appears once your parcel is on its way" not in html


def test_a_locker_parcel_is_promised_in_the_locker_by_a_time(client, services, world) -> None:
    from lastmile_portal.domain import model as m

    d = make_delivery(
        world, option=m.DeliveryOption.LOCKER, locker_id=make_locker(world), window_hours=(1, 3)
    )
    make_route(world, [d])

    html = client.get(f"/t/{d.tracking_token}").get_data(as_text=True)
    window = html[html.index('id="window-block"') : html.index('id="eta-block"')]
    assert "In the locker by" in window
    assert "Wed 25 Nov, 13:00" in window  # the slot's end (now + 3 h), in Berlin time
    assert "Delivery window" not in window
    assert "Going to <strong>Packstation Test</strong>" in html


def test_a_parcel_in_the_locker_says_where_it_waits_not_when_it_comes(
    client, services, world
) -> None:
    from lastmile_portal.domain import model as m
    from lastmile_portal.services import proof_of_delivery

    d = make_delivery(
        world,
        option=m.DeliveryOption.LOCKER,
        locker_id=make_locker(world, sizes="M"),
        window_hours=(1, 3),
    )
    make_route(world, [d])
    with services.uow() as uow:
        stop_id = uow.repo.get(m.Delivery, d.id).stop_id
    proof_of_delivery.mark_delivered(services, world.driver_ids[0], stop_id)

    html = client.get(f"/t/{d.tracking_token}").get_data(as_text=True)
    assert "Ready for pickup" in html
    assert re.search(r'id="eta-block"\s+hidden', html)
    assert re.search(r'id="window-block"\s+hidden', html)
    assert "Your parcel is in the locker (Wed 25 Nov, 10:00)." in html
    assert "Waiting at <strong>Packstation Test</strong>" in html
    assert "Delivered by" in html


def test_after_a_failed_attempt_the_page_says_what_happened_and_what_to_do(
    client, services, world
) -> None:
    from lastmile_portal.services import proof_of_delivery

    d = make_delivery(world)
    make_route(world, [d])
    with services.uow() as uow:
        stop_id = uow.repo.get(type(d), d.id).stop_id
    proof_of_delivery.mark_failed(services, world.driver_ids[0], stop_id, "nobody home")

    html = client.get(f"/t/{d.tracking_token}").get_data(as_text=True)
    assert "We could not hand your parcel over this time" in html
    assert "appears once your parcel is on its way" not in html
