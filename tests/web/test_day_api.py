"""A carrier's system plans a depot's day over the API, follows the job, and sends routes out.

The real OR-Tools optimizer (OPTIMIZER_TIME_LIMIT=1 in tests), the inline job queue (the job
runs before the 202 is answered), fake SMS.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lastmile_portal.domain import model as m
from lastmile_portal.domain.status import DeliveryStatus
from lastmile_portal.services import api_keys, day_jobs
from tests.builders import make_delivery, make_world
from tests.fuzz.test_intake_properties import json_like

WINDOWS = [(1, 4), (0, 3), (2, 5), (1, 3), (3, 6), (0, 2)]


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


@pytest.fixture
def key(services, world) -> dict[str, str]:  # type: ignore[no-untyped-def]
    issued = api_keys.create_api_key(services, "dispatch-erp", ["routes:write"])
    return {"Authorization": f"Bearer {issued.key}"}


def parcels(world, n: int = 6) -> list[m.Delivery]:  # type: ignore[no-untyped-def]
    return [make_delivery(world, window_hours=WINDOWS[i % len(WINDOWS)]) for i in range(n)]


def plan(client, key, body=None):  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/depots/TST/plan", json=body, headers=key)
    assert response.status_code == 202, response.get_json()
    return response


def test_plan_then_dispatch_texts_every_recipient_their_tracking_link(  # type: ignore[no-untyped-def]
    client, services, world, key
) -> None:
    ds = parcels(world)

    response = plan(client, key)

    job = response.get_json()
    assert response.headers["Location"] == f"/api/v1/jobs/{job['id']}"
    polled = client.get(response.headers["Location"], headers=key)
    assert polled.status_code == 200
    job = polled.get_json()
    assert job["state"] == "done", job
    assert (job["depot"], job["service_date"]) == ("TST", world.service_date.isoformat())
    assert job["error"] is None
    result = job["result"]
    assert result["planned"] == 6 and result["dropped"] == []
    assert sum(r["parcels"] for r in result["routes"]) == 6
    for r in result["routes"]:
        assert r["driver"].startswith("Driver") and r["vehicle"].startswith("VAN-")
        assert r["stops"] >= 1 and r["distance_km"] > 0
        assert r["planned_start"] < r["planned_end"]
    assert "Planned 6 parcels" in job["progress"]

    for r in result["routes"]:
        sent = client.post(f"/api/v1/routes/{r['id']}/dispatch", headers=key)
        assert sent.status_code == 200, sent.get_json()
        assert sent.get_json()["parcels"] == r["parcels"]

    with services.uow() as uow:
        for d in ds:
            stored = uow.repo.get(m.Delivery, d.id)
            assert stored.status is DeliveryStatus.OUT_FOR_DELIVERY
            (text,) = [t for t in uow.repo.outbox_of(d.id) if t.kind == "dispatched"]
            assert services.tracking_url(d.tracking_token) in text.body


def test_a_key_without_routes_write_is_refused(client, services, world) -> None:  # type: ignore[no-untyped-def]
    issued = api_keys.create_api_key(services, "shop", ["deliveries:write", "deliveries:read"])
    headers = {"Authorization": f"Bearer {issued.key}"}
    parcels(world, 2)

    assert client.post("/api/v1/depots/TST/plan", headers=headers).status_code == 403
    assert client.post("/api/v1/routes/1/dispatch", headers=headers).status_code == 403
    assert client.get("/api/v1/jobs/1", headers=headers).status_code == 403
    assert client.post("/api/v1/depots/TST/plan").status_code == 401
    with services.uow() as uow:
        assert uow.repo.routes_on(world.service_date, world.depot_id) == []


def test_dispatching_a_route_twice_is_a_conflict_and_texts_once(  # type: ignore[no-untyped-def]
    client, services, world, key
) -> None:
    (d,) = parcels(world, 1)
    route_id = plan(client, key).get_json()["result"]["routes"][0]["id"]

    assert client.post(f"/api/v1/routes/{route_id}/dispatch", headers=key).status_code == 200
    again = client.post(f"/api/v1/routes/{route_id}/dispatch", headers=key)

    assert again.status_code == 409
    assert "in progress" in again.get_json()["error"]
    with services.uow() as uow:
        assert [t.kind for t in uow.repo.outbox_of(d.id)].count("dispatched") == 1
    assert client.post("/api/v1/routes/9999/dispatch", headers=key).status_code == 404


def test_planning_again_keeps_routes_that_are_out_and_plans_the_rest(  # type: ignore[no-untyped-def]
    client, services, world, key
) -> None:
    first = parcels(world, 3)
    routes = plan(client, key).get_json()["result"]["routes"]
    out = routes[0]["id"]
    client.post(f"/api/v1/routes/{out}/dispatch", headers=key)
    with services.uow() as uow:
        on_van = {
            d.id
            for d in first
            if (stop := uow.repo.get(m.Stop, uow.repo.get(m.Delivery, d.id).stop_id))
            and stop.route_id == out
        }
    late = parcels(world, 2)

    job = plan(client, key).get_json()

    assert job["state"] == "done", job
    assert job["result"]["routes_already_out"] == [out]
    assert out not in [r["id"] for r in job["result"]["routes"]]
    with services.uow() as uow:
        route = uow.repo.get(m.Route, out)
        assert route.status is m.RouteStatus.IN_PROGRESS
        for d in first:
            stored = uow.repo.get(m.Delivery, d.id)
            stop = uow.repo.get(m.Stop, stored.stop_id)
            # A parcel in the van stays on its route; the rest are planned anew.
            assert (stop.route_id == out) is (d.id in on_van)
        for d in late:
            assert uow.repo.get(m.Delivery, d.id).status is DeliveryStatus.SCHEDULED


def test_a_day_that_cannot_be_planned_fails_the_job_with_the_reason(  # type: ignore[no-untyped-def]
    client, services, world, key
) -> None:
    with services.uow() as uow:
        for driver in uow.repo.all(m.Driver):
            driver.active = False
        uow.commit()
    parcels(world, 2)

    job = plan(client, key).get_json()

    assert job["state"] == "failed"
    assert "no active drivers" in job["error"]
    assert job["result"] is None


def test_a_day_whose_vans_are_all_out_says_so_when_a_plan_fails(  # type: ignore[no-untyped-def]
    client, services, world, key
) -> None:
    parcels(world, 2)
    for r in plan(client, key).get_json()["result"]["routes"]:
        client.post(f"/api/v1/routes/{r['id']}/dispatch", headers=key)
    with services.uow() as uow:
        for driver in uow.repo.all(m.Driver)[len(world.driver_ids) - 1 :]:
            driver.active = False  # the van left at the depot has nobody to drive it
        uow.commit()
    parcels(world, 1)

    job = plan(client, key).get_json()

    assert job["state"] == "failed"
    assert "of the day out already: their drivers and vans are busy" in job["error"]


def test_bad_plan_requests_are_refused_with_the_reason(client, services, world, key) -> None:  # type: ignore[no-untyped-def]
    yesterday = (world.service_date - timedelta(days=1)).isoformat()

    past = client.post("/api/v1/depots/TST/plan", json={"date": yesterday}, headers=key)
    garbled = client.post("/api/v1/depots/TST/plan", json={"date": "tomorrow"}, headers=key)
    unknown = client.post("/api/v1/depots/NOPE/plan", headers=key)

    assert past.status_code == 422 and "in the past" in past.get_json()["error"]
    assert garbled.status_code == 422 and "2026-12-03" in garbled.get_json()["error"]
    assert unknown.status_code == 404
    assert client.get("/api/v1/jobs/4242", headers=key).status_code == 404


def test_a_later_day_is_planned_for_that_day(client, services, world, key) -> None:  # type: ignore[no-untyped-def]
    tomorrow = world.service_date + timedelta(days=1)
    d = make_delivery(
        world,
        service_date=tomorrow,
        window_start=services.clock.now() + timedelta(days=1),
        window_end=services.clock.now() + timedelta(days=1, hours=3),
    )

    job = plan(client, key, {"date": tomorrow.isoformat()}).get_json()

    assert job["state"] == "done" and job["service_date"] == tomorrow.isoformat()
    with services.uow() as uow:
        assert uow.repo.get(m.Delivery, d.id).status is DeliveryStatus.SCHEDULED
        assert uow.repo.routes_on(world.service_date, world.depot_id) == []


def test_a_plan_asked_for_while_one_waits_is_that_same_job(services, world) -> None:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        waiting = m.PlanningJob(
            depot_id=world.depot_id,
            service_date=world.service_date,
            requested_at=services.clock.now(),
        )
        uow.repo.add(waiting)
        uow.commit()
        waiting_id = waiting.id

    again = day_jobs.request_plan(services, "TST")

    assert (again.id, again.state) == (waiting_id, "queued")
    assert again.progress == "Waiting for a worker."


# ---------------------------------------------------------------- the CLI


def test_flask_plan_and_dispatch_print_the_routes_and_what_went_out(app, services, world) -> None:  # type: ignore[no-untyped-def]
    ds = parcels(world, 4)
    runner = app.test_cli_runner()

    planned = runner.invoke(args=["plan", "--depot", "TST"])

    assert planned.exit_code == 0, planned.output
    assert "Planned 4 parcels onto" in planned.stdout
    route_lines = [line for line in planned.stdout.splitlines() if line.startswith("route ")]
    assert route_lines and all("Driver" in line and " km" in line for line in route_lines)

    sent = runner.invoke(args=["dispatch", "--depot", "TST"])

    assert sent.exit_code == 0, sent.output
    assert f"Dispatched {len(route_lines)} routes, 4 parcels" in sent.stdout
    with services.uow() as uow:
        statuses = {uow.repo.get(m.Delivery, d.id).status for d in ds}
    assert statuses == {DeliveryStatus.OUT_FOR_DELIVERY}
    # Nothing is left to send out: said in one line, exit 1.
    again = runner.invoke(args=["dispatch", "--depot", "TST"])
    assert again.exit_code == 1 and "no planned routes" in again.output


def test_flask_plan_says_why_a_day_cannot_be_planned(app, services, world) -> None:  # type: ignore[no-untyped-def]
    runner = app.test_cli_runner()

    unknown = runner.invoke(args=["plan", "--depot", "NOPE"])
    past = runner.invoke(args=["plan", "--depot", "TST", "--date", "2020-01-01"])

    assert unknown.exit_code == 1 and "There is no depot 'NOPE'" in unknown.output
    assert past.exit_code == 1 and "in the past" in past.output


def test_the_day_endpoints_are_in_the_openapi_description(client) -> None:  # type: ignore[no-untyped-def]
    paths = client.get("/api/openapi.json").get_json()["paths"]

    plan_answers = paths["/api/v1/depots/{code}/plan"]["post"]["responses"]
    assert {"202", "403", "404", "422"} <= set(plan_answers)
    assert "409" in paths["/api/v1/routes/{route_id}/dispatch"]["post"]["responses"]
    job = paths["/api/v1/jobs/{job_id}"]["get"]["responses"]["200"]
    states = job["content"]["application/json"]["schema"]["properties"]["state"]["enum"]
    assert states == ["queued", "running", "done", "failed"]


def test_a_route_is_not_dispatched_while_its_day_is_being_planned(  # type: ignore[no-untyped-def]
    client, services, world, key
) -> None:
    parcels(world, 2)
    route_id = plan(client, key).get_json()["result"]["routes"][0]["id"]
    with services.uow() as uow:
        uow.repo.add(
            m.PlanningJob(
                depot_id=world.depot_id,
                service_date=world.service_date,
                requested_at=services.clock.now(),
            )
        )
        uow.commit()

    refused = client.post(f"/api/v1/routes/{route_id}/dispatch", headers=key)

    assert refused.status_code == 409
    assert "dispatch once it is done" in refused.get_json()["error"]
    with services.uow() as uow:
        assert uow.repo.get(m.Route, route_id).status is m.RouteStatus.PLANNED


@settings(
    max_examples=80,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    body=json_like
    | st.fixed_dictionaries({"date": json_like | st.dates().map(lambda d: d.isoformat())})
)
def test_no_plan_request_body_breaks_the_endpoint(client, world, key, body) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/depots/TST/plan", json=body, headers=key)

    assert response.status_code in (202, 422), (body, response.get_json())
    if response.status_code == 202:
        assert response.get_json()["state"] in ("done", "failed")
