"""Addresses without coordinates: the Nominatim adapter against a local fake Nominatim."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lastmile_portal.adapters.nominatim import NominatimGeocoder
from lastmile_portal.domain.errors import ServiceUnavailable
from lastmile_portal.domain.routing import Point
from lastmile_portal.services import api_keys
from tests.builders import make_world
from tests.web.test_integration_api import announcement

# The answer of /search?format=jsonv2 as Nominatim documents it (fields trimmed).
INVALIDENSTRASSE = {
    "place_id": 132713913,
    "licence": "Data © OpenStreetMap contributors, ODbL 1.0.",
    "osm_type": "way",
    "osm_id": 24916950,
    "lat": "52.5308837",
    "lon": "13.3847118",
    "category": "building",
    "type": "yes",
    "place_rank": 30,
    "importance": 0.00001,
    "addresstype": "building",
    "name": "",
    "display_name": "117, Invalidenstraße, Mitte, Berlin, 10115, Deutschland",
    "boundingbox": ["52.5306", "52.5311", "13.3843", "13.3851"],
}


class FakeNominatim(BaseHTTPRequestHandler):
    """Answer /search like Nominatim: one known street, [] for anything else."""

    queries: list[dict[str, str]] = []
    mode = "ok"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        type(self).queries.append({**query, "path": url.path, "ua": self.headers["User-Agent"]})
        if self.mode == "down":
            self._send(503, b"<html>overloaded</html>", "text/html")
            return
        known = "invaliden" in query.get("street", "").casefold()
        body = json.dumps([INVALIDENSTRASSE] if known else []).encode()
        self._send(200, body, "application/json")

    def _send(self, status: int, data: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def nominatim() -> Iterator[str]:
    FakeNominatim.queries = []
    FakeNominatim.mode = "ok"
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeNominatim)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_adapter_asks_a_structured_search_and_remembers_the_answer(nominatim) -> None:  # type: ignore[no-untyped-def]
    geocoder = NominatimGeocoder(nominatim, min_interval_s=0)

    first = geocoder.locate("Invalidenstraße 117", "10115", "Berlin", "DE")
    again = geocoder.locate("invalidenstraße 117", "10115", "BERLIN", "de")

    assert first == again == Point(52.5308837, 13.3847118)
    [query] = FakeNominatim.queries  # the second came from the cache
    assert query["path"] == "/search" and query["format"] == "jsonv2"
    assert (query["street"], query["postalcode"], query["city"]) == (
        "Invalidenstraße 117",
        "10115",
        "Berlin",
    )
    assert query["countrycodes"] == "de" and query["limit"] == "1"
    assert query["ua"].startswith("lastmile-portal/")
    assert geocoder.locate("Nowhere 1", "99999", "Atlantis", None) is None


def test_a_server_that_is_down_is_a_clear_unavailability(nominatim) -> None:  # type: ignore[no-untyped-def]
    FakeNominatim.mode = "down"

    with pytest.raises(ServiceUnavailable, match="geocoder"):
        NominatimGeocoder(nominatim, min_interval_s=0).locate(
            "Invalidenstraße 1", "10115", "Berlin", None
        )
    with pytest.raises(ServiceUnavailable):
        NominatimGeocoder("http://127.0.0.1:9", min_interval_s=0, timeout_s=0.5).locate(
            "Invalidenstraße 1", "10115", "Berlin", None
        )


@pytest.fixture
def config(config, nominatim):  # type: ignore[no-untyped-def]
    return {**config, "GEOCODER_URL": nominatim, "GEOCODER_MIN_INTERVAL_S": "0"}


def _without_position(services, **changes):  # type: ignore[no-untyped-def]
    body = announcement(services, **changes)
    del body["address"]["lat"], body["address"]["lng"]
    return body


def test_an_announcement_without_coordinates_is_placed_by_the_geocoder(client, services) -> None:  # type: ignore[no-untyped-def]
    make_world(services)
    key = {"Authorization": f"Bearer {api_keys.create_api_key(services, 'erp').key}"}

    placed = client.post("/api/v1/deliveries", json=_without_position(services), headers=key)
    unknown = _without_position(services, reference="ORDER-2")
    unknown["address"]["line"] = "Gibtsnichtweg 9"
    missing = client.post("/api/v1/deliveries", json=unknown, headers=key)

    assert placed.status_code == 201, placed.get_json()
    with services.uow() as uow:
        d = uow.repo.delivery_by_tracking_number(placed.get_json()["tracking_number"])
        assert (d.lat, d.lng) == (52.5308837, 13.3847118)
    assert missing.status_code == 422
    assert "could not be found" in missing.get_json()["fields"]["address"]


def test_a_geocoder_that_is_down_answers_503_and_stores_nothing(client, services) -> None:  # type: ignore[no-untyped-def]
    make_world(services)
    key = {"Authorization": f"Bearer {api_keys.create_api_key(services, 'erp').key}"}
    FakeNominatim.mode = "down"

    response = client.post("/api/v1/deliveries", json=_without_position(services), headers=key)

    assert response.status_code == 503
    FakeNominatim.mode = "ok"
    again = client.post("/api/v1/deliveries", json=_without_position(services), headers=key)
    assert again.status_code == 201  # the same request later goes through
