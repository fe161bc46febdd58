"""The tracking page works in Chromium under the Content-Security-Policy, with nothing refused."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import ConsoleMessage, Page, WebSocket, expect

from lastmile_portal import create_app
from lastmile_portal.adapters.migrations import upgrade
from tests.conftest import base_config
from tests.e2e.conftest import near_delivery
from tests.e2e.test_tracking_in_browser import post_positions
from tests.servers import LiveServer

pytestmark = pytest.mark.e2e

# Record what the policy blocks as the page sees it, next to Chromium's console lines. An
# init script comes from the browser driver, so the policy does not apply to it.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


class Watched:
    """A page with its console's CSP complaints and its own violation reports collected."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.refused: list[str] = []
        self.websockets: list[str] = []
        page.on("console", self._console)
        page.on("websocket", self._websocket)
        page.add_init_script(RECORD_VIOLATIONS)

    def _websocket(self, ws: WebSocket) -> None:
        self.websockets.append(ws.url)

    def _console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            self.refused.append(message.text)

    def violations(self) -> list[str]:
        """Return every CSP complaint so far, from the console and from the page's events."""
        return self.refused + self.page.evaluate("window.__violations")


def assert_live_under_the_policy(watched: Watched, url: str) -> None:
    """Open ``url`` and check the policy came with it, the map drew and the socket is live."""
    page = watched.page
    response = page.goto(url)

    assert response is not None and response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator("body[data-live='1']")).to_be_attached()  # snapshot over the socket
    expect(page.locator("#conn")).to_be_hidden()
    expect(page.locator("#map.leaflet-container")).to_be_visible()


@pytest.fixture
def watched(page: Page) -> Watched:
    page.set_viewport_size({"width": 390, "height": 844})
    return Watched(page)


def test_tracking_page_runs_under_the_policy(live_server, demo_links, live_app, watched) -> None:
    d = near_delivery(live_app, demo_links, position=0)
    page = watched.page

    assert_live_under_the_policy(watched, f"{live_server}/t/{d['token']}")
    # The driver's ping arrives over the websocket and draws its marker and line.
    now = live_app.extensions["lastmile"].clock.now()  # the demo's clock, not the wall's
    post_positions(live_server, d["driver_token"], (d["lat"] - 0.01, d["lng"], now))
    expect(page.get_by_test_id("map-text")).to_contain_text("km from your address")
    expect(page.locator("#map path.leaflet-interactive")).to_have_count(3)  # address, driver, line
    # Socket.IO's websocket, not its long-polling fallback (connect-src must allow ws:).
    assert any("/socket.io/" in u and "transport=websocket" in u for u in watched.websockets)

    assert watched.violations() == []

    # The watch itself works: an inline script is refused and reported.
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__ran = 1'; document.body.appendChild(s); }"
    )
    page.wait_for_function("window.__violations.length > 0")
    assert page.evaluate("window.__ran") is None
    assert any("script-src" in v for v in watched.violations())


# ---- with map tiles: a local tile server on {s}.localhost (Chromium resolves it to loopback)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (256, 256), (200, 220, 200)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def tile_server() -> Iterator[dict[str, Any]]:
    tile, served = _png(), []

    class Tiles(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.append(self.headers.get("Host", ""))
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(tile)))
            self.end_headers()
            self.wfile.write(tile)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield {"port": server.server_address[1], "served": served}
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def tiled_app(tmp_path_factory: pytest.TempPathFactory, tile_server):  # type: ignore[no-untyped-def]
    tiles = f"http://{{s}}.localhost:{tile_server['port']}/{{z}}/{{x}}/{{y}}.png"
    app = create_app(
        base_config(
            tmp_path_factory.mktemp("e2e-tiles"),
            DEMO="true",
            JOB_BACKEND="thread",
            MAP_TILE_URL=tiles,
        )
    )
    upgrade(app.config["SETTINGS"].database_url)
    return app


@pytest.fixture(scope="module")
def tiled_server(tiled_app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    server = LiveServer(tiled_app)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def test_map_tiles_from_subdomains_are_allowed(tiled_app, tiled_server, tile_server, watched):  # type: ignore[no-untyped-def]
    demo = tiled_app.test_cli_runner().invoke(args=["demo-links", "--json"])
    d = near_delivery(tiled_app, json.loads(demo.output))
    page = watched.page

    assert_live_under_the_policy(watched, f"{tiled_server}/t/{d['token']}")
    expect(page.locator("#map img.leaflet-tile-loaded").first).to_be_visible()
    expect(page.locator(".leaflet-control-attribution")).to_contain_text("OpenStreetMap")
    assert {host.split(".")[0] for host in tile_server["served"]} <= {"a", "b", "c"}
    assert watched.violations() == []
