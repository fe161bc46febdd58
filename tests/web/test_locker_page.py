"""The locker section through Flask's test client: list, preview, choose, undo, and every
refusal a clear 4xx that changes nothing."""

from __future__ import annotations

import re

import pytest

from lastmile_portal.domain import model as m
from lastmile_portal.domain.status import DeliveryStatus
from tests.builders import make_delivery, make_route, make_world
from tests.services.test_lockers import add_locker, snapshot


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


def parcel(html: str) -> str:
    found = re.search(r'name="parcel" value="([^"]+)"', html)
    assert found
    return found.group(1)


def version(html: str) -> str:
    found = re.search(r'name="version" value="(\d+)"', html)
    assert found
    return found.group(1)


def test_the_page_lists_nearby_lockers_with_hours_and_free_compartments(client, world) -> None:
    add_locker(world, "NEAR", lat=52.5205, lng=13.4005, hours="Mo-Fr 08:00-20:00; Sa 09:00-14:00")
    add_locker(world, "FULL", lat=52.521, lng=13.401, sizes="M")
    d = make_delivery(world, lat=52.52, lng=13.40, status=DeliveryStatus.SCHEDULED)
    other = make_delivery(world)
    add_locker(world, "TAKEN", lat=52.53, lng=13.41, sizes="M")

    html = client.get(f"/t/{d.tracking_token}").get_data(as_text=True)

    assert "Send it to a locker instead" in html
    assert "Locker NEAR" in html and "Mon–Fri 08:00–20:00 · Sat 09:00–14:00" in html
    assert "open now" in html  # Wednesday 10:00 in Berlin
    assert "3 compartments free for your parcel" in html
    assert f"/t/{d.tracking_token}/lockers?locker=" in html
    assert other.tracking_token not in html
    assert re.search(r'src="/static/js/lockers\.[0-9a-f]{12}\.js"', html)  # fingerprinted


def test_preview_then_confirm_then_undo_without_javascript(client, services, world) -> None:
    locker_id = add_locker(world, "KOT")
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED)

    page = client.get(f"/t/{d.tracking_token}/lockers?locker={locker_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert re.search(r'data-testid="locker-preview">In locker Locker KOT by \d\d:\d\d<', html)

    done = client.post(
        f"/t/{d.tracking_token}/locker",
        data={
            "csrf_token": csrf(html),
            "version": version(html),
            "parcel": parcel(html),
            "locker_id": locker_id,
        },
    )
    assert done.status_code == 303
    html = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Done: your parcel goes to Locker KOT" in html
    assert "Your parcel goes to a locker" in html and 'data-testid="locker-by"' in html
    with services.uow() as uow:
        assert uow.repo.get(m.Delivery, d.id).locker_id == locker_id

    undone = client.post(
        f"/t/{d.tracking_token}/locker/undo",
        data={"csrf_token": csrf(html), "version": version(html), "parcel": parcel(html)},
    )
    assert undone.status_code == 303
    html = client.get(undone.headers["Location"]).get_data(as_text=True)
    assert "Done: your parcel comes to your door again" in html
    with services.uow() as uow:
        assert uow.repo.get(m.Delivery, d.id).option is m.DeliveryOption.DOOR


def test_a_stale_form_gets_409_and_the_fresh_state(client, services, world) -> None:
    one, two = add_locker(world, "ONE"), add_locker(world, "TWO")
    d = make_delivery(world)
    html = client.get(f"/t/{d.tracking_token}/lockers?locker={one}").get_data(as_text=True)
    form = {"csrf_token": csrf(html), "version": version(html), "parcel": parcel(html)}
    assert (
        client.post(f"/t/{d.tracking_token}/locker", data={**form, "locker_id": one}).status_code
        == 303
    )
    before = snapshot(services, d.id)

    again = client.post(f"/t/{d.tracking_token}/locker", data={**form, "locker_id": two})

    assert again.status_code == 409
    body = again.get_data(as_text=True)
    assert "changed since this page was opened" in body
    assert "Locker ONE" in body and 'data-testid="locker-current"' in body  # the fresh state
    assert snapshot(services, d.id) == before


def test_a_full_locker_answers_409_with_the_ones_that_have_room(client, services, world) -> None:
    full = add_locker(world, "FULL", sizes="M")
    add_locker(world, "ROOM", lat=52.53, lng=13.41)
    first, second = make_delivery(world), make_delivery(world)
    html = client.get(f"/t/{first.tracking_token}/lockers?locker={full}").get_data(as_text=True)
    client.post(
        f"/t/{first.tracking_token}/locker",
        data={
            "csrf_token": csrf(html),
            "version": version(html),
            "parcel": parcel(html),
            "locker_id": full,
        },
    )
    html = client.get(f"/t/{second.tracking_token}/lockers?locker={full}").get_data(as_text=True)
    before = snapshot(services, second.id)

    refused = client.post(
        f"/t/{second.tracking_token}/locker",
        data={
            "csrf_token": csrf(html),
            "version": version(html),
            "parcel": parcel(html),
            "locker_id": full,
        },
    )

    assert refused.status_code == 409
    assert "Locker FULL is full" in refused.get_data(as_text=True)
    assert "These still have room: Locker ROOM" in refused.get_data(as_text=True)
    assert snapshot(services, second.id) == before


def test_bad_posts_get_a_clear_4xx_and_change_nothing(client, services, world) -> None:
    locker_id = add_locker(world, "KOT")
    tiny = add_locker(world, "TINY", sizes="S")
    d = make_delivery(world, parcel_size=m.ParcelSize.L)
    other = make_delivery(world)
    html = client.get(f"/t/{d.tracking_token}/lockers?locker={locker_id}").get_data(as_text=True)
    good = {
        "csrf_token": csrf(html),
        "version": version(html),
        "parcel": parcel(html),
        "locker_id": locker_id,
    }
    before = snapshot(services, d.id)
    url = f"/t/{d.tracking_token}/locker"

    no_csrf = client.post(url, data={k: v for k, v in good.items() if k != "csrf_token"})
    assert no_csrf.status_code == 400
    assert client.post(url, data={**good, "locker_id": "999999"}).status_code == 422
    assert client.post(url, data={**good, "locker_id": tiny}).status_code == 422
    assert client.post(url, data={**good, "locker_id": "x"}).status_code == 422
    no_version = {k: v for k, v in good.items() if k != "version"}
    assert client.post(url, data=no_version).status_code == 422
    # This parcel's form posted to another parcel's link (same version number, too).
    elsewhere = client.post(f"/t/{other.tracking_token}/locker", data=good)
    assert elsewhere.status_code == 422 and "another parcel" in elsewhere.get_data(as_text=True)
    assert client.post(f"/t/{other.tracking_token}x/locker", data=good).status_code == 404
    assert client.post(f"/t/{d.tracking_token}/locker/undo", data=good).status_code == 409
    assert snapshot(services, d.id) == before
    assert snapshot(services, other.id)[3] is None


def test_after_the_cut_off_the_controls_say_why(client, services, world) -> None:
    locker_id = add_locker(world, "KOT")
    ds = [make_delivery(world, window_hours=(0, 8), lng=13.40 + 0.01 * i) for i in range(3)]
    make_route(world, ds)
    html = client.get(f"/t/{ds[1].tracking_token}").get_data(as_text=True)

    assert 'data-testid="locker-closed"' in html and "too late" in html
    assert "See when it would be there" not in html
    preview = client.get(f"/t/{ds[1].tracking_token}/lockers?locker={locker_id}")
    assert preview.status_code == 409 and "too late" in preview.get_data(as_text=True)
    assert 'data-testid="locker-confirm"' not in preview.get_data(as_text=True)
    before = snapshot(services, ds[1].id)
    # A form kept open from before the cut-off.
    token = csrf(
        client.get(f"/t/{ds[2].tracking_token}/lockers?locker={locker_id}").get_data(as_text=True)
    )
    refused = client.post(
        f"/t/{ds[1].tracking_token}/locker",
        data={
            "csrf_token": token,
            "version": str(before[0]),
            "parcel": ds[1].tracking_number,
            "locker_id": locker_id,
        },
    )
    assert refused.status_code == 409 and "too late" in refused.get_data(as_text=True)
    assert snapshot(services, ds[1].id) == before


def test_a_delivered_parcel_shows_no_locker_section(client, world) -> None:
    add_locker(world, "KOT")
    d = make_delivery(world, status=DeliveryStatus.DELIVERED)

    html = client.get(f"/t/{d.tracking_token}").get_data(as_text=True)

    assert 'id="lockers"' not in html and "lockers.js" not in html
