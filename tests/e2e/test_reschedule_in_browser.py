"""Move a parcel to another slot in Chromium, on a phone, as a recipient would."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from lastmile_portal.domain import live_payloads as payloads
from lastmile_portal.domain import model as m
from lastmile_portal.services import proof_of_delivery
from tests.e2e.conftest import near_delivery

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}


def far_delivery(app, demo):  # type: ignore[no-untyped-def]
    """Return a door parcel still open for changes: far enough down some route."""
    services = app.extensions["lastmile"]
    for position in range(12, 3, -1):
        try:
            d = near_delivery(app, demo, position=position)
        except AssertionError:
            continue
        with services.uow() as uow:
            delivery = uow.repo.get(m.Delivery, d["delivery_id"])
            if delivery.reschedules == 0 and delivery.status.value == "out_for_delivery":
                return d
    raise AssertionError("no demo parcel open for changes")


def test_move_to_another_slot_after_the_preview(
    live_server, demo_links, live_app, page: Page
) -> None:
    page.set_viewport_size(PHONE)
    d = far_delivery(live_app, demo_links)
    page.goto(f"{live_server}/t/{d['token']}")

    card = page.get_by_test_id("reschedule")
    card.locator("summary").click()
    expect(card.get_by_test_id("countdown")).to_have_text(
        re.compile(r"Changes possible (for \d+ more minutes?|until \d\d:\d\d)\.")
    )
    card.get_by_test_id("choose-slot").click()

    expect(page.get_by_role("heading", name="Pick a new delivery slot")).to_be_visible()
    slots = page.get_by_test_id("slot")
    expect(slots.first).to_be_visible()
    expect(page.get_by_test_id("greenest")).to_have_count(1)
    chosen = slots.last  # a later day: the parcel leaves today's route
    chosen.click()
    when = chosen.locator(".when").get_attribute("data-when")
    page.get_by_test_id("preview-slot").click()

    preview = page.get_by_test_id("slot-preview")
    expect(preview).to_contain_text(f"New window {when}")
    page.get_by_test_id("confirm-slot").click()

    expect(page.get_by_test_id("slots-notice")).to_contain_text("Done: your parcel now comes")
    expect(page.get_by_test_id("window")).to_have_text(when or "")
    expect(page.get_by_test_id("status")).to_have_text("Rescheduled")


def test_the_controls_close_after_the_cut_off_and_say_why(
    live_server, demo_links, live_app, page: Page
) -> None:
    page.set_viewport_size(PHONE)
    # The next stop: closed when the page loads, with the reason.
    near = near_delivery(live_app, demo_links, position=0)
    page.goto(f"{live_server}/t/{near['token']}")
    closed = page.get_by_test_id("reschedule")
    closed.locator("summary").click()
    expect(closed.get_by_test_id("slots-closed")).to_have_text(re.compile(r"too late"))
    expect(closed.get_by_test_id("choose-slot")).to_have_count(0)

    # Open at load, then the live ETA brings the driver within the cut-off: the page closes.
    d = far_delivery(live_app, demo_links)
    page.goto(f"{live_server}/t/{d['token']}")
    expect(page.locator("body[data-live='1']")).to_be_attached()
    card = page.get_by_test_id("reschedule")
    card.locator("summary").click()
    expect(card.get_by_test_id("choose-slot")).to_be_visible()
    soon = live_app.extensions["lastmile"].clock.now() + timedelta(minutes=10)  # demo time
    live_app.extensions["lastmile"].publisher.publish(
        f"delivery:{d['delivery_id']}",
        "eta",
        payloads.eta(
            expected=soon,
            earliest=soon - timedelta(minutes=3),
            latest=soon + timedelta(minutes=8),
            stops_before=4,
            plan_version=None,
        ),
    )
    expect(card.get_by_test_id("slots-closed")).to_have_text(
        re.compile(r"The driver is due within \d+ minutes: it is too late")
    )
    expect(card.get_by_test_id("choose-slot")).to_be_hidden()
    expect(card.get_by_test_id("countdown")).to_be_hidden()


def test_a_failed_attempt_link_leads_to_the_rescheduling_controls(
    live_server, demo_links, live_app, page: Page
) -> None:
    page.set_viewport_size(PHONE)
    d = near_delivery(live_app, demo_links, position=0)
    services = live_app.extensions["lastmile"]
    proof_of_delivery.mark_failed(services, d["driver_id"], d["stop_id"], "nobody in")
    with services.uow() as uow:
        (text,) = [t for t in uow.repo.outbox_of(d["delivery_id"]) if t.kind == "failed_attempt"]
    link = re.search(r"https?://\S+", text.body).group(0)  # type: ignore[union-attr]
    assert link.endswith(d["token"])

    page.goto(link.replace(services.settings.public_base_url, live_server))

    card = page.get_by_test_id("reschedule")
    expect(card).to_have_attribute("open", "")
    expect(card).to_contain_text("Pick a new day")
    card.get_by_test_id("choose-slot").click()
    expect(page.get_by_test_id("slot").first).to_be_visible()
    expect(page.get_by_test_id("slot").first).to_contain_text("time planned the evening before")
