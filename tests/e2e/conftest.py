"""A real server on 127.0.0.1:<free port> in a thread, serving a freshly seeded demo city."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from lastmile_portal import create_app
from lastmile_portal.adapters.migrations import upgrade
from lastmile_portal.domain import model as m
from tests.conftest import base_config
from tests.servers import LiveServer


def make_live_app(tmp: Any) -> Any:
    app = create_app(base_config(tmp, DEMO="true", JOB_BACKEND="thread"))
    upgrade(app.config["SETTINGS"].database_url)
    return app


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return make_live_app(tmp_path_factory.mktemp("e2e"))


@pytest.fixture(scope="module")
def live_server(live_app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    server = LiveServer(live_app)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def demo_links(live_app) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Return `flask --app app demo-links --json` as the operator would get it."""
    result = live_app.test_cli_runner().invoke(args=["demo-links", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def near_delivery(app: Any, demo: dict[str, Any], position: int = 1) -> dict[str, Any]:
    """Return a demo delivery at ``position`` (0 = next) on some route, with its driver's token."""
    services = app.extensions["lastmile"]
    tokens = {d["id"]: d["token"] for d in demo["drivers"]}
    with services.uow() as uow:
        for route in uow.repo.routes_on(services.today()):
            stops = [s for s in route.ordered_stops() if s.is_open]
            if len(stops) <= position:
                continue
            parcels = uow.repo.deliveries_at_stop(stops[position].id)
            if parcels and parcels[0].option is m.DeliveryOption.DOOR:
                d = parcels[0]
                return {
                    "token": d.tracking_token,
                    "delivery_id": d.id,
                    "driver_id": route.driver_id,
                    "driver_token": tokens[route.driver_id],
                    "stop_id": stops[position].id,
                    "lat": d.lat,
                    "lng": d.lng,
                }
    raise AssertionError("no suitable demo delivery")
