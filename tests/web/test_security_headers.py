"""Security headers on every response: pages, JSON, errors and static files alike."""

from __future__ import annotations

import logging
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest

from lastmile_portal import create_app
from tests.builders import DRIVER_TOKEN, make_delivery, make_route, make_world
from tests.conftest import base_config

# MAP_TILE_URL=none in the tests: images come from this app (and data: URLs) only.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
    "object-src 'none'"
)
JSON_PREFIXES = ("/api/", "/webhooks/", "/healthz")
PARAMETER = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
DUMMY = {"int": "1", "float": "1.5", "uuid": "00000000-0000-0000-0000-000000000000"}


def _rule_cases() -> list[tuple[str, str]]:
    """Return (method, rule) for every URL rule of a freshly built app, plus the extras."""
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            app = create_app(base_config(Path(tmp)))
        except Exception:
            # An app that does not build fails every test that uses it, with its traceback;
            # failing here would stop the collection of the whole suite instead.
            app = None
        for rule in app.url_map.iter_rules() if app else ():
            methods = rule.methods or {"GET"}
            method = "GET" if "GET" in methods else sorted(methods - {"HEAD", "OPTIONS"})[0]
            cases.append((method, rule.rule))
    return [
        *sorted(cases, key=lambda c: c[1]),
        ("GET", "/no/such/page"),  # 404 page
        ("GET", "/api/v1/no-such-endpoint"),  # 404 JSON
        ("DELETE", "/healthz"),  # 405 JSON
        ("GET", "/static/css/app.css"),  # a real static file
        ("GET", "/static/no-such-file.js"),  # a missing one
    ]


def _url(rule: str) -> str:
    """Fill a rule's path parameters with dummy values of the converter's kind."""
    return PARAMETER.sub(lambda m: DUMMY.get(m["converter"] or "", "dummy"), rule)


def assert_security_headers(response: Any) -> None:
    headers = response.headers
    assert headers["Content-Security-Policy"] == CSP
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    policy = headers["Permissions-Policy"]
    assert "camera=(self)" in policy and "microphone=()" in policy and "payment=()" in policy
    # Plain http here: HSTS would be ignored by browsers and wrong for a local deployment.
    assert "Strict-Transport-Security" not in headers


@pytest.mark.parametrize(("method", "rule"), _rule_cases(), ids=lambda v: v)
def test_every_response_carries_the_security_headers(client, method: str, rule: str) -> None:
    url = _url(rule)

    response = client.open(url, method=method)

    # Dummy values are bad input: a clear 4xx (or the page), never a server error.
    assert response.status_code < 500, response.get_data(as_text=True)
    assert_security_headers(response)
    if response.status_code >= 400:
        assert response.headers["Cache-Control"] == "no-store"
        if url.startswith(JSON_PREFIXES):
            body = response.get_json()
            assert set(body) == {"error", "status"} and body["status"] == response.status_code


def test_static_files_keep_their_caching(client) -> None:
    response = client.get("/static/js/track.js")

    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
    assert response.headers.get("ETag")
    assert_security_headers(response)


def test_tracking_page_and_driver_api_are_not_stored(client, services) -> None:
    world = make_world(services)
    delivery = make_delivery(world)
    make_route(world, [delivery])

    page = client.get(f"/t/{delivery.tracking_token}")
    manifest = client.get(
        "/api/v1/driver/manifest", headers={"Authorization": f"Bearer {DRIVER_TOKEN}"}
    )

    assert page.status_code == 200 and manifest.status_code == 200
    for response in (page, manifest):
        assert response.headers["Cache-Control"] == "no-store"
        assert_security_headers(response)


def test_hsts_only_over_https(client) -> None:
    assert "Strict-Transport-Security" not in client.get("/healthz").headers

    secure = client.get("/healthz", base_url="https://localhost")

    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_hsts_from_the_proxy_scheme_only_when_proxies_are_trusted(config) -> None:
    behind_proxy = create_app({**config, "TRUSTED_PROXIES": "1"}).test_client()
    exposed = create_app(config).test_client()
    forwarded = {"X-Forwarded-Proto": "https"}

    assert "Strict-Transport-Security" in behind_proxy.get("/healthz", headers=forwarded).headers
    assert "Strict-Transport-Security" not in exposed.get("/healthz", headers=forwarded).headers


def test_method_not_allowed_says_which_methods_are(client) -> None:
    response = client.get("/api/v1/driver/positions")

    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"POST"}
    assert response.get_json() == {"error": "That method is not allowed here.", "status": 405}


def test_a_missing_driver_token_asks_for_a_bearer_token(client) -> None:
    response = client.get("/api/v1/driver/manifest")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert set(response.get_json()) == {"error", "status"}


@pytest.mark.parametrize(
    ("tile_url", "img_src"),
    [
        ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "https://tile.openstreetmap.org"),
        ("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png", "https://*.tile.openstreetmap.org"),
        ("http://tiles-{s}.example.test:8080/{z}/{x}/{y}.png?key=k", "http://*.example.test:8080"),
        ("/tiles/{z}/{x}/{y}.png", ""),  # served by this app: 'self' covers it
        ("none", ""),
    ],
)
def test_map_tiles_origin_is_allowed_for_images(config, tile_url: str, img_src: str) -> None:
    client = create_app({**config, "MAP_TILE_URL": tile_url}).test_client()

    csp = client.get("/healthz").headers["Content-Security-Policy"]

    expected = f"img-src 'self' data: {img_src};" if img_src else "img-src 'self' data:;"
    assert expected in csp


@pytest.mark.parametrize(("base_url", "secure"), [("https://track.example", True), ("", False)])
def test_session_cookie_is_secure_when_served_over_https(
    config, base_url: str, secure: bool
) -> None:
    app = create_app({**config, "PUBLIC_BASE_URL": base_url})

    assert app.config["SESSION_COOKIE_SECURE"] is secure
    assert app.config["REMEMBER_COOKIE_SECURE"] is secure


@pytest.mark.parametrize(
    ("extra", "level"),
    [
        ({}, logging.WARNING),
        ({"ACCESS_LOG": "true"}, logging.INFO),
        ({"LOG_LEVEL": "DEBUG"}, logging.INFO),
        ({"LOG_LEVEL": "ERROR"}, logging.ERROR),
    ],
)
def test_access_log_only_when_asked_for(config, extra: dict[str, str], level: int) -> None:
    # One INFO line per request is Werkzeug's access log: every driver ping otherwise.
    create_app({**config, "LOG_LEVEL": "INFO", **extra})

    assert logging.getLogger("werkzeug").level == level


def test_socketio_polling_answers_carry_the_headers_too(client) -> None:
    # Engine.IO answers these in front of Flask: the WSGI wrapper completes their headers.
    response = client.get("/socket.io/?EIO=4&transport=polling")

    assert response.status_code == 200 and response.get_data(as_text=True).startswith("0{")
    assert_security_headers(response)
    assert response.headers["Cache-Control"] == "no-store"
    secure = client.get("/socket.io/?EIO=4&transport=polling", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")
