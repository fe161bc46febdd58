"""Pick the real, console or fake adapter for each port, from settings: the one place that does."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from .adapters import orm
from .adapters.clock import SystemClock
from .adapters.db import SqlAlchemyUnitOfWork, check_database, make_engine, make_session_factory
from .adapters.job_queue import InlineJobQueue, RqJobQueue, ThreadJobQueue
from .adapters.ortools_optimizer import OrToolsOptimizer
from .adapters.photo_store import LocalPhotoStore
from .adapters.redis_check import check_redis
from .adapters.sms import ConsoleSmsGateway, FakeSmsGateway
from .adapters.socketio_publisher import RecordingPublisher, SocketIOPublisher
from .adapters.travel_times import HaversineTravelTimes, OsrmTravelTimes
from .config import Settings
from .jobs import run as run_job
from .domain.ports import Clock, Publisher
from .services import Services, ServiceSettings, handlers


def build_services(
    settings: Settings,
    *,
    socketio: Any | None = None,
    clock: Clock | None = None,
    publisher: Publisher | None = None,
    engine: sa.Engine | None = None,
) -> Services:
    """Wire the adapters the settings ask for into a Services object."""
    orm.configure_cipher(settings.data_encryption_key)
    engine = engine or make_engine(settings.database_url)
    session_factory = make_session_factory(engine)
    if publisher is None:
        publisher = SocketIOPublisher(socketio) if socketio is not None else RecordingPublisher()
    sms = FakeSmsGateway() if settings.sms_backend == "fake" else ConsoleSmsGateway()
    services: Services

    def uow() -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(
            session_factory, on_commit=lambda events: handlers.dispatch(services, events)
        )

    services = Services(
        uow=uow,
        clock=clock or SystemClock(),
        travel_times=_travel_times(settings),
        optimizer=OrToolsOptimizer(deterministic=settings.testing),
        sms=sms,
        publisher=publisher,
        jobs=_job_queue(settings, lambda job, *args: run_job(services, job, *args)),
        photos=LocalPhotoStore(settings.photo_dir),
        settings=ServiceSettings(
            public_base_url=settings.public_base_url,
            timezone=settings.timezone,
            optimizer_time_limit_s=settings.optimizer_time_limit,
        ),
        health_checks=_health_checks(settings, engine),
    )
    return services


def _health_checks(settings: Settings, engine: sa.Engine) -> dict[str, Any]:
    checks: dict[str, Any] = {"database": lambda: check_database(engine)}
    redis_urls = {settings.redis_url, settings.socketio_message_queue} - {""}
    for url in sorted(redis_urls):
        checks["redis"] = lambda url=url: check_redis(url)
    return checks


def _travel_times(settings: Settings) -> HaversineTravelTimes | OsrmTravelTimes:
    estimate = HaversineTravelTimes(settings.timezone)
    if settings.osrm_url:
        return OsrmTravelTimes(settings.osrm_url, settings.osrm_profile, fallback=estimate)
    return estimate


def _job_queue(settings: Settings, runner: Any) -> InlineJobQueue | ThreadJobQueue | RqJobQueue:
    if settings.job_backend == "rq":
        return RqJobQueue(settings.redis_url)
    if settings.job_backend == "thread":
        return ThreadJobQueue(runner)
    return InlineJobQueue(runner)
