"""A page left open across a real server restart catches up by itself, without a reload."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from lastmile_portal import create_app
from lastmile_portal.services import proof_of_delivery
from tests.conftest import base_config
from tests.e2e.conftest import near_delivery
from tests.servers import LiveServer

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


class ServerProcess:
    """`python app.py` as an operator runs it (demo seeded, simulated drivers off)."""

    def __init__(self, config: dict[str, str], port: int) -> None:
        self.env = {
            **os.environ,
            **config,
            "PORT": str(port),
            "DEMO": "true",
            "DEMO_SIMULATE": "false",
            "HOST": "127.0.0.1",
        }
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "app.py"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("server did not come up")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
            self.proc = None


def test_page_resyncs_after_the_server_restarts(tmp_path, page: Page) -> None:
    config = {k: str(v) for k, v in base_config(tmp_path, JOB_BACKEND="thread").items()}
    server = ServerProcess(config, LiveServer(None).port)
    server.start()
    try:
        app = create_app(config)
        demo = json.loads(app.test_cli_runner().invoke(args=["demo-links", "--json"]).output)
        d = near_delivery(app, demo, position=0)
        page.goto(f"{server.url}/t/{d['token']}")
        expect(page.locator("body[data-live='1']")).to_be_attached()
        expect(page.get_by_test_id("status")).to_have_text("Out for delivery")

        server.stop()
        expect(page.locator("#conn")).to_be_visible(timeout=15000)
        # While the server is down the driver hands the parcel over.
        proof_of_delivery.mark_delivered(app.extensions["lastmile"], d["driver_id"], d["stop_id"])
        server.start()

        expect(page.get_by_test_id("status")).to_have_text("Delivered", timeout=30000)
        expect(page.locator("#conn")).to_be_hidden()
        expect(page.get_by_test_id("timeline")).to_contain_text("Delivered")
        expect(page.locator("#eta-block")).to_be_hidden()
    finally:
        server.stop()
