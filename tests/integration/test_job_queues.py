"""Job queues: coalescing per key, and a real RQ worker process on the real Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from lastmile_portal import create_app
from lastmile_portal.adapters.job_queue import (
    PENDING_PREFIX,
    InlineJobQueue,
    RqJobQueue,
    ThreadJobQueue,
)
from lastmile_portal.adapters.migrations import upgrade
from lastmile_portal.domain import model as m
from lastmile_portal.services import routing
from tests.builders import make_delivery, make_route, make_world
from tests.conftest import base_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_thread_queue_merges_requests_while_one_is_waiting() -> None:
    started, release = threading.Event(), threading.Event()
    runs: list[tuple[str, int]] = []

    def runner(job: str, n: int) -> None:
        runs.append((job, n))
        started.set()
        release.wait(5)

    queue = ThreadJobQueue(runner)
    queue.enqueue("replan", 1, key="route:1")
    assert started.wait(5)
    # The first run is in flight: these three merge into one waiting run.
    for n in (2, 3, 4):
        queue.enqueue("replan", n, key="route:1")
    queue.enqueue("replan", 9, key="route:2")
    release.set()
    queue.join()
    assert runs == [("replan", 1), ("replan", 2), ("replan", 9)]


def test_rq_worker_process_replans_a_route(tmp_path, redis_url) -> None:
    config = base_config(tmp_path, JOB_BACKEND="rq", REDIS_URL=redis_url)
    app = create_app(config)
    upgrade(app.config["SETTINGS"].database_url)
    services = app.extensions["lastmile"]
    assert isinstance(services.jobs, RqJobQueue)
    services.jobs.queue.empty()
    world = make_world(services)
    ds = [make_delivery(world, window_hours=(0, 6), lng=13.40 + 0.01 * i) for i in range(4)]
    route_id = make_route(world, ds)

    for _ in range(3):
        routing.request_reoptimization(services, route_id, "customer changed slot")
    # Three requests, one job: they merged while waiting.
    assert services.jobs.queue.count == 1
    assert services.jobs.redis.exists(PENDING_PREFIX + f"reoptimize:route:{route_id}")

    env = {**os.environ, **{k: str(v) for k, v in config.items()}}
    worker = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "worker", "--burst"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert worker.returncode == 0, worker.stderr

    with services.uow() as uow:
        assert uow.repo.get(m.Route, route_id).plan_version == 2
        reasons = [e.summary for d in ds for e in uow.repo.timeline(d.id) if e.kind == "EtaChanged"]
    assert any("customer changed slot" in r for r in reasons)
    assert services.jobs.queue.count == 0
    assert not services.jobs.redis.exists(PENDING_PREFIX + f"reoptimize:route:{route_id}")
    # A new change after the run queues a new job again.
    routing.request_reoptimization(services, route_id, "another change")
    assert services.jobs.queue.count == 1
    services.jobs.queue.empty()


def test_worker_command_explains_missing_redis(tmp_path) -> None:
    app = create_app(base_config(tmp_path))
    result = app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code != 0
    assert "REDIS_URL" in result.output


@pytest.mark.parametrize("backend", ["inline", "thread"])
def test_in_process_queues_are_reported_by_health(tmp_path, backend) -> None:
    app = create_app(base_config(tmp_path, JOB_BACKEND=backend))
    upgrade(app.config["SETTINGS"].database_url)
    assert app.test_client().get("/healthz").get_json()["jobs"] == backend


def test_a_failing_inline_job_fails_the_test_that_ran_it_and_is_logged_elsewhere(caplog) -> None:  # type: ignore[no-untyped-def]
    def runner(job: str, *args: object) -> None:
        raise RuntimeError(f"{job} broke")

    with pytest.raises(RuntimeError, match="replan broke"):
        InlineJobQueue(runner, raise_errors=True).enqueue("replan", 1)
    InlineJobQueue(runner).enqueue("replan", 1)  # a real queue only logs
    assert "job replan failed" in caplog.text


def test_test_apps_raise_failing_inline_jobs(app) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Exception):  # noqa: B017 - whatever the runner raises for it
        app.extensions["lastmile"].jobs.enqueue("no_such_job")


@pytest.mark.redis
def test_an_rq_job_that_could_not_be_queued_does_not_block_the_route(
    redis_url, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    jobs = RqJobQueue(redis_url, queue_name="lastmile-test-poison")
    real = jobs.queue.enqueue

    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ConnectionError("redis went away mid-enqueue")

    monkeypatch.setattr(jobs.queue, "enqueue", refuse)
    with pytest.raises(ConnectionError):
        jobs.enqueue("replan_route", 7, key="route:7")
    monkeypatch.setattr(jobs.queue, "enqueue", real)

    jobs.enqueue("replan_route", 7, key="route:7")  # queued this time, not dropped
    assert jobs.queue.count == 1
    assert 0 < jobs.redis.ttl(PENDING_PREFIX + "route:7") <= 600
    jobs.queue.empty()
