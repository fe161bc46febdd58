"""Support in Chromium, as a new staff member would use it, with the customer's page open too."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from lastmile_portal.domain import model as m
from tests.e2e.test_reschedule_in_browser import far_delivery

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def local_format(e164: str) -> str:
    """Return a German number as people write it at home: +4930231… -> '030 231…'."""
    assert e164.startswith("+49")
    national = "0" + e164[3:]
    return f"{national[:3]} {national[3:]}"


def test_staff_find_a_parcel_by_a_local_phone_number_and_move_it_for_the_customer(
    live_server, demo_links, live_app, browser: Browser
) -> None:
    d = far_delivery(live_app, demo_links)
    with live_app.extensions["lastmile"].uow() as uow:
        parcel = uow.repo.get(m.Delivery, d["delivery_id"])
        tracking_number, phone = parcel.tracking_number, parcel.phone

    # The recipient has their tracking page open on their phone.
    customer = browser.new_context(viewport=PHONE).new_page()
    customer.goto(f"{live_server}/t/{d['token']}")
    expect(customer.locator("body[data-live='1']")).to_have_count(1)
    customer.evaluate("window.__same_page = true")

    # A staff member signs in ...
    staff = browser.new_context(viewport=DESKTOP).new_page()
    staff.goto(f"{live_server}/support/")
    expect(staff.get_by_role("heading", name="Support sign-in")).to_be_visible()
    staff.get_by_label("E-mail").fill(demo_links["staff"]["email"])
    staff.get_by_label("Password").fill(demo_links["staff"]["password"])
    staff.get_by_role("button", name="Sign in").click()
    expect(staff.get_by_role("heading", name="Find a parcel")).to_be_visible()

    # ... finds the parcel by the number the caller gives, typed the local way ...
    staff.get_by_role("searchbox").fill(local_format(phone))
    staff.get_by_role("searchbox").press("Enter")
    expect(staff.get_by_test_id("query-kind")).to_contain_text("phone")
    row = staff.get_by_test_id("result").filter(has_text=tracking_number)
    expect(row).to_have_count(1)
    row.get_by_role("link", name=tracking_number).click()

    # ... reads its timeline ...
    expect(staff.get_by_role("heading", name="Timeline")).to_be_visible()
    expect(staff.get_by_test_id("timeline").locator("li").first).to_be_visible()
    expect(staff.get_by_test_id("timeline")).to_contain_text("Planned as stop")

    # ... and moves it to another slot on the customer's behalf.
    options = staff.locator("#slot_id option")
    choice = options.last.inner_text()  # "Thu 26 Nov 10:00–12:00"
    staff.locator("#slot_id").select_option(label=choice)
    staff.get_by_role("button", name="Move", exact=True).click()
    expect(staff.locator(".sp-notice")).to_contain_text("Moved to")
    expect(staff.get_by_test_id("timeline")).to_contain_text("Support · Demo Support")

    # The customer's open page shows the new window, without a reload.
    day, times = re.fullmatch(r"(\w{3} \d+ \w{3}) (\d\d:\d\d–\d\d:\d\d)", choice).groups()  # type: ignore[union-attr]
    expect(customer.get_by_test_id("window")).to_have_text(f"{day}, {times}")
    assert customer.evaluate("window.__same_page") is True


def test_an_agent_opening_a_supervisor_page_is_told_no(
    live_server, live_app, browser: Browser
) -> None:
    runner = live_app.test_cli_runner()
    result = runner.invoke(
        args=["create-staff", "new.agent@demo.test", "--role", "agent", "--password-stdin"],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    page = browser.new_context(viewport=DESKTOP).new_page()
    page.goto(f"{live_server}/support/login")
    page.get_by_label("E-mail").fill("new.agent@demo.test")
    page.get_by_label("Password").fill("a long enough password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("staff-name")).to_contain_text("agent")

    answer = page.goto(f"{live_server}/support/ops")

    assert answer is not None and answer.status == 403
    expect(page.get_by_text("You are not allowed to do that.")).to_be_visible()
