"""A locker parcel in Chromium, on a phone, as its recipient lives it: the page is open while
the driver puts the parcel into the locker, and the pickup code appears without a tap; the
operator reports the collection, and the page says collected."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from lastmile_portal import create_app
from lastmile_portal.adapters.migrations import upgrade
from tests.builders import DRIVER_TOKEN, load_stop_id, make_world
from tests.conftest import base_config
from tests.servers import LiveServer
from tests.services.test_locker_deposits import add_locker, locker_parcel

pytestmark = pytest.mark.e2e

SHOTS = os.environ.get("LOCKER_SHOTS")  # a folder to keep screenshots of each state in


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


@pytest.fixture
def live_app(tmp_path: Path) -> Any:
    app = create_app(base_config(tmp_path, JOB_BACKEND="thread"))
    upgrade(app.config["SETTINGS"].database_url)
    return app


@pytest.fixture
def live_server(live_app: Any) -> Iterator[str]:
    server = LiveServer(live_app)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


class LockerParcel:
    """A parcel out for delivery to locker KOT, the page to open, and the two API calls."""

    def __init__(self, live_app: Any) -> None:
        services = live_app.extensions["lastmile"]
        world = make_world(services)
        locker = add_locker(world, code="KOT", name="Parcel locker Kottbusser Tor")
        d = locker_parcel(world, locker, reserve=True)
        self.token = d.tracking_token
        self.stop_id = load_stop_id(services, d)
        self.api = live_app.test_client()
        cli = live_app.test_cli_runner()
        self.key = cli.invoke(args=["locker-key", "KOT"]).output.splitlines()[1]

    def put_in(self) -> None:
        delivered = self.api.post(
            f"/api/v1/driver/stops/{self.stop_id}/delivered",
            data={"lat": "52.525", "lng": "13.405"},
            content_type="multipart/form-data",
            headers={"Authorization": f"Bearer {DRIVER_TOKEN}"},
        )
        assert delivered.status_code == 200, delivered.get_json()

    def collect(self) -> None:
        collected = self.api.post(
            "/api/v1/lockers/KOT/collected",
            json={"pickup_code": "424242"},
            headers={"Authorization": f"Bearer {self.key}"},
        )
        assert collected.status_code == 200, collected.get_json()


def open_page(page: Page, live_server: str, parcel: LockerParcel) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server}/t/{parcel.token}")
    expect(page.locator("body")).to_have_attribute("data-live", "1")  # the socket is up


def expect_collected(page: Page) -> None:
    expect(page.locator("#locker-pickup").get_by_role("heading")).to_have_text("Collected")
    expect(page.get_by_test_id("status")).to_have_text("Collected")
    expect(page.get_by_test_id("pickup-code")).to_have_count(0)


def test_the_pickup_code_appears_when_the_driver_puts_the_parcel_in_then_collected(
    live_app: Any, live_server: str, page: Page
) -> None:
    parcel = LockerParcel(live_app)
    open_page(page, live_server, parcel)
    expect(page.get_by_test_id("status")).to_have_text("Out for delivery")
    expect(page.get_by_test_id("pickup-code")).to_have_count(0)

    parcel.put_in()
    expect(page.get_by_test_id("pickup-code")).to_have_text("424242")
    expect(page.get_by_test_id("status")).to_have_text("Ready for pickup")
    expect(page.locator("#locker-pickup")).to_contain_text(
        "In the locker Parcel locker Kottbusser Tor, KOTweg 1, 10115 Berlin — pickup code 424242, "
        "compartment A2, collect by"
    )
    expect(page.locator("#eta-block")).to_be_hidden()
    shot(page, "1-in-the-locker")

    parcel.collect()
    expect_collected(page)
    shot(page, "2-collected")


def test_a_page_offline_while_the_parcel_goes_into_the_locker_catches_up_when_back(
    live_app: Any, live_server: str, page: Page
) -> None:
    parcel = LockerParcel(live_app)
    open_page(page, live_server, parcel)
    # The phone goes into a tunnel: the socket drops and the page says it is reconnecting.
    page.context.set_offline(True)
    expect(page.locator("#conn")).to_be_visible()
    parcel.put_in()
    page.context.set_offline(False)
    # The live change was missed; the snapshot on reconnecting brings the section in.
    expect(page.get_by_test_id("pickup-code")).to_have_text("424242")
    expect(page.get_by_test_id("status")).to_have_text("Ready for pickup")
    expect(page.locator("#conn")).to_be_hidden()
    shot(page, "3-back-online-in-the-locker")

    page.context.set_offline(True)
    expect(page.locator("#conn")).to_be_visible()
    parcel.collect()
    page.context.set_offline(False)
    expect_collected(page)
    shot(page, "4-back-online-collected")
