"""Health, the operator CLI contract, and what happens when the database is unreachable."""

from __future__ import annotations

import json
from datetime import timedelta

from lastmile_portal import create_app
from tests.conftest import base_config

UNREACHABLE_DB = "postgresql://postgres@127.0.0.1:1/nowhere"


def test_healthz_reports_each_dependency(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok"}
    assert body["jobs"] == "inline" and body["sms"] == "fake"


def test_healthz_checks_redis_when_configured(tmp_path, clock, publisher, redis_url) -> None:
    app = create_app(
        base_config(tmp_path, SOCKETIO_MESSAGE_QUEUE=redis_url), clock=clock, publisher=publisher
    )
    body = app.test_client().get("/healthz").get_json()
    assert body["checks"]["socketio_message_queue"] == "ok"
    assert body["socketio_message_queue"] is True


def test_unreachable_database_gives_503_not_a_stack_trace(tmp_path, clock, publisher) -> None:
    app = create_app(
        base_config(tmp_path, DATABASE_URL=UNREACHABLE_DB), clock=clock, publisher=publisher
    )
    client = app.test_client()

    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["checks"]["database"].startswith("error:")

    page = client.get("/t/abcdefghijklmnopqrstuvwxyz012345")
    assert page.status_code == 503
    text = page.get_data(as_text=True)
    assert "temporarily unavailable" in text
    assert "Traceback" not in text and "psycopg" not in text


def test_migrate_command_explains_an_unreachable_database(tmp_path, clock, publisher) -> None:
    app = create_app(
        base_config(tmp_path, DATABASE_URL=UNREACHABLE_DB), clock=clock, publisher=publisher
    )
    result = app.test_cli_runner().invoke(args=["migrate"])
    assert result.exit_code == 1
    assert (
        "Cannot reach the database at postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
        in result.output
    )
    assert "Traceback" not in result.output


def test_demo_links_prints_one_line_per_delivery(app) -> None:
    result = app.test_cli_runner().invoke(args=["demo-links"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 80
    number, url = lines[0].split(" ")
    assert number.startswith("LM") and "/t/" in url


def test_demo_links_json_contract_gives_working_links(app, client) -> None:
    result = app.test_cli_runner().invoke(args=["demo-links", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)

    assert set(payload) == {"deliveries", "drivers", "staff"}
    assert set(payload["staff"]) == {"email", "password"}
    assert len(payload["drivers"]) == 6
    assert all(set(d) == {"id", "name", "token"} for d in payload["drivers"])
    deliveries = payload["deliveries"]
    assert len(deliveries) == 80
    assert all(
        set(d) == {"tracking_number", "url", "token", "driver_id", "phone"} for d in deliveries
    )
    assert all(d["phone"].startswith("+493023125") for d in deliveries)
    assert len({d["token"] for d in deliveries}) == 80
    planned = [d for d in deliveries if d["driver_id"] is not None]
    assert len(planned) >= 75
    for d in deliveries[:5]:
        assert d["url"].endswith("/t/" + d["token"])
        assert client.get("/t/" + d["token"]).status_code == 200


def test_demo_seeding_is_idempotent(app) -> None:
    runner = app.test_cli_runner()
    runner.invoke(args=["demo-seed"])
    first = json.loads(runner.invoke(args=["demo-links", "--json"]).output)
    assert "already there" in runner.invoke(args=["demo-seed"]).output
    second = json.loads(runner.invoke(args=["demo-links", "--json"]).output)
    assert first == second


def test_bad_environment_value_is_explained_without_a_traceback(tmp_path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "PORT": "abc", "INSTANCE_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Configuration error: PORT must be a whole number, not 'abc'." in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_is_replaced_when_it_is_from_an_earlier_day(app, clock) -> None:
    runner = app.test_cli_runner()
    yesterday = json.loads(runner.invoke(args=["demo-links", "--json"]).output)
    clock.advance(days=1)
    today = json.loads(runner.invoke(args=["demo-links", "--json"]).output)
    assert len(today["deliveries"]) == 80
    assert {d["token"] for d in today["deliveries"]}.isdisjoint(
        {d["token"] for d in yesterday["deliveries"]}
    )
    assert sum(d["driver_id"] is not None for d in today["deliveries"]) >= 75


def test_purge_positions_command_says_what_it_deleted(app, services, clock) -> None:  # type: ignore[no-untyped-def]
    from lastmile_portal.domain import model as m
    from tests.builders import make_world

    world = make_world(services, vehicles=1)
    old = clock.now() - timedelta(days=40)
    with services.uow() as uow:
        for minutes in range(3):
            at = old + timedelta(minutes=minutes)
            uow.repo.add(
                m.DriverPosition(
                    driver_id=world.driver_ids[0],
                    lat=52.5,
                    lng=13.4,
                    recorded_at=at,
                    received_at=at,
                )
            )
        uow.commit()

    result = app.test_cli_runner().invoke(args=["purge-positions"])

    assert result.exit_code == 0, result.output
    assert "Deleted 3 driver positions recorded before" in result.output
    assert "(retention 30 days)" in result.output


def test_serving_collects_young_garbage_less_often(app) -> None:  # type: ignore[no-untyped-def]
    # A full collection over a server with thousands of socket threads stalls every thread
    # for ~200 ms; the serving process (gunicorn's worker calls start_serving) makes the
    # young passes that lead to it rarer, and nothing else.
    import gc

    from lastmile_portal import server

    before = gc.get_threshold()
    try:
        server.start_serving(app, None)
        assert gc.get_threshold() == (server.GC_YOUNG_THRESHOLD, *before[1:])
    finally:
        gc.set_threshold(*before)
