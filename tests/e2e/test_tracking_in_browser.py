"""Open a demo tracking link in Chromium as a recipient would, and watch it live."""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from lastmile_portal.services import proof_of_delivery
from tests.e2e.conftest import near_delivery

pytestmark = pytest.mark.e2e


def post_positions(base: str, driver_token: str, *points: tuple[float, float, datetime]) -> dict:  # type: ignore[type-arg]
    body = {
        "positions": [
            {"lat": lat, "lng": lng, "recorded_at": at.isoformat()} for lat, lng, at in points
        ]
    }
    request = urllib.request.Request(
        base + "/api/v1/driver/positions",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {driver_token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_recipient_sees_window_driver_and_map(
    live_server, demo_links, live_app, page: Page
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    d = near_delivery(live_app, demo_links)
    page.goto(f"{live_server}/t/{d['token']}")

    expect(page.get_by_test_id("status")).to_have_text("Out for delivery")
    expect(page.get_by_test_id("window")).to_have_text(
        re.compile(r"\w{3} \d+ \w{3}, \d\d:\d\d–\d\d:\d\d")
    )
    expect(page.get_by_test_id("eta")).to_have_text(re.compile(r"\d\d:\d\d–\d\d:\d\d"))
    expect(page.get_by_test_id("stops-before")).to_have_text("1 stop before yours")
    expect(page.get_by_test_id("driver")).to_contain_text("Your driver is")
    # Leaflet draws the address marker even with no tiles configured.
    expect(page.locator("#map path.leaflet-interactive").first).to_be_visible()
    expect(page.get_by_test_id("map-text")).to_be_visible()


def test_pings_move_the_marker_and_the_eta_live(
    live_server, demo_links, live_app, page: Page
) -> None:
    d = near_delivery(live_app, demo_links, position=0)
    page.goto(f"{live_server}/t/{d['token']}")
    expect(page.locator("body[data-live='1']")).to_be_attached()  # socket snapshot applied
    now = live_app.extensions["lastmile"].clock.now()  # the demo's clock, not the wall's

    # Far away (about 4 km south): the driver shows up, with the way to this address only.
    result = post_positions(
        live_server, d["driver_token"], (d["lat"] - 0.036, d["lng"], now - timedelta(minutes=10))
    )
    assert result["accepted"] == 1
    expect(page.get_by_test_id("map-text")).to_contain_text("km from your address")
    expect(page.locator("#map path.leaflet-interactive")).to_have_count(3)  # address, driver, line
    driver_dot = page.locator("#map path.leaflet-interactive").nth(2)
    far_path = driver_dot.get_attribute("d")
    far_eta = page.get_by_test_id("eta").inner_text()

    # Ten minutes later, right outside: the marker glides over, the ETA comes forward and
    # the status says arriving.
    result = post_positions(live_server, d["driver_token"], (d["lat"] - 0.0004, d["lng"], now))
    assert result == {"accepted": 1, "ignored": 0, "flagged": 0, "rejected": []}
    expect(page.get_by_test_id("map-text")).to_contain_text(re.compile(r"\d+ m from your address"))
    expect(page.get_by_test_id("eta")).not_to_have_text(far_eta)
    expect(page.get_by_test_id("status")).to_have_text("Driver arriving")
    expect(driver_dot).not_to_have_attribute("d", far_path or "")
    expect(page.get_by_test_id("timeline")).to_contain_text("Driver arriving")

    # The hand-over: the page says so at once, and stops talking about the driver and ETAs.
    proof_of_delivery.mark_delivered(live_app.extensions["lastmile"], d["driver_id"], d["stop_id"])
    expect(page.get_by_test_id("status")).to_have_text("Delivered")
    expect(page.get_by_test_id("map-text")).to_have_text("Your parcel has arrived.")
    expect(page.locator("#eta-block")).to_be_hidden()
    expect(page.locator("#map path.leaflet-interactive")).to_have_count(1)  # the address only


def test_random_token_gets_the_not_found_page(live_server, page: Page) -> None:
    response = page.goto(live_server + "/t/" + "Q" * 32)
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading")).to_have_text("Link not found")
