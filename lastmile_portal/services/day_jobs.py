"""Run a depot's day (issue 13): plan it as a job, report the job, send routes out, plan on time.

Planning takes the optimizer's whole time limit, so it never runs inside a request: the
caller gets a ``PlanningJob`` at once and reads its state later. The job lives in the
database, which is what every queue backend (inline, thread, RQ) and every process (web,
worker) share.

Planning a day twice re-plans what has not left yet, as a dispatcher would after a late
delivery batch: routes already dispatched keep their parcels, drivers and vehicles (the
parcels are in the van); the day's planned-but-not-dispatched routes are replaced by a plan
of their parcels together with every parcel that arrived since. A second request while a
plan of the same day is still queued or running gets that job back instead of a new one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from ..domain import model as m
from ..domain.errors import DomainError, InvalidInput, InvalidTransition, NotFound
from . import Services, routing
from .unit_of_work import UnitOfWork

log = logging.getLogger("lastmile.jobs")

PLAN_JOB = "plan_day"
SCHEDULE_JOB = "plan_due_days"


@dataclass(frozen=True)
class JobInfo:
    """What the caller of a planning job sees: its state, progress and, once done, the plan."""

    id: int
    state: str
    depot: str
    service_date: date
    trigger: str
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: str
    time_limit_s: float
    stops: int | None
    result: dict[str, Any] | None
    error: str | None


@dataclass(frozen=True)
class Dispatched:
    """One route sent out: how many parcels went out for delivery with a text queued."""

    route_id: int
    driver: str
    vehicle: str
    parcels: int


# ---------------------------------------------------------------- planning as a job


def request_plan(
    services: Services, depot_code: str, service_date: date | None = None, trigger: str = "api"
) -> JobInfo:
    """Queue the planning of a depot's day (today in the depot's zone by default).

    A day in the past is refused; a plan of that day already waiting or running is
    returned instead of a second one.
    """
    job_id, new = _open_job(services, depot_code, service_date, trigger)
    if new:
        services.jobs.enqueue(PLAN_JOB, job_id, key=f"{PLAN_JOB}:{job_id}")
    return job_info(services, job_id)


def plan_now(services: Services, depot_code: str, service_date: date | None = None) -> JobInfo:
    """Plan a depot's day in this process and return the finished job (the CLI's way).

    Recorded as a job like any other, so the API sees it; a plan of that day already
    waiting or running elsewhere is returned as it is instead.
    """
    job_id, new = _open_job(services, depot_code, service_date, "cli")
    if new:
        run_plan_job(services, job_id)
    return job_info(services, job_id)


def _open_job(
    services: Services, depot_code: str, service_date: date | None, trigger: str
) -> tuple[int, bool]:
    """Return the depot-day's open planning job, or a new one; say whether it is new."""
    now = services.clock.now()
    with services.uow() as uow:
        depot = _depot(uow, depot_code)
        assert depot.id is not None
        today = now.astimezone(ZoneInfo(depot.timezone)).date()
        day = service_date or today
        if day < today:
            raise InvalidInput(f"{day.isoformat()} is in the past: only today or later is planned.")
        job = uow.repo.open_planning_job(depot.id, day)
        if job is not None and job.lost(now):
            job.fail("No worker finished this job; it was replaced by a new one.", at=now)
            uow.repo.flush()
            job = None
        if job is None:
            job = m.PlanningJob(
                depot_id=depot.id, service_date=day, requested_at=now, trigger=trigger
            )
            if uow.repo.add_planning_job(job):
                uow.commit()
                assert job.id is not None
                return job.id, True
            # A concurrent request opened one first (one open job per depot-day): that one.
            job = uow.repo.open_planning_job(depot.id, day)
            assert job is not None
        assert job.id is not None
        return job.id, False


def run_plan_job(services: Services, job_id: int) -> None:
    """Plan the job's depot-day and store the outcome (a worker runs this).

    A job that is not queued any more (a repeat from the queue, a job replaced as lost) is
    left alone. A rule of the trade that stops the plan (no drivers, the depot closed for
    the day) fails the job with that reason; anything else fails it too, and is raised to
    the queue's log.
    """
    now = services.clock.now()
    with services.uow() as uow:
        job = uow.repo.get(m.PlanningJob, job_id)
        if job is None or job.state is not m.JobState.QUEUED:
            return
        job.start(at=now)
        uow.commit()
        depot_id, day = job.depot_id, job.service_date

    def solving(stops: int, time_limit_s: float) -> None:
        # Told before the search starts, so whoever polls the job sees how long it takes.
        with services.uow() as uow:
            job = uow.repo.get(m.PlanningJob, job_id)
            if job is not None:
                job.stops, job.time_limit_s = stops, time_limit_s
                uow.commit()

    try:
        summary = routing.plan_depot_day(services, depot_id, day, on_solving=solving)
    except DomainError as error:
        _fail(services, job_id, error.message + _busy(services, depot_id, day))
        return
    except Exception as error:
        _fail(services, job_id, f"Planning failed unexpectedly ({type(error).__name__}).")
        raise
    with services.uow() as uow:
        job = uow.repo.get(m.PlanningJob, job_id)
        assert job is not None
        job.finish(_result(uow, depot_id, day, summary), at=services.clock.now())
        uow.commit()
        # Parcels announced while the plan ran were not in it (nor dropped by it): each goes
        # through the insertion into the routes just stored, like any later parcel.
        late = [
            d.id
            for d in uow.repo.deliveries_on(depot_id, day)
            if d.id is not None
            and d.stop_id is None
            and d.status in routing.PLANNABLE
            and d.id not in summary.dropped_parcels
        ]
    for delivery_id in late:
        routing.request_insertion(services, delivery_id)
    log.info(
        "planned depot %s on %s: %d parcels on %d routes, %d dropped",
        depot_id,
        day,
        summary.planned,
        summary.routes,
        len(summary.dropped_parcels),
    )


def job_info(services: Services, job_id: int) -> JobInfo:
    """Return a planning job's state, progress and result."""
    with services.uow() as uow:
        job = uow.repo.get(m.PlanningJob, job_id)
        if job is None:
            raise NotFound(f"There is no planning job {job_id}.")
        return _info(services, uow, job)


def _busy(services: Services, depot_id: int, day: date) -> str:
    """Say how many routes of the day are out: their drivers and vans cannot plan again."""
    with services.uow() as uow:
        out = [
            r for r in uow.repo.routes_on(day, depot_id) if r.status is not m.RouteStatus.PLANNED
        ]
    if not out:
        return ""
    return (
        f" ({_count(len(out), 'route')} of the day out already: their drivers and vans are busy.)"
    )


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"


def _fail(services: Services, job_id: int, error: str) -> None:
    with services.uow() as uow:
        job = uow.repo.get(m.PlanningJob, job_id)
        if job is not None:
            job.fail(error, at=services.clock.now())
            uow.commit()


def _info(services: Services, uow: UnitOfWork, job: m.PlanningJob) -> JobInfo:
    depot = uow.repo.get(m.Depot, job.depot_id)
    limit = job.time_limit_s or services.settings.optimizer_time_limit_s
    assert job.id is not None
    return JobInfo(
        id=job.id,
        state=str(job.state),
        depot=depot.code if depot else "",
        service_date=job.service_date,
        trigger=job.trigger,
        requested_at=job.requested_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        progress=_progress(services, job, limit),
        time_limit_s=limit,
        stops=job.stops,
        result=job.result,
        error=job.error,
    )


def _progress(services: Services, job: m.PlanningJob, limit: float) -> str:
    if job.state is m.JobState.QUEUED:
        return "Waiting for a worker."
    if job.state is m.JobState.RUNNING and job.started_at is not None:
        elapsed = max(0.0, (services.clock.now() - job.started_at).total_seconds())
        if job.stops is None:
            return "Reading the day's parcels."
        return (
            f"Solving {_count(job.stops, 'stop')}: {elapsed:.0f} s of about {limit:.3g} s "
            "of optimizer time."
        )
    if job.state is m.JobState.DONE and job.result is not None:
        result: dict[str, Any] = job.result
        return (
            f"Planned {_count(result['planned'], 'parcel')} onto "
            f"{_count(len(result['routes']), 'route')}; "
            f"{len(result['dropped'])} could not be planned."
        )
    return "Failed: " + (job.error or "no reason recorded.")


def _result(
    uow: UnitOfWork, depot_id: int, day: date, summary: routing.PlanSummary
) -> dict[str, Any]:
    """Describe the stored plan: the new routes, the routes already out, the dropped parcels."""
    routes, kept = [], []
    for route in uow.repo.routes_on(day, depot_id):
        if route.status is not m.RouteStatus.PLANNED:
            kept.append(route.id)
            continue
        driver = uow.repo.get(m.Driver, route.driver_id)
        vehicle = uow.repo.get(m.Vehicle, route.vehicle_id)
        parcels = uow.repo.deliveries_at_stops([s.id for s in route.stops if s.id is not None])
        routes.append(
            {
                "id": route.id,
                "vehicle": vehicle.label if vehicle else None,
                "driver": driver.name if driver else None,
                "stops": len(route.stops),
                "parcels": sum(len(v) for v in parcels.values()),
                "distance_km": round(route.planned_distance_m / 1000, 2),
                "planned_start": _iso(route.planned_start),
                "planned_end": _iso(route.planned_end),
            }
        )
    dropped = []
    for delivery_id, reason in sorted(summary.dropped_parcels.items()):
        d = uow.repo.get(m.Delivery, delivery_id)
        if d is not None:
            dropped.append(
                {"tracking_number": d.tracking_number, "reference": d.reference, "reason": reason}
            )
    return {
        "planned": summary.planned,
        "routes": routes,
        "dropped": dropped,
        "routes_already_out": kept,
    }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _depot(uow: UnitOfWork, code: str) -> m.Depot:
    depot = uow.repo.depot_by_code(code.strip())
    if depot is None:
        raise NotFound(f"There is no depot {code.strip()!r}.")
    return depot


# ---------------------------------------------------------------- sending routes out


def dispatch(services: Services, route_id: int) -> Dispatched:
    """Send one planned route out: its parcels go out for delivery, each recipient is texted.

    Only a planned route can go out; one already out, finished or cancelled is refused, and
    so is any while a plan of its day is queued or running (that plan replaces the route).
    """
    with services.uow() as uow:
        route = uow.repo.get(m.Route, route_id)
        if route is None:
            raise NotFound(f"There is no route {route_id}.")
        if route.status is not m.RouteStatus.PLANNED:
            raise InvalidTransition(
                f"Route {route_id} is {route.status.value.replace('_', ' ')}: "
                "only a planned route can be dispatched."
            )
        planning = uow.repo.open_planning_job(route.depot_id, route.service_date)
        if planning is not None and not planning.lost(services.clock.now()):
            raise InvalidTransition(
                f"A plan of route {route_id}'s day is {planning.state} (job {planning.id}): "
                "dispatch once it is done."
            )
        driver = uow.repo.get(m.Driver, route.driver_id)
        vehicle = uow.repo.get(m.Vehicle, route.vehicle_id)
        names = (driver.name if driver else "", vehicle.label if vehicle else "")
    parcels = routing.dispatch_route(services, route_id)
    return Dispatched(route_id=route_id, driver=names[0], vehicle=names[1], parcels=parcels)


def dispatch_depot(
    services: Services, depot_code: str, service_date: date | None = None
) -> list[Dispatched]:
    """Send out every planned route of a depot's day (today in the depot's zone by default)."""
    with services.uow() as uow:
        depot = _depot(uow, depot_code)
        assert depot.id is not None
        day = service_date or services.clock.now().astimezone(ZoneInfo(depot.timezone)).date()
        route_ids = [
            r.id
            for r in uow.repo.routes_on(day, depot.id)
            if r.status is m.RouteStatus.PLANNED and r.id is not None
        ]
    if not route_ids:
        raise InvalidTransition(
            f"{depot.code} has no planned routes on {day.isoformat()} to dispatch."
        )
    return [dispatch(services, route_id) for route_id in route_ids]


# ---------------------------------------------------------------- planning on time


def plan_due_days(services: Services, depots: dict[str, str]) -> list[JobInfo]:
    """Queue today's plan of every depot in ``depots`` (code -> "HH:MM") whose time has come.

    Each depot-day is planned once by the schedule, however many workers run this loop:
    the job's ``schedule_key`` is unique, so only the first insert wins. A plan asked for by
    hand earlier that day does not stop the timed one (parcels keep arriving until then);
    one still queued or running makes it wait for the next round of the loop.
    """
    now = services.clock.now()
    queued: list[JobInfo] = []
    for code, at in sorted(depots.items()):
        with services.uow() as uow:
            depot = uow.repo.depot_by_code(code)
            if depot is None or depot.id is None:
                log.warning("PLAN_SCHEDULE names depot %r, which does not exist", code)
                continue
            tz = ZoneInfo(depot.timezone)
            day = now.astimezone(tz).date()
            if now < datetime.combine(day, time.fromisoformat(at), tz):
                continue
            job = m.PlanningJob(
                depot_id=depot.id,
                service_date=day,
                requested_at=now,
                trigger="schedule",
                schedule_key=f"{depot.id}:{day.isoformat()}",
            )
            if not uow.repo.add_planning_job(job):
                continue  # planned by the schedule already, or a plan of the day is open
            uow.commit()
            job_id = job.id
        assert job_id is not None
        services.jobs.enqueue(PLAN_JOB, job_id, key=f"{PLAN_JOB}:{job_id}")
        queued.append(job_info(services, job_id))
    return queued
