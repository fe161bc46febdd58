"""A page left open across a real server restart catches up by itself, without a reload."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from lastmile_portal import create_app
from lastmile_portal.services import proof_of_delivery
from tests.conftest import base_config
from tests.e2e.conftest import near_delivery
from tests.servers import ServerProcess, free_port

pytestmark = pytest.mark.e2e


def test_page_resyncs_after_the_server_restarts(tmp_path, page: Page) -> None:
    config = {k: str(v) for k, v in base_config(tmp_path, JOB_BACKEND="thread").items()}
    server = ServerProcess(config, free_port())
    server.start()
    try:
        app = create_app(config)
        demo = json.loads(app.test_cli_runner().invoke(args=["demo-links", "--json"]).output)
        d = near_delivery(app, demo, position=0)
        page.goto(f"{server.url}/t/{d['token']}")
        expect(page.locator("body[data-live='1']")).to_be_attached()
        expect(page.get_by_test_id("status")).to_have_text("Out for delivery")
        expect(page.locator("#handover")).to_be_visible()

        server.stop()
        expect(page.locator("#conn")).to_be_visible(timeout=15000)
        # While the server is down the driver hands the parcel over.
        proof_of_delivery.mark_delivered(app.extensions["lastmile"], d["driver_id"], d["stop_id"])
        server.start()

        expect(page.get_by_test_id("status")).to_have_text("Delivered", timeout=30000)
        expect(page.locator("#conn")).to_be_hidden()
        expect(page.get_by_test_id("timeline")).to_contain_text("Delivered")
        expect(page.locator("#eta-block")).to_be_hidden()
        # The sections follow the missed change: the rating now, not the handover form.
        expect(page.locator("#rating-title")).to_have_text("How was your delivery?")
        expect(page.locator("#handover")).to_have_count(0)
    finally:
        server.stop()
