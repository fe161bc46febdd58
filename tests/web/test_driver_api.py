"""The driver's JSON API over HTTP: bearer tokens, batches, clear errors, own stops only."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from lastmile_portal.domain import model as m
from tests.builders import DRIVER_TOKEN, OTHER_DRIVER_TOKEN, make_delivery, make_route, make_world


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


def _post(client, token, body):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post("/api/v1/driver/positions", json=body, headers=headers)


def test_batch_of_pings_is_stored_and_moves_the_driver(client, services, world, clock) -> None:
    now = clock.now()
    batch = [
        {
            "lat": 52.50 + i / 1000,
            "lng": 13.40,
            "recorded_at": (now - timedelta(seconds=30 - 10 * i)).isoformat(),
            "speed": 5.5,
            "heading": 90,
            "accuracy": 8,
        }
        for i in range(3)
    ]

    response = _post(client, DRIVER_TOKEN, {"positions": batch})

    assert response.status_code == 200
    assert response.get_json() == {"accepted": 3, "ignored": 0, "flagged": 0, "rejected": []}
    with services.uow() as uow:
        driver = uow.repo.get(m.Driver, world.driver_ids[0])
        assert (driver.last_lat, driver.last_lng) == (52.502, 13.40)
        assert uow.repo.last_position(world.driver_ids[0]).speed == 5.5


def test_an_offline_buffer_flushed_late_does_not_move_the_driver_back(
    client, services, world, clock
) -> None:
    now = clock.now()
    _post(
        client,
        DRIVER_TOKEN,
        {"positions": [{"lat": 52.6, "lng": 13.4, "recorded_at": now.isoformat()}]},
    )
    old = [
        {"lat": 52.5, "lng": 13.4, "recorded_at": (now - timedelta(minutes=m)).isoformat()}
        for m in (1, 2)
    ]

    response = _post(client, DRIVER_TOKEN, {"positions": old + old})

    assert response.get_json() == {"accepted": 0, "ignored": 4, "flagged": 0, "rejected": []}
    with services.uow() as uow:
        assert uow.repo.get(m.Driver, world.driver_ids[0]).last_lat == 52.6


@pytest.mark.parametrize("token", [None, "", "short", "x" * 40, OTHER_DRIVER_TOKEN + "x"])
def test_missing_or_wrong_token_is_401(client, world, clock, token) -> None:
    body = {"positions": [{"lat": 52.5, "lng": 13.4, "recorded_at": clock.now().isoformat()}]}
    response = _post(client, token, body)
    assert response.status_code == 401
    assert "driver token" in response.get_json()["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "JSON object"),
        ({}, "positions"),
        ({"positions": []}, "positions"),
        ({"positions": "nope"}, "positions"),
        (
            {"positions": [{"lat": 91, "lng": 13, "recorded_at": "2026-11-25T09:00:00Z"}]},
            "lat must be",
        ),
        ({"positions": [{"lat": 52, "lng": 13, "recorded_at": "yesterday"}]}, "ISO 8601"),
        (
            {"positions": [{"lat": 52, "lng": 13, "recorded_at": "2026-11-25T09:00:00"}]},
            "UTC offset",
        ),
        ({"positions": [{"lat": 52, "lng": 13, "recorded_at": "2026-11-25T12:00:00Z"}]}, "future"),
        (
            {
                "positions": [
                    {"lat": 52, "lng": 13, "recorded_at": "2026-11-25T09:00:00Z", "speed": "fast"}
                ]
            },
            "speed",
        ),
    ],
)
def test_bad_batches_get_422_and_store_nothing(client, services, world, body, message) -> None:
    response = (
        client.post(
            "/api/v1/driver/positions",
            json=body,
            headers={"Authorization": f"Bearer {DRIVER_TOKEN}"},
        )
        if body is not None
        else client.post(
            "/api/v1/driver/positions",
            data="not json",
            headers={"Authorization": f"Bearer {DRIVER_TOKEN}", "Content-Type": "text/plain"},
        )
    )
    assert response.status_code == 422
    assert message in response.get_json()["error"]
    with services.uow() as uow:
        assert uow.repo.last_position(world.driver_ids[0]) is None


def test_an_impossible_jump_is_flagged_not_followed(client, services, world, clock) -> None:
    now = clock.now()
    _post(
        client,
        DRIVER_TOKEN,
        {
            "positions": [
                {
                    "lat": 52.50,
                    "lng": 13.40,
                    "recorded_at": (now - timedelta(seconds=10)).isoformat(),
                },
                {
                    "lat": 48.13,
                    "lng": 11.57,
                    "recorded_at": (now - timedelta(seconds=5)).isoformat(),
                },  # Munich
            ]
        },
    )
    with services.uow() as uow:
        driver = uow.repo.get(m.Driver, world.driver_ids[0])
        assert driver.last_lat == 52.50
        assert uow.repo.last_position(world.driver_ids[0]).suspect is True


def test_manifest_lists_only_the_drivers_own_stops_in_order(client, world) -> None:
    mine = [
        make_delivery(world, instructions=f"ring {i}", access_code=f"{i}{i}{i}{i}")
        for i in range(3)
    ]
    theirs = make_delivery(world)
    make_route(world, mine, driver_index=0)
    make_route(world, [theirs], driver_index=1)

    body = client.get(
        "/api/v1/driver/manifest", headers={"Authorization": f"Bearer {DRIVER_TOKEN}"}
    ).get_json()

    assert [s["sequence"] for s in body["stops"]] == [1, 2, 3]
    numbers = [p["tracking_number"] for s in body["stops"] for p in s["parcels"]]
    assert numbers == [d.tracking_number for d in mine]
    assert theirs.tracking_number not in numbers
    assert (
        body["stops"][0]["parcels"][0]["access_code"] == "0000"
    )  # the driver needs it at the door
    assert client.get("/api/v1/driver/manifest").status_code == 401


def test_openapi_describes_every_json_endpoint(client, app) -> None:
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    # Flask's "<int:stop_id>" is OpenAPI's "{stop_id}".
    json_rules = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", r.rule)
        for r in app.url_map.iter_rules()
        if r.rule.startswith("/api/v1/")
    } | {"/healthz"}
    assert json_rules <= set(spec["paths"])


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 50_000 + b"]" * 50_000,
        b'{"positions": [{"lat": NaN, "lng": 13, "recorded_at": "2026-11-25T09:00:00Z"}]}',
        b'{"positions": [{"lat": 1e999, "lng": 13, "recorded_at": "2026-11-25T09:00:00Z"}]}',
        b'{"positions": [{"lat": 1'
        + b"0" * 400
        + b', "lng": 13, "recorded_at": "2026-11-25T09:00:00Z"}]}',
        b'{"positions": [{"lat": 1'
        + b"0" * 5000
        + b', "lng": 13, "recorded_at": "2026-11-25T09:00:00Z"}]}',
        b"\xff\xfe not even text",
    ],
    ids=["deep-nesting", "nan", "beyond-float", "huge-int", "longer-than-python-reads", "binary"],
)
def test_json_that_python_chokes_on_is_a_clear_4xx(client, services, world, raw) -> None:
    response = client.post(
        "/api/v1/driver/positions",
        data=raw,
        headers={"Authorization": f"Bearer {DRIVER_TOKEN}", "Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422)
    assert response.get_json()["status"] == response.status_code
    with services.uow() as uow:
        assert uow.repo.last_position(world.driver_ids[0]) is None


def test_a_body_larger_than_any_batch_is_refused_before_it_is_read(client, world) -> None:
    response = client.post(
        "/api/v1/driver/positions",
        data=b"[" + b" " * (2 * 1024 * 1024) + b"]",
        headers={"Authorization": f"Bearer {DRIVER_TOKEN}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.get_json()["status"] == 413


def test_every_ping_answer_says_what_is_left_of_the_drivers_budget(config, clock) -> None:  # type: ignore[no-untyped-def]
    from lastmile_portal import create_app
    from lastmile_portal.adapters.socketio_publisher import RecordingPublisher

    app = create_app(
        {**config, "DRIVER_RATE_LIMIT": "2 per minute;100 per hour"},
        clock=clock,
        publisher=RecordingPublisher(),
    )
    make_world(app.extensions["lastmile"])
    client = app.test_client()

    def ping():  # type: ignore[no-untyped-def]
        clock.advance(seconds=1)
        fix = {"lat": 52.5, "lng": 13.4, "recorded_at": clock.now().isoformat()}
        return _post(client, DRIVER_TOKEN, {"positions": [fix]})

    answers = [ping(), ping(), ping()]

    assert [a.status_code for a in answers] == [200, 200, 429]
    # The shortest window is the one reported, after this ping was counted.
    assert [a.headers["X-RateLimit-Limit"] for a in answers] == ["2", "2", "2"]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["1", "0", "0"]
    for answer in answers:
        assert 0 < int(answer.headers["Retry-After"]) <= 60
        assert int(answer.headers["X-RateLimit-Reset"]) > 0
        # Counted once: no second set of headers from Flask-Limiter.
        assert len(answer.headers.getlist("X-RateLimit-Limit")) == 1
    assert answers[2].get_json()["status"] == 429
