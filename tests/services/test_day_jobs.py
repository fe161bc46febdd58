"""Planning jobs on every queue backend, lost and broken jobs, and the timed morning plan."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest

from lastmile_portal import create_app, jobs
from lastmile_portal.adapters.job_queue import RqJobQueue, run_worker
from lastmile_portal.adapters.migrations import upgrade
from lastmile_portal.config import ConfigError, load_settings
from lastmile_portal.domain import model as m
from lastmile_portal.domain.status import DeliveryStatus
from lastmile_portal.services import api_keys, day_jobs
from tests.builders import make_delivery, make_world
from tests.conftest import REDIS_URL, base_config, missing_service


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


def states(services) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        return [(str(j.state), j.trigger) for j in uow.repo.all(m.PlanningJob)]


def test_a_job_that_breaks_is_failed_with_a_clear_error_and_raised(  # type: ignore[no-untyped-def]
    services, world, monkeypatch
) -> None:
    make_delivery(world)

    def broken(*_args: object) -> None:
        raise RuntimeError("solver crashed")

    monkeypatch.setattr(services.optimizer, "solve", broken)
    with pytest.raises(RuntimeError):  # the inline test queue raises what the job raised
        day_jobs.request_plan(services, "TST")

    with services.uow() as uow:
        (job,) = uow.repo.all(m.PlanningJob)
        assert job.state is m.JobState.FAILED
        assert job.error == "Planning failed unexpectedly (RuntimeError)."
        assert job.finished_at is not None
        # Nothing of the half-done plan was kept.
        assert uow.repo.routes_on(world.service_date, world.depot_id) == []


def test_a_running_job_says_how_many_stops_it_plans_and_for_how_long(  # type: ignore[no-untyped-def]
    services, world, clock, monkeypatch
) -> None:
    for _ in range(3):
        make_delivery(world)
    solve = services.optimizer.solve
    seen = []

    def solve_and_look(problem, matrix, limit):  # type: ignore[no-untyped-def]
        clock.advance(seconds=1)
        (job,) = [j for j in day_jobs_all(services) if j.state is m.JobState.RUNNING]
        seen.append(day_jobs.job_info(services, job.id))
        return solve(problem, matrix, limit)

    monkeypatch.setattr(services.optimizer, "solve", solve_and_look)
    done = day_jobs.request_plan(services, "TST")

    (running,) = seen
    limit = services.settings.optimizer_time_limit_s
    assert running.state == "running" and running.stops == 3
    assert running.time_limit_s == limit
    assert running.progress == f"Solving 3 stops: 1 s of about {limit:g} s of optimizer time."
    assert done.state == "done" and done.stops == 3


def day_jobs_all(services) -> list[m.PlanningJob]:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        return list(uow.repo.all(m.PlanningJob))


def test_a_job_no_worker_finished_is_replaced_by_the_next_request(services, world, clock) -> None:  # type: ignore[no-untyped-def]
    make_delivery(world, window_hours=(1, 6))
    with services.uow() as uow:
        lost = m.PlanningJob(
            depot_id=world.depot_id,
            service_date=world.service_date,
            requested_at=clock.now() - timedelta(minutes=20),
        )
        uow.repo.add(lost)
        uow.commit()
        lost_id = lost.id

    fresh = day_jobs.request_plan(services, "TST")

    assert fresh.id != lost_id and fresh.state == "done"
    old = day_jobs.job_info(services, lost_id)
    assert old.state == "failed" and "No worker finished" in old.error


def test_the_thread_queue_answers_before_the_plan_and_the_job_reports_it_after(  # type: ignore[no-untyped-def]
    tmp_path, clock, publisher
) -> None:
    app = create_app(base_config(tmp_path, JOB_BACKEND="thread"), clock=clock, publisher=publisher)
    upgrade(app.config["SETTINGS"].database_url)
    services = app.extensions["lastmile"]
    world = make_world(services)
    ds = [make_delivery(world) for _ in range(3)]
    key = api_keys.create_api_key(services, "erp", ["routes:write"]).key
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}

    response = client.post("/api/v1/depots/TST/plan", headers=headers)
    services.jobs.join()

    assert response.status_code == 202
    job = client.get(response.headers["Location"], headers=headers).get_json()
    assert job["state"] == "done", job
    assert sum(r["parcels"] for r in job["result"]["routes"]) == 3
    with services.uow() as uow:
        assert {uow.repo.get(m.Delivery, d.id).status for d in ds} == {DeliveryStatus.SCHEDULED}


def test_an_rq_worker_runs_the_job_the_web_queued(tmp_path, clock, publisher) -> None:  # type: ignore[no-untyped-def]
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as error:
        missing_service(f"Redis not reachable at {REDIS_URL}: {error}")
    app = create_app(base_config(tmp_path), clock=clock, publisher=publisher)
    upgrade(app.config["SETTINGS"].database_url)
    services = app.extensions["lastmile"]
    # A queue of this test's own: other tests (and agents) may use the shared database.
    queue_name = "lastmile-day-" + secrets.token_hex(4)
    services.jobs = RqJobQueue(REDIS_URL, queue_name=queue_name)
    world = make_world(services)
    make_delivery(world)
    try:
        queued = day_jobs.request_plan(services, "TST")
        assert queued.state == "queued" and queued.progress == "Waiting for a worker."

        jobs.use_services(services)
        run_worker(REDIS_URL, burst=True, queue_name=queue_name)
    finally:
        jobs._worker_services = None
        services.jobs.queue.delete(delete_jobs=True)

    done = day_jobs.job_info(services, queued.id)
    assert done.state == "done", done
    assert done.result is not None and done.result["planned"] == 1


# ---------------------------------------------------------------- the timed plan


@pytest.fixture
def config(config):  # type: ignore[no-untyped-def]
    return {**config, "PLAN_SCHEDULE": "TST=10:30, ELSEWHERE=06:00"}


def test_a_depot_is_planned_once_when_its_time_comes(services, world, clock) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world, window_hours=(2, 6))
    schedule = services.settings.plan_schedule
    assert schedule == {"TST": "10:30", "ELSEWHERE": "06:00"}

    assert day_jobs.plan_due_days(services, schedule) == []  # 10:00 in Berlin: not yet
    clock.advance(minutes=31)
    (job,) = day_jobs.plan_due_days(services, schedule)
    # Every worker runs the loop: the depot-day is planned by the schedule only once.
    assert day_jobs.plan_due_days(services, schedule) == []

    assert (job.trigger, job.state) == ("schedule", "done")
    assert states(services) == [("done", "schedule")]
    with services.uow() as uow:
        assert uow.repo.get(m.Delivery, d.id).status is DeliveryStatus.SCHEDULED
    # The next morning is planned again.
    clock.advance(days=1)
    assert [j.service_date for j in day_jobs.plan_due_days(services, schedule)] == [
        world.service_date + timedelta(days=1)
    ]


def test_the_worker_job_reads_the_schedule_from_the_settings(services, world, clock) -> None:  # type: ignore[no-untyped-def]
    make_delivery(world, window_hours=(2, 6))
    clock.advance(minutes=45)

    services.jobs.enqueue(day_jobs.SCHEDULE_JOB, key=day_jobs.SCHEDULE_JOB)

    assert states(services) == [("done", "schedule")]


@pytest.mark.parametrize("bad", ["TST", "TST=25:00", "=06:00", "TST=6:00", "TST=06:00:00"])
def test_a_bad_plan_schedule_is_refused_at_start(bad: str) -> None:
    with pytest.raises(ConfigError, match="PLAN_SCHEDULE entries look like 'BER-N=05:30'"):
        load_settings({"TESTING": "true", "PLAN_SCHEDULE": bad})


def test_the_timed_plan_waits_for_a_plan_still_open_then_runs(services, world, clock) -> None:  # type: ignore[no-untyped-def]
    make_delivery(world, window_hours=(2, 6))
    schedule = services.settings.plan_schedule
    clock.advance(minutes=31)
    with services.uow() as uow:
        running = m.PlanningJob(
            depot_id=world.depot_id,
            service_date=world.service_date,
            requested_at=clock.now(),
            state=m.JobState.RUNNING,
            started_at=clock.now(),
        )
        uow.repo.add(running)
        uow.commit()
        running_id = running.id

    assert day_jobs.plan_due_days(services, schedule) == []
    with services.uow() as uow:
        uow.repo.get(m.PlanningJob, running_id).finish({}, at=clock.now())
        uow.commit()
    (job,) = day_jobs.plan_due_days(services, schedule)

    assert (job.trigger, job.state) == ("schedule", "done")
