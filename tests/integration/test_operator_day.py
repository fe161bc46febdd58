"""A new carrier's first day on PostgreSQL, as an operator would run it, with no demo at all.

Empty database → load-network → an API key → parcels by the API and by a CSV file → plan →
dispatch → dispatched texts with tracking links in the outbox → a driver's ping → the
tracking page shows the ETA → the carrier's own receiver got signed status events.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from lastmile_portal import create_app
from lastmile_portal.adapters.migrations import upgrade
from lastmile_portal.domain import model as m
from lastmile_portal.domain.webhook_signing import SIGNATURE_HEADER, verify
from lastmile_portal.services import webhooks
from tests.conftest import base_config
from tests.servers import ROOT
from tests.webhook_receiver import WebhookReceiver

NETWORK = ROOT / "docs" / "network.example.toml"
# Addresses in the example depot's service area (Hamburg-Altona, postcodes 227..).
STREETS = [
    ("Große Bergstraße 150", "22767", 53.5520, 9.9390),
    ("Ottenser Hauptstraße 10", "22765", 53.5530, 9.9300),
    ("Bahrenfelder Straße 80", "22765", 53.5560, 9.9250),
    ("Max-Brauer-Allee 90", "22765", 53.5560, 9.9420),
    ("Holstenstraße 120", "22767", 53.5570, 9.9480),
    ("Barnerstraße 30", "22765", 53.5570, 9.9310),
]


@pytest.fixture
def app(postgres_url, tmp_path, clock, publisher):  # type: ignore[no-untyped-def]
    app = create_app(
        base_config(tmp_path, DATABASE_URL=postgres_url, OPTIMIZER_TIME_LIMIT="1"),
        clock=clock,
        publisher=publisher,
    )
    upgrade(app.config["SETTINGS"].database_url)
    return app


@pytest.fixture
def receiver():  # type: ignore[no-untyped-def]
    r = WebhookReceiver().start()
    yield r
    r.stop()


def _run(app: Any, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_a_carriers_first_day_from_an_empty_database(app, clock, receiver, tmp_path) -> None:  # type: ignore[no-untyped-def]
    services = app.extensions["lastmile"]
    client = app.test_client()
    with services.uow() as uow:
        assert uow.repo.all(m.Depot) == [] and uow.repo.all(m.Delivery) == []

    # The network from the carrier's file; keys and a subscriber from the command line.
    assert "HAM-1" in _run(app, "load-network", str(NETWORK))
    created = app.test_cli_runner().invoke(
        args=["api-key", "create", "erp", "--scope", "deliveries:write", "--scope", "routes:write"]
    )
    assert created.exit_code == 0, created.output
    key = {"Authorization": f"Bearer {created.stdout.strip().splitlines()[0]}"}
    hook = _run(
        app, "webhook", "add", receiver.url + "/lastmile", "--events", "delivery.status_changed"
    )
    secret = re.search(r"whsec_\S+", hook).group(0)  # type: ignore[union-attr]

    # Parcels: three by the API, three by a CSV file.
    start, end = clock.now() + timedelta(hours=1), clock.now() + timedelta(hours=7)
    for i, (line, postcode, lat, lng) in enumerate(STREETS[:3]):
        answer = client.post(
            "/api/v1/deliveries",
            headers=key,
            json={
                "reference": f"SO-{i}",
                "depot": "HAM-1",
                "recipient": {"name": f"Kunde {i}", "phone": f"+49 40 2312{5100 + i}"},
                "address": {
                    "line": line,
                    "postcode": postcode,
                    "city": "Hamburg",
                    "lat": lat,
                    "lng": lng,
                },
                "window": {"start": start.isoformat(), "end": end.isoformat()},
                "parcel": {"size": "S"},
            },
        )
        assert answer.status_code == 201, answer.get_json()
    csv = tmp_path / "today.csv"
    csv.write_text(
        "reference,name,phone,address,postcode,city,lat,lng,window_start,window_end,size\n"
        + "".join(
            f"CSV-{i},Kundin {i},+49 40 2312{5200 + i},{line},{postcode},Hamburg,{lat},{lng},"
            f"{start.isoformat()},{end.isoformat()},M\n"
            for i, (line, postcode, lat, lng) in enumerate(STREETS[3:])
        ),
        encoding="utf-8",
    )
    assert "Imported 3 parcels" in _run(app, "import-deliveries", str(csv), "--depot", "HAM-1")

    # Plan the day through the API (a job), then send every route out.
    queued = client.post("/api/v1/depots/HAM-1/plan", headers=key)
    assert queued.status_code == 202, queued.get_json()
    job = client.get(queued.headers["Location"], headers=key).get_json()
    assert job["state"] == "done", job
    routes = job["result"]["routes"]
    assert routes and sum(r["parcels"] for r in routes) == 6 and job["result"]["dropped"] == []
    for route in routes:
        sent = client.post(f"/api/v1/routes/{route['id']}/dispatch", headers=key)
        assert sent.status_code == 200, sent.get_json()

    # Every recipient has the dispatched text with their tracking link.
    with services.uow() as uow:
        parcels = uow.repo.all(m.Delivery)
        texts = {
            d.id: [s for s in uow.repo.outbox_of(d.id) if s.kind == "dispatched"] for d in parcels
        }
        first_route = uow.repo.get(m.Route, routes[0]["id"])
        first_stop = first_route.ordered_stops()[0]
        first = uow.repo.deliveries_at_stop(first_stop.id)[0]
        driver = uow.repo.get(m.Driver, first_route.driver_id)
    assert all(
        len(t) == 1 and services.tracking_url(d.tracking_token) in t[0].body
        for d, t in zip(parcels, texts.values(), strict=True)
    )

    # The driver gets a token from the operator and pings from near the first stop.
    token = re.search(r"^\S{30,}$", _run(app, "driver-token", driver.name), re.M).group(0)  # type: ignore[union-attr]
    clock.advance(minutes=5)
    ping = client.post(
        "/api/v1/driver/positions",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "positions": [
                {
                    "lat": first_stop.lat - 0.003,
                    "lng": first_stop.lng,
                    "recorded_at": clock.now().isoformat(),
                }
            ]
        },
    )
    assert ping.status_code == 200 and ping.get_json()["accepted"] == 1, ping.get_json()

    # The recipient's page shows the ETA window.
    page = client.get(urlsplit(services.tracking_url(first.tracking_token)).path).get_data(
        as_text=True
    )
    eta = re.search(r'data-testid="eta">(\d\d:\d\d)–(\d\d:\d\d)<', page)
    assert eta, page[:2000]

    # The carrier's receiver got each parcel's move out for delivery, signed.
    webhooks.send_due(services)
    got = receiver.to("/lastmile")
    assert {
        g.json["delivery"]["tracking_number"]
        for g in got
        if g.json["data"]["new"] == "out_for_delivery"
    } == {d.tracking_number for d in parcels}
    assert all(
        verify(secret, g.headers[SIGNATURE_HEADER], g.body, clock.now().timestamp()) for g in got
    )
