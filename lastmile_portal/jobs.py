"""Background jobs: plain functions of plain arguments, run by the configured JobQueue."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .adapters.job_queue import claim
from .services import Services, day_jobs, lockers, notifications, retention, routing, webhooks

log = logging.getLogger("lastmile.jobs")

_worker_services: Services | None = None


def reoptimize_route(services: Services, route_id: int, reason: str) -> None:
    """Re-plan one route with everything that changed up to now."""
    result = routing.reoptimize_route(services, route_id, reason)
    log.info(
        "route %s re-planned (%s): %d ETAs changed, solve %.3fs",
        route_id,
        reason,
        len(result.changes),
        result.solve_s,
    )


def reoptimize_depot(services: Services, depot_id: int, reason: str) -> None:
    """Re-plan every open route of a depot together."""
    routing.reoptimize_depot(services, depot_id, reason)


def send_outbox(services: Services) -> None:
    """Send every text in the outbox that is due (queued after commits, and by the sweep)."""
    notifications.send_due(services)


def purge_positions(services: Services) -> None:
    """Delete drivers' GPS history past the retention period, spent answers, old webhook logs."""
    result = retention.purge_driver_positions(services)
    if result.deleted:
        log.info("deleted %d driver positions recorded before %s", result.deleted, result.cutoff)
    answers = retention.purge_idempotency_answers(services)
    if answers.deleted:
        log.info("deleted %d stored driver answers from before %s", answers.deleted, answers.cutoff)
    webhooks = retention.purge_webhook_log(services)
    if webhooks.deleted:
        log.info("deleted %d webhook log rows from before %s", webhooks.deleted, webhooks.cutoff)


def return_uncollected(services: Services) -> None:
    """Send back parcels left in a locker past their last day (LOCKER_HOLD_DAYS)."""
    run = lockers.return_uncollected(services)
    if run.returned or run.failed:
        log.info("returned %d uncollected locker parcels, %d failed", run.returned, run.failed)


def send_webhooks(services: Services) -> None:
    """Send every webhook in the outbox that is due (queued after commits, and by the sweep)."""
    webhooks.send_due(services)


def plan_day(services: Services, job_id: int) -> None:
    """Plan the depot-day of planning job ``job_id`` and store its result (issue 13)."""
    day_jobs.run_plan_job(services, job_id)


def insert_delivery(services: Services, delivery_id: int) -> None:
    """Put a parcel announced into an already planned day on its best route, or say why not."""
    result = routing.insert_new_delivery(services, delivery_id)
    log.info("delivery %s: %s", delivery_id, result.reason)


def plan_due_days(services: Services) -> None:
    """Queue today's plan of each depot whose PLAN_SCHEDULE time has come (once a day)."""
    day_jobs.plan_due_days(services, services.settings.plan_schedule)


JOBS: dict[str, Callable[..., None]] = {
    "reoptimize_route": reoptimize_route,
    "reoptimize_depot": reoptimize_depot,
    notifications.OUTBOX_JOB: send_outbox,
    retention.PURGE_JOB: purge_positions,
    lockers.RETURN_JOB: return_uncollected,
    webhooks.WEBHOOK_JOB: send_webhooks,
    day_jobs.PLAN_JOB: plan_day,
    routing.INSERT_JOB: insert_delivery,
    day_jobs.SCHEDULE_JOB: plan_due_days,
}


def run(services: Services, job: str, *args: Any) -> None:
    """Run the job called ``job`` with ``services`` (in-process queues)."""
    JOBS[job](services, *args)


def use_services(services: Services) -> None:
    """Make ``services`` the ones RQ jobs in this process use (the worker command calls it)."""
    global _worker_services
    _worker_services = services


def run_queued(job: str, key: str | None, *args: Any) -> None:
    """Run a job an RQ worker picked up; a bare `rq worker` builds the app from the environment."""
    global _worker_services
    if _worker_services is None:
        from . import create_app

        _worker_services = create_app().extensions["lastmile"]
    with claim(key):
        run(_worker_services, job, *args)
