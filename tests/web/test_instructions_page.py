"""The hand-over, car, texts and rating forms of the tracking page, without JavaScript.

Each form posts with its CSRF token and the version it was rendered with; a saved change
redirects back with a message, a refused one shows the page again with a 4xx and the
message next to the form.
"""

from __future__ import annotations

import re

import pytest

from lastmile_portal.domain import model as m
from lastmile_portal.domain.status import DeliveryStatus
from tests.builders import make_delivery, make_world


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


def form_fields(html: str, form_testid: str) -> dict[str, str]:
    """Return the CSRF token and version of one of the page's forms."""
    start = html.index(f'data-testid="{form_testid}"')
    chunk = html[start : html.index("</form>", start)]
    token = re.search(r'name="csrf_token" value="([^"]+)"', chunk)
    version = re.search(r'name="version" value="(\d+)"', chunk)
    fields = {"csrf_token": token.group(1)} if token else {}
    if version:
        fields["version"] = version.group(1)
    return fields


def load(services, delivery_id: int) -> m.Delivery:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        d = uow.repo.get(m.Delivery, delivery_id)
        assert d is not None
        return d


def test_set_a_safe_place_and_access_code_then_see_it_masked(client, services, world) -> None:
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED)
    page = client.get(f"/t/{d.tracking_token}").get_data(as_text=True)
    assert 'data-testid="handover-form"' in page

    answer = client.post(
        f"/t/{d.tracking_token}/instructions",
        data={
            **form_fields(page, "handover-form"),
            "place": "reception",
            "note": "Ask for Mr Weber",
            "code_kind": "building",
            "code": "4711#42",
        },
    )

    assert answer.status_code == 303
    assert answer.headers["Location"].endswith(f"/t/{d.tracking_token}#handover")
    after = client.get(f"/t/{d.tracking_token}").get_data(as_text=True)
    assert "Saved. The driver sees your instructions." in after
    assert "Reception / concierge" in after and "Ask for Mr Weber" in after
    assert "••••42" in after
    assert "4711#42" not in after and "4711" not in after
    assert load(services, d.id).access_code == "Building code: 4711#42"


def test_a_missing_csrf_token_changes_nothing(client, services, world) -> None:
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED)
    answer = client.post(
        f"/t/{d.tracking_token}/instructions", data={"place": "porch", "version": str(d.version)}
    )
    assert answer.status_code == 400
    assert load(services, d.id).safe_place is None


def test_a_too_long_note_is_a_422_next_to_the_form_and_keeps_what_was_typed(
    client, services, world
) -> None:
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED)
    page = client.get(f"/t/{d.tracking_token}").get_data(as_text=True)

    answer = client.post(
        f"/t/{d.tracking_token}/instructions",
        data={
            **form_fields(page, "handover-form"),
            "place": "porch",
            "note": "n" * 300,
            "code_kind": "gate",
            "code": "999999",
        },
    )

    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert "keep it to 280" in html and 'data-testid="handover-error"' in html
    assert "n" * 300 in html  # what was typed is back in the form
    assert "999999" not in html  # but never the code
    assert load(services, d.id).safe_place is None


def test_a_stale_form_is_a_409_with_the_fresh_state(client, services, world) -> None:
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED)
    page = client.get(f"/t/{d.tracking_token}").get_data(as_text=True)
    fields = form_fields(page, "handover-form")
    client.post(f"/t/{d.tracking_token}/instructions", data={**fields, "place": "porch"})

    answer = client.post(f"/t/{d.tracking_token}/instructions", data={**fields, "place": "garage"})

    html = answer.get_data(as_text=True)
    assert answer.status_code == 409
    assert "changed since this page was opened" in html
    assert "Porch" in html  # the fresh state
    assert load(services, d.id).safe_place == "Porch"


def test_another_parcels_token_cannot_change_this_one(client, services, world) -> None:
    mine = make_delivery(world, status=DeliveryStatus.SCHEDULED)
    other = make_delivery(world, status=DeliveryStatus.SCHEDULED)
    page = client.get(f"/t/{mine.tracking_token}").get_data(as_text=True)

    # My form's version posted to the other link: it opens the other parcel only, whose
    # version is checked against its own state.
    answer = client.post(
        f"/t/{other.tracking_token}/instructions",
        data={**form_fields(page, "handover-form"), "version": "999", "place": "porch"},
    )
    assert answer.status_code == 409
    assert (
        client.post(
            "/t/not-a-real-token-at-all-xxxxxxx/instructions",
            data={**form_fields(page, "handover-form"), "place": "porch"},
        ).status_code
        == 404
    )
    assert load(services, mine.id).safe_place is None
    assert load(services, other.id).safe_place is None


def test_the_car_form_shows_where_the_depot_offers_it(client, services, world) -> None:
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED)
    assert 'data-testid="trunk-form"' not in client.get(f"/t/{d.tracking_token}").get_data(
        as_text=True
    )
    with services.uow() as uow:
        uow.repo.get(m.Depot, world.depot_id).trunk_delivery = True  # type: ignore[union-attr]
        uow.commit()
    page = client.get(f"/t/{d.tracking_token}").get_data(as_text=True)

    answer = client.post(
        f"/t/{d.tracking_token}/trunk",
        data={
            **form_fields(page, "trunk-form"),
            "make": "Fiat 500",
            "colour": "red",
            "plate": "B-XY 123",
            "spot": "corner of Teststraße and Lindenweg",
            "opens": "11:30",
            "closes": "13:00",
        },
    )
    assert answer.status_code == 303
    html = client.get(f"/t/{d.tracking_token}").get_data(as_text=True)
    assert "red Fiat 500" in html and "B-XY 123" in html and "12:30" not in html
    assert load(services, d.id).option is m.DeliveryOption.VEHICLE_TRUNK

    bad = client.post(
        f"/t/{d.tracking_token}/trunk",
        data={
            **form_fields(html, "trunk-form"),
            "make": "Fiat 500",
            "colour": "red",
            "plate": "B-XY 123",
            "spot": "corner",
            "opens": "08:00",
            "closes": "13:00",
        },
    )
    assert bad.status_code == 422
    assert "inside your delivery window" in bad.get_data(as_text=True)


def test_texts_can_be_turned_off_but_not_the_ones_that_must_go(client, services, world) -> None:
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED)
    page = client.get(f"/t/{d.tracking_token}").get_data(as_text=True)
    assert "We always text you when a delivery attempt failed" in page

    answer = client.post(
        f"/t/{d.tracking_token}/preferences",
        data={
            **form_fields(page, "texts-form"),
            "texts": ["approaching", "delivered"],
            "quiet_from": "22:00",
            "quiet_until": "07:00",
        },
    )

    assert answer.status_code == 303
    saved = load(services, d.id)
    assert saved.sms_muted == "dispatched,arrived,rating_request"
    assert saved.quiet_hours == "22:00-07:00"
    page = client.get(f"/t/{d.tracking_token}").get_data(as_text=True)
    assert 'value="dispatched" >' in page or 'value="dispatched"  >' in page
    assert 'value="22:00"' in page

    bad = client.post(
        f"/t/{d.tracking_token}/preferences",
        data={**form_fields(page, "texts-form"), "texts": ["failed_attempt"]},
    )
    assert bad.status_code == 422


def test_rate_after_delivery_and_edit_it(client, services, world) -> None:
    d = make_delivery(world, status=DeliveryStatus.DELIVERED)
    page = client.get(f"/t/{d.tracking_token}").get_data(as_text=True)
    assert "How was your delivery?" in page
    assert 'data-testid="handover-form"' not in page  # over: no more instructions

    client.post(
        f"/t/{d.tracking_token}/rating",
        data={**form_fields(page, "rating-form"), "score": "3", "comment": "Late"},
    )
    page = client.get(f"/t/{d.tracking_token}").get_data(as_text=True)
    assert "You gave <strong>3 out of 5</strong>" in page
    answer = client.post(
        f"/t/{d.tracking_token}/rating",
        data={**form_fields(page, "rating-form"), "score": "4", "comment": "Late, but kind"},
    )
    assert answer.status_code == 303
    with services.uow() as uow:
        rating = uow.repo.rating_of(d.id)
        assert (rating.score, rating.comment) == (4, "Late, but kind")  # type: ignore[union-attr]


def test_the_eta_says_how_sure_it_is(client, services, world) -> None:
    from tests.builders import make_route

    d = make_delivery(world, status=DeliveryStatus.OUT_FOR_DELIVERY)
    make_route(world, [d])
    html = client.get(f"/t/{d.tracking_token}").get_data(as_text=True)
    assert re.search(r"80&nbsp;% sure:</span> <span data-testid=\"eta\">\d\d:\d\d–\d\d:\d\d", html)


def test_once_the_driver_is_at_the_door_the_instructions_only_say_why_they_are_closed(
    client, services, world
) -> None:
    d = make_delivery(world, status=DeliveryStatus.ARRIVING, access_code="Door code: 55667788")
    html = client.get(f"/t/{d.tracking_token}").get_data(as_text=True)

    assert 'data-testid="handover-form"' not in html
    assert "The driver is at your door now: it is too late to change where it is left." in html
    assert "••••88" in html and "55667788" not in html
    page = client.get(f"/t/{d.tracking_token}").get_data(as_text=True)
    answer = client.post(
        f"/t/{d.tracking_token}/instructions",
        data={**form_fields(page, "texts-form"), "place": "porch"},
    )
    assert answer.status_code == 409
    assert load(services, d.id).safe_place is None


def test_the_forms_work_over_https_where_the_pages_send_no_referer(client, services, world) -> None:
    # Referrer-Policy: no-referrer (the token is in the URL), so a Referer check would refuse
    # every form a recipient sends over HTTPS.
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED)
    https = "https://portal.example"
    page = client.get(f"/t/{d.tracking_token}", base_url=https).get_data(as_text=True)

    answer = client.post(
        f"/t/{d.tracking_token}/instructions",
        base_url=https,
        data={**form_fields(page, "handover-form"), "place": "reception", "note": "Desk"},
    )

    assert answer.status_code == 303, answer.get_data(as_text=True)[:300]
    after = client.get(f"/t/{d.tracking_token}", base_url=https).get_data(as_text=True)
    assert "Saved. The driver sees your instructions." in after and "Desk" in after
