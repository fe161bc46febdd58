"""A recipient on a phone sets a safe place and an access code, and rates the delivery."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from lastmile_portal.services import proof_of_delivery
from tests.e2e.conftest import near_delivery

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}


def test_set_a_safe_place_and_an_access_code_then_see_it_masked(
    live_server, demo_links, live_app, page: Page
) -> None:
    page.set_viewport_size(PHONE)
    d = near_delivery(live_app, demo_links, position=3)
    page.goto(f"{live_server}/t/{d['token']}")

    page.get_by_test_id("handover-change").click()
    page.get_by_label("Porch").check()
    page.get_by_label("Note for the driver").fill("Behind the blue bench, please.")
    page.get_by_label("It opens").select_option("gate")
    page.get_by_label("Code", exact=True).fill("123442")
    page.get_by_test_id("handover-save").click()

    expect(page.get_by_test_id("handover-message")).to_have_text(
        "Saved. The driver sees your instructions."
    )
    expect(page.get_by_test_id("handover-where")).to_have_text("Porch")
    expect(page.get_by_test_id("handover-note")).to_have_text("Behind the blue bench, please.")
    expect(page.get_by_test_id("access-code-masked")).to_have_text("••••42")
    assert "123442" not in page.content()
    # The ETA says how sure it is, in words.
    expect(page.get_by_test_id("eta-confidence")).to_have_text(re.compile(r"80\s% sure:"))


def test_a_neighbour_choice_shows_its_fields_and_a_bad_one_is_explained(
    live_server, demo_links, live_app, page: Page
) -> None:
    page.set_viewport_size(PHONE)
    d = near_delivery(live_app, demo_links, position=4)
    page.goto(f"{live_server}/t/{d['token']}")

    page.get_by_test_id("handover-change").click()
    name = page.get_by_label("Neighbour's name")
    expect(name).to_be_hidden()  # shown only for the neighbour choice
    page.get_by_label("With a neighbour").check()
    expect(name).to_be_visible()
    name.fill("Mrs Kaya")
    page.get_by_test_id("handover-save").click()

    expect(page.get_by_test_id("handover-error")).to_contain_text("house number")
    expect(page.get_by_label("Neighbour's name")).to_have_value("Mrs Kaya")
    page.get_by_label("Their house number").fill("12a")
    page.get_by_test_id("handover-save").click()
    expect(page.get_by_test_id("handover-where")).to_have_text(
        "With your neighbour Mrs Kaya, no. 12a"
    )


def test_rate_the_delivery_once_it_is_delivered(
    live_server, demo_links, live_app, page: Page
) -> None:
    page.set_viewport_size(PHONE)
    d = near_delivery(live_app, demo_links, position=0)
    services = live_app.extensions["lastmile"]
    proof_of_delivery.mark_delivered(services, d["driver_id"], d["stop_id"])
    page.goto(f"{live_server}/t/{d['token']}")

    expect(page.get_by_role("heading", name="How was your delivery?")).to_be_visible()
    page.get_by_label("4 out of 5", exact=True).check()
    page.get_by_label("Comment").fill("Quick and friendly.")
    page.get_by_test_id("rating-save").click()

    expect(page.get_by_test_id("rating-now")).to_contain_text("4 out of 5")
    page.get_by_label("5 out of 5 (great)").check()
    page.get_by_test_id("rating-save").click()
    expect(page.get_by_test_id("handover-message")).to_have_text("Rating updated.")
    expect(page.get_by_test_id("rating-now")).to_contain_text("5 out of 5")
    expect(page.get_by_label("Comment")).to_have_value("Quick and friendly.")
