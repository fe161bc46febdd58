"""Open a demo tracking link in Chromium as a recipient would."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e


def _path(url: str) -> str:
    return urlsplit(url).path


def _out_for_delivery(live_server: str, demo_links, page: Page):  # type: ignore[no-untyped-def]
    for d in demo_links["deliveries"]:
        page.goto(live_server + _path(d["url"]))
        if page.get_by_test_id("status").inner_text() == "Out for delivery":
            return d
    raise AssertionError("no demo delivery is out for delivery")


def test_recipient_sees_window_driver_and_map(live_server, demo_links, page: Page) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    _out_for_delivery(live_server, demo_links, page)

    expect(page.get_by_test_id("window")).to_contain_text("–")
    expect(page.get_by_test_id("eta")).to_have_text(
        __import__("re").compile(r"\d\d:\d\d–\d\d:\d\d")
    )
    expect(page.get_by_test_id("driver")).to_contain_text("Your driver is")
    # The map is drawn by Leaflet with the address marker, even with no tiles configured.
    expect(page.locator("#map[data-ready='1']")).to_be_visible()
    expect(page.locator("#map path.leaflet-interactive").first).to_be_visible()
    expect(page.get_by_test_id("map-text")).to_be_visible()


def test_driver_appears_on_the_map_once_it_has_pinged(
    live_server, demo_links, live_app, page: Page
) -> None:
    from datetime import UTC, datetime

    from lastmile_portal.services import tracking

    page.goto(live_server + _path(_out_for_delivery(live_server, demo_links, page)["url"]))
    services = live_app.extensions["lastmile"]
    for driver in demo_links["drivers"]:
        tracking.record_positions(
            services,
            driver["id"],
            [{"lat": 52.5, "lng": 13.4, "recorded_at": datetime.now(UTC).isoformat()}],
        )
    page.reload()

    expect(page.locator("#map path.leaflet-interactive")).to_have_count(2)
    expect(page.get_by_test_id("map-text")).to_contain_text("Driver last seen")


def test_random_token_gets_the_not_found_page(live_server, page: Page) -> None:
    response = page.goto(live_server + "/t/" + "Q" * 32)
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading")).to_have_text("Link not found")
