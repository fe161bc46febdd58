"""Send a demo parcel to a locker in Chromium, on a phone, as a new recipient would: see the
lockers near, the preview, confirm, see the new pickup time, then undo."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import near_delivery

pytestmark = pytest.mark.e2e

SHOTS = os.environ.get("LOCKER_SHOTS")  # a folder to keep screenshots of each state in


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def test_send_to_a_locker_after_the_preview_then_undo(
    live_server, demo_links, live_app, page: Page
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    d = near_delivery(live_app, demo_links, position=6)  # far enough: changes are open
    page.goto(f"{live_server}/t/{d['token']}")

    section = page.locator("#lockers")
    expect(section.get_by_role("heading", name="Send it to a locker instead")).to_be_visible()
    first = section.get_by_test_id("locker-list").locator("li").first
    expect(first.get_by_test_id("locker-free")).to_have_text(
        re.compile(r"\d+ compartments? free for your parcel")
    )
    expect(section.locator("#lockers-map path.leaflet-interactive").first).to_be_visible()
    shot(page, "1-list")

    first.get_by_test_id("locker-preview-link").click()
    preview = page.get_by_test_id("locker-preview")
    expect(preview).to_have_text(re.compile(r"^In (locker|pickup point) .+ by \d\d:\d\d$"))
    name = first.locator("strong").first.text_content() if first.count() else None
    shot(page, "2-preview")

    page.get_by_test_id("locker-confirm").click()
    expect(page.get_by_test_id("locker-message")).to_contain_text("Done: your parcel goes to")
    expect(page.get_by_test_id("locker-current")).to_be_visible()
    expect(page.get_by_test_id("locker-by")).to_have_text(re.compile(r"\w{3} \d+ \w{3}, \d\d:\d\d"))
    expect(page.get_by_test_id("window")).to_have_text(re.compile(r"\d\d:\d\d"))
    shot(page, "3-chosen")
    assert name is None or name

    page.get_by_test_id("locker-undo").click()
    expect(page.get_by_test_id("locker-message")).to_contain_text("comes to your door again")
    expect(page.get_by_role("heading", name="Send it to a locker instead")).to_be_visible()
    expect(page.get_by_test_id("status")).to_have_text("Out for delivery")
    shot(page, "4-undone")
