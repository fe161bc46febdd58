"""The operations pages: the KPI dashboard, its CSV and the fleet map, as staff open them."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import pytest

from lastmile_portal.services import gps_intake, proof_of_delivery, ratings
from tests.builders import load_stop_id, make_delivery, make_route, make_world, ping
from tests.web.support_helpers import make_staff, sign_in


@pytest.fixture
def day(services, clock):  # type: ignore[no-untyped-def]
    """Two drivers out at 09:00; by 09:30 driver0 delivered one parcel (rated 4), one is late."""
    world = make_world(services)
    delivered = make_delivery(world, window_hours=(0, 4))
    waiting = make_delivery(world, window_hours=(0, 4))
    late = make_delivery(
        world, window_start=clock.now(), window_end=clock.now() + timedelta(minutes=10)
    )
    make_route(world, [delivered, waiting])
    make_route(world, [late], driver_index=1)
    clock.advance(minutes=30)
    stop = load_stop_id(services, delivered)
    proof_of_delivery.mark_arrived(services, world.driver_ids[0], stop)
    proof_of_delivery.mark_delivered(services, world.driver_ids[0], stop)
    ratings.rate_delivery(services, delivered.id, 4)
    for role in ("agent", "supervisor"):
        make_staff(services, role)
    return world


@pytest.fixture
def supervisor(client, day):  # type: ignore[no-untyped-def]
    assert sign_in(client, "supervisor").status_code == 303
    return client


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


def kpi(html: str, name: str) -> str:
    found = re.search(rf'data-testid="kpi-{name}">([^<]*)<', html)
    assert found, name
    return found.group(1).replace("&nbsp;", " ").strip()


def test_the_dashboard_shows_the_days_numbers_with_their_definitions(supervisor, day) -> None:  # type: ignore[no-untyped-def]
    response = supervisor.get(f"/support/ops?date={day.service_date}&depot={day.depot_id}")
    assert response.status_code == 200
    html = text(response)
    # 1 delivered; 2 routes out for 30 minutes each = 1 driver hour, 1 stop closed
    assert kpi(html, "stops_per_hour") == "1.0"
    assert kpi(html, "first_attempt_rate") == "100 %"
    assert kpi(html, "on_time_rate") == "100 %"
    assert kpi(html, "mean_rating") == "4.0 ★"
    assert kpi(html, "response_rate") == "100 %"
    assert kpi(html, "zero_emission_share") == "0 %"
    assert "÷ delivered parcels" in html  # the definitions sit next to the numbers
    assert html.count("<svg") == 3
    assert "Driver0 Test" in html and "Driver1 Test" in html
    assert 'href="/support/ops/kpis.csv?date=' in html


def test_one_driver(supervisor, day) -> None:  # type: ignore[no-untyped-def]
    html = text(supervisor.get(f"/support/ops?driver={day.driver_ids[1]}"))
    assert kpi(html, "stops_per_hour") == "0.0"  # half an hour out, nothing closed
    assert kpi(html, "cost_per_delivery") == "—"  # nothing delivered: no number


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ("date=yesterday", 400, "is not a day"),
        ("depot=abc", 400, "Choose a depot"),
        ("driver=-1", 400, "Choose a driver"),
        ("depot=999", 404, "There is no depot"),
    ],
)
def test_a_bad_filter_is_a_clear_4xx(supervisor, query, status, words) -> None:  # type: ignore[no-untyped-def]
    response = supervisor.get(f"/support/ops?{query}")
    assert response.status_code == status
    assert words in text(response)


def test_the_csv(supervisor, day) -> None:  # type: ignore[no-untyped-def]
    response = supervisor.get(f"/support/ops/kpis.csv?date={day.service_date}&depot={day.depot_id}")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(text(response))))
    assert [r["driver"] for r in rows] == ["Driver0 Test", "Driver1 Test", "all"]
    assert rows[-1]["delivered"] == "1"
    assert rows[-1]["mean_rating"] == "4.00"
    assert rows[-1]["stops_per_hour"] == "1.00"
    assert supervisor.get("/support/ops/kpis.csv?date=2026-13-01").status_code == 400


def test_the_fleet_map_lists_the_drivers_and_flags_the_late_stop(supervisor, day, services) -> None:  # type: ignore[no-untyped-def]
    gps_intake.record_positions(
        services, day.driver_ids[0], [ping(52.53, 13.41, at=services.clock.now())]
    )
    response = supervisor.get(f"/support/ops/fleet?depot={day.depot_id}")
    assert response.status_code == 200
    html = text(response)
    assert html.count('data-testid="fleet-driver"') == 2
    assert 'data-testid="late-count">1 late<' in html
    data = json.loads(re.search(r'id="fleet-data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    drivers = {d["id"]: d for d in data["fleet"]["drivers"]}
    assert drivers[day.driver_ids[0]]["position"] == [52.53, 13.41]
    assert [s["late"] for s in drivers[day.driver_ids[1]]["stops"]] == [True]
    assert len(drivers[day.driver_ids[0]]["stops"]) == 1  # the delivered stop is not left to visit
    again = supervisor.get(f"/support/ops/fleet.json?depot={day.depot_id}").get_json()
    assert again["drivers"] == data["fleet"]["drivers"]


def test_an_unknown_depot_has_no_fleet(supervisor) -> None:  # type: ignore[no-untyped-def]
    assert supervisor.get("/support/ops/fleet?depot=999").status_code == 404
    assert supervisor.get("/support/ops/fleet.json?depot=x").status_code == 400


@pytest.mark.parametrize(
    "path",
    ["/support/ops", "/support/ops/kpis.csv", "/support/ops/fleet", "/support/ops/fleet.json"],
)
def test_an_agent_gets_403_and_nobody_signed_in_goes_to_sign_in(client, app, day, path) -> None:  # type: ignore[no-untyped-def]
    anonymous = app.test_client()
    response = anonymous.get(path)
    assert response.status_code == 303 and response.headers["Location"].endswith("/support/login")
    assert sign_in(client, "agent").status_code == 303
    assert client.get(path).status_code == 403


def test_the_pages_keep_the_csp(supervisor) -> None:  # type: ignore[no-untyped-def]
    for path in ("/support/ops", "/support/ops/fleet"):
        response = supervisor.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
        html = text(response)
        assert " style=" not in html
        assert not re.search(r"<script(?![^>]*(src=|type=\"application/json\"))", html)
