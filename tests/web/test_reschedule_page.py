"""The slot page: the slots that really fit, a preview, Confirm; every refusal a clear 4xx."""

from __future__ import annotations

import re

import pytest

from lastmile_portal.domain import model as m
from tests.builders import make_world
from tests.services.test_rescheduling import _day, _load


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the form carries a CSRF token"
    return found.group(1)


def _version(html: str) -> int:
    found = re.search(r'name="version" value="(\d+)"', html)
    assert found
    return int(found.group(1))


def test_the_tracking_page_counts_down_to_the_cut_off_and_links_to_the_slots(
    client, services, world
) -> None:
    ds, _route, _slots = _day(world)
    html = client.get(f"/t/{ds[4].tracking_token}").get_data(as_text=True)

    assert 'id="reschedule"' in html
    # Fifth in line: 75 minutes out by the plan, closing 30 minutes before.
    assert "Changes possible for 45 more minutes." in html
    assert f"/t/{ds[4].tracking_token}/slots" in html
    assert re.search(r"/static/js/slots\.[0-9a-f]{12}\.js", html)  # fingerprinted


def test_the_slot_page_lists_the_slots_that_fit_and_marks_the_greenest(
    client, services, world
) -> None:
    ds, _route, slots = _day(world)
    response = client.get(f"/t/{ds[4].tracking_token}/slots")
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    offered = re.findall(r'data-slot-id="(\d+)"', html)
    assert offered == [str(slots[k]) for k in ("later", "evening", "tomorrow")]
    assert html.count('data-testid="greenest"') == 1
    assert "time planned the evening before" in html
    assert "expected" in html
    assert "<label" in html and 'name="slot"' in html  # a plain form: works without JS


def test_preview_then_confirm_moves_the_parcel_and_says_so(client, services, world) -> None:
    ds, _route, slots = _day(world)
    token = ds[4].tracking_token
    page = client.get(f"/t/{token}/slots?slot={slots['later']}").get_data(as_text=True)
    assert 'data-testid="slot-preview"' in page
    assert re.search(
        r"New window \w{3} \d+ \w{3}, \d\d:\d\d–\d\d:\d\d, expected \d\d:\d\d–\d\d:\d\d", page
    )
    assert _load(services, m.Delivery, ds[4].id).slot_id == slots["current"]  # nothing saved yet

    response = client.post(
        f"/t/{token}/slot",
        data={"csrf_token": _csrf(page), "slot_id": slots["later"], "version": _version(page)},
    )

    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/t/{token}#reschedule")
    assert _load(services, m.Delivery, ds[4].id).slot_id == slots["later"]
    html = client.get(f"/t/{token}").get_data(as_text=True)
    assert "Done: your parcel now comes" in html


def _post(client, token, page, **data):  # type: ignore[no-untyped-def]
    values = {"csrf_token": _csrf(page), "version": _version(page), **data}
    return client.post(f"/t/{token}/slot", data=values)


def test_bad_input_gets_a_clear_4xx_and_changes_nothing(client, services, world) -> None:
    ds, _route, slots = _day(world)
    token = ds[4].tracking_token
    page = client.get(f"/t/{token}/slots?slot={slots['later']}").get_data(as_text=True)
    cases = [
        ({"slot_id": slots["past"]}, 422, "already begun"),
        ({"slot_id": 987654}, 422, "not one we offer"),
        ({"slot_id": slots["full"]}, 409, "just filled up"),
        ({"slot_id": "abc"}, 422, "not a number"),
        ({"slot_id": ""}, 422, "choose a slot"),
    ]
    for data, status, words in cases:
        response = _post(client, token, page, **data)
        assert response.status_code == status, data
        assert words in response.get_data(as_text=True), data
    # Missing CSRF: refused before anything is read.
    response = client.post(f"/t/{token}/slot", data={"slot_id": slots["later"], "version": 1})
    assert response.status_code == 400
    d = _load(services, m.Delivery, ds[4].id)
    assert d.slot_id == slots["current"] and d.reschedules == 0
    assert _load(services, m.DeliverySlot, slots["later"]).booked == 0


def test_a_stale_form_gets_409_with_the_fresh_state(client, services, world) -> None:
    ds, _route, slots = _day(world)
    token = ds[4].tracking_token
    page = client.get(f"/t/{token}/slots?slot={slots['later']}").get_data(as_text=True)
    assert _post(client, token, page, slot_id=slots["tomorrow"]).status_code == 303

    response = _post(client, token, page, slot_id=slots["later"])

    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "changed since this page was opened" in html
    # The fresh state: the parcel's new window shown as its current one, and no preview of
    # the stale choice (today's slots are gone: the parcel left the van's route).
    assert 'data-testid="slot-preview"' not in html
    tomorrow = _load(services, m.DeliverySlot, slots["tomorrow"])
    assert f"Booked now: {tomorrow.starts_at.strftime('%a')}" in html
    assert _load(services, m.Delivery, ds[4].id).slot_id == slots["tomorrow"]


def test_another_parcels_token_cannot_use_this_form(client, services, world) -> None:
    ds, _route, slots = _day(world)
    page = client.get(f"/t/{ds[4].tracking_token}/slots?slot={slots['later']}").get_data(
        as_text=True
    )
    with services.uow() as uow:
        other = uow.repo.get(m.Delivery, ds[3].id)
        other.choose_safe_place("porch", at=services.clock.now(), actor=m.Actor.CUSTOMER)
        uow.commit()

    response = _post(client, ds[3].tracking_token, page, slot_id=slots["later"])

    assert response.status_code == 409
    assert _load(services, m.Delivery, ds[3].id).reschedules == 0
    assert client.post("/t/not-a-real-token-at-all-000/slot", data={}).status_code in (400, 404)


def test_after_the_cut_off_the_controls_say_why_they_are_closed(client, services, world) -> None:
    ds, _route, slots = _day(world)
    html = client.get(f"/t/{ds[1].tracking_token}").get_data(as_text=True)
    assert "The driver is 2 stops away: it is too late to change this delivery." in html
    assert f"/t/{ds[1].tracking_token}/slots" not in html

    page = client.get(f"/t/{ds[1].tracking_token}/slots").get_data(as_text=True)
    assert "too late" in page and 'data-slot-id="' not in page


def test_a_failed_attempt_opens_the_rescheduling_controls(client, services, world) -> None:
    ds, _route, slots = _day(world)
    with services.uow() as uow:
        d = uow.repo.get(m.Delivery, ds[1].id)
        d.mark_failed(at=services.clock.now(), driver_id=world.driver_ids[0], reason="nobody in")
        uow.repo.get(m.Stop, d.stop_id).fail(at=services.clock.now())
        uow.commit()
    html = client.get(f"/t/{ds[1].tracking_token}").get_data(as_text=True)
    assert re.search(r'<details class="card slots-card" id="reschedule"[^>]* open', html)
    assert "Pick a new day" in html and f"/t/{ds[1].tracking_token}/slots" in html
    page = client.get(f"/t/{ds[1].tracking_token}/slots").get_data(as_text=True)
    assert re.findall(r'data-slot-id="(\d+)"', page) == [str(slots["tomorrow"])]
