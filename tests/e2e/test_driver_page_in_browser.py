"""A driver on the phone page delivers with a photo; the customer's open page shows the proof."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.e2e.conftest import near_delivery

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
# 40 m north of the door (0.00036° of latitude): where the driver stood for the photo, far
# enough that the page gives a distance (closer than 15 m it says "at your door").
NORTH_OFFSET = 0.00036


def door_photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (120, 30, 35)).save(out, "JPEG", quality=80)
    return out.getvalue()


def refusals(page: Page) -> list[str]:
    """Collect what the Content-Security-Policy refuses on ``page`` (it must refuse nothing)."""
    refused: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            refused.append(message.text)

    page.on("console", console)
    return refused


def test_driver_delivers_with_a_photo_and_the_customer_sees_it_live(
    live_server: str, live_app: Any, demo_links: dict[str, Any], browser: Browser
) -> None:
    d = near_delivery(live_app, demo_links, position=0)
    stop = f"#stop-{d['stop_id']}"

    # The customer has the tracking page open the whole time.
    customer = browser.new_context(viewport=PHONE).new_page()
    customer.goto(f"{live_server}/t/{d['token']}")
    expect(customer.locator("body[data-live='1']")).to_be_attached()
    expect(customer.locator("#proof")).to_be_hidden()
    expect(customer.locator("[data-testid=rating-form]")).to_have_count(0)
    customer.evaluate("() => { window.neverReloaded = true; }")

    # The driver taps the sign-in link from their text, on a phone that shares its position.
    phone = browser.new_context(
        viewport=PHONE,
        geolocation={"latitude": d["lat"] + NORTH_OFFSET, "longitude": d["lng"]},
        permissions=["geolocation"],
    )
    driver = phone.new_page()
    refused = refusals(driver)
    driver.goto(f"{live_server}/driver/sign-in#token={d['driver_token']}")

    expect(driver).to_have_url(f"{live_server}/driver")
    expect(driver.get_by_role("heading", name="Today's stops")).to_be_visible()
    expect(driver.locator(stop)).to_have_class(re.compile(r"\bdp-next\b"))
    expect(driver.locator(f"{stop} [data-testid=navigate]")).to_have_attribute(
        "href", re.compile(r"^https://www\.google\.com/maps/dir/\?api=1&destination=[\d.]+,[\d.]+$")
    )
    # The token went into a POST: neither the address bar nor the history keeps it.
    assert d["driver_token"] not in driver.evaluate("window.location.href + history.length")

    driver.locator(f"{stop} [data-testid=arrived]").click()
    expect(driver.locator(f"{stop} [data-testid=driver-notice]")).to_contain_text("Arrived")
    expect(driver.locator(f"{stop} [data-testid=stop-status]")).to_have_text("Arrived")

    driver.locator(f"{stop} [data-testid=photo]").set_input_files(
        {"name": "IMG_0001.jpg", "mimeType": "image/jpeg", "buffer": door_photo()}
    )
    # The page's script fills the position from the phone (never waited for by the form).
    expect(driver.locator(f"{stop} input[name=lat]")).not_to_have_value("")
    driver.locator(f"{stop} [data-testid=delivered]").click()

    notice = driver.locator("[data-testid=driver-notice]")
    expect(notice).to_have_text(re.compile(r"^Delivered — \d+ parcels?, 1 photo\.$"))
    expect(driver.locator(f"[data-testid=done-stop][data-stop-id='{d['stop_id']}']")).to_have_count(
        1
    )
    assert refused == []

    # The customer's page, never reloaded, shows the proof: how far from the door, the photo.
    expect(customer.locator("#proof")).to_be_visible()
    summary = customer.locator("[data-testid=proof-summary]")
    expect(summary).to_have_text(re.compile(r"^Delivered 40 m from your door at \d\d:\d\d\.$"))
    photo = customer.locator("[data-testid=proof-photo]")
    expect(photo).to_have_count(1)
    expect(photo).to_be_visible()
    customer.wait_for_function(
        "() => { const i = document.querySelector('[data-testid=proof-photo]');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    assert customer.evaluate("() => window.neverReloaded === true")
    # What the recipient could change before is gone; the rating is offered instead.
    expect(customer.locator("[data-testid=rating-form]")).to_be_visible()
    expect(customer.locator("#handover")).to_have_count(0)
    expect(customer.get_by_text("too late to change this delivery")).to_have_count(0)
    expect(customer.locator(".map-card .address")).to_contain_text("Delivered to")


def test_a_wrong_link_says_so_and_the_paste_form_signs_in(
    live_server: str, live_app: Any, demo_links: dict[str, Any], browser: Browser
) -> None:
    token = demo_links["drivers"][0]["token"]
    page = browser.new_context(viewport=PHONE).new_page()

    page.goto(f"{live_server}/driver/sign-in#token=not-a-token-of-any-driver-at-all")

    expect(page.locator("[data-testid=sign-in-error]")).to_contain_text("not valid")
    expect(page).to_have_url(f"{live_server}/driver/sign-in")
    page.get_by_label("Driver token").fill(token)
    page.get_by_role("button", name="Sign in").last.click()
    expect(page).to_have_url(f"{live_server}/driver")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_the_page_works_without_javascript(
    live_server: str, live_app: Any, demo_links: dict[str, Any], browser: Browser
) -> None:
    d = near_delivery(live_app, demo_links, position=1)
    page = browser.new_context(viewport=PHONE, java_script_enabled=False).new_page()

    page.goto(f"{live_server}/driver/sign-in")
    page.get_by_label("Driver token").fill(d["driver_token"])
    page.get_by_role("button", name="Sign in").click()

    stop = page.locator(f"#stop-{d['stop_id']}")
    expect(stop).to_be_visible()
    stop.locator("summary", has_text="Could not deliver").click()
    stop.get_by_label("Why?").select_option("no_access")
    stop.get_by_role("button", name="Mark failed").click()
    expect(page.locator("[data-testid=driver-notice]")).to_have_text(
        re.compile(r"^Failed — \d+ parcels?: No access to the building\.$")
    )
