"""A supervisor opens the demo's fleet map in Chromium: every driver is drawn, a ping moves one."""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

# What the CSP blocks, as the page sees it (an init script is the driver's: not subject to it).
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


def post_positions(base: str, driver_token: str, lat: float, lng: float, at: datetime) -> None:
    body = {"positions": [{"lat": lat, "lng": lng, "recorded_at": at.isoformat()}]}
    request = urllib.request.Request(
        base + "/api/v1/driver/positions",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {driver_token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def test_the_fleet_map_draws_the_drivers_and_moves_one_live(
    live_server, demo_links, live_app, page: Page
) -> None:
    services = live_app.extensions["lastmile"]
    settings = live_app.config["SETTINGS"]
    tokens = {d["id"]: d["token"] for d in demo_links["drivers"]}
    with services.uow() as uow:
        routes = uow.repo.routes_on(services.today())
        depot_id = max(
            {r.depot_id for r in routes}, key=lambda i: sum(r.depot_id == i for r in routes)
        )
        mine = [r for r in routes if r.depot_id == depot_id]
        drivers = [r.driver_id for r in mine]
        first_stops = [r.ordered_stops()[0] for r in mine]
        near = [(round(s.lat, 6), round(s.lng, 6)) for s in first_stops]
    # Every driver of the depot was seen 10 s ago, at their first stop. (Never stamped ahead
    # of the server's clock: it takes such a fix as taken now, and a quick test run would
    # make the 60 m move below a jump in under a second.)
    seen = services.clock.now() - timedelta(seconds=10)
    for driver_id, (lat, lng) in zip(drivers, near, strict=True):
        post_positions(live_server, tokens[driver_id], lat, lng, seen)

    page.set_viewport_size({"width": 1280, "height": 800})
    page.add_init_script(RECORD_VIOLATIONS)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{live_server}/support/login")
    page.fill("input[name=email]", settings.demo_staff_email)
    page.fill("input[name=password]", settings.demo_staff_password)
    page.click("button[type=submit]")
    page.goto(f"{live_server}/support/ops/fleet?depot={depot_id}")

    expect(page.get_by_test_id("fleet-driver")).to_have_count(len(drivers))
    expect(page.locator("#fleet-map path.ops-driver-marker")).to_have_count(len(drivers))
    expect(page.get_by_test_id("fleet-conn")).to_have_text("Live")

    moving = drivers[0]
    marker = page.locator(f'#fleet-map path.ops-driver-marker[data-driver="{moving}"]')
    lat, lng = near[0]
    expect(marker).to_have_attribute("data-lat", f"{lat:.6f}")
    before = marker.get_attribute("d")
    # 60 m on in 10 s: a plausible move, not a GPS jump
    post_positions(live_server, tokens[moving], lat + 0.00054, lng, seen + timedelta(seconds=10))

    expect(marker).to_have_attribute("data-lat", f"{lat + 0.00054:.6f}")
    assert marker.get_attribute("d") != before  # drawn somewhere else, not only relabelled
    # Under the CSP, with nothing refused and no script error.
    assert page.evaluate("window.__violations") == []
    assert errors == []


def test_the_dashboard_draws_its_charts_under_the_csp(
    live_server, demo_links, live_app, page: Page
) -> None:
    settings = live_app.config["SETTINGS"]
    page.add_init_script(RECORD_VIOLATIONS)
    page.goto(f"{live_server}/support/login")
    page.fill("input[name=email]", settings.demo_staff_email)
    page.fill("input[name=password]", settings.demo_staff_password)
    page.click("button[type=submit]")
    page.goto(f"{live_server}/support/ops")

    expect(page.locator("svg.ops-svg")).to_have_count(3)
    services = live_app.extensions["lastmile"]
    with services.uow() as uow:
        drivers = {r.driver_id for r in uow.repo.routes_on(services.today())}
    expect(page.get_by_test_id("driver-row")).to_have_count(len(drivers))  # those with a route
    assert page.evaluate("window.__violations") == []
