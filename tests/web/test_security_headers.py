"""Security headers on every response: pages, JSON, errors and static files alike."""

from __future__ import annotations

import logging

import pytest

from lastmile_portal import create_app


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
