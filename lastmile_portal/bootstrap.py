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
from .config import ConfigError, Settings
from .domain.ports import Clock, Publisher
from .jobs import run as run_job
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
        publisher = (
            SocketIOPublisher(socketio.server) if socketio is not None else RecordingPublisher()
        )
    if settings.sms_backend == "twilio":
        raise ConfigError("SMS_BACKEND=twilio is not available yet; use console (the default).")
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
            show_driver_within_stops=settings.show_driver_within_stops,
        ),
        health_checks=_health_checks(settings, engine),
    )
    return services


def _health_checks(settings: Settings, engine: sa.Engine) -> dict[str, Any]:
    checks: dict[str, Any] = {"database": lambda: check_database(engine)}
    if settings.redis_url:
        checks["redis"] = lambda: check_redis(settings.redis_url)
    if settings.socketio_message_queue and settings.socketio_message_queue != settings.redis_url:
        checks["socketio_message_queue"] = lambda: check_redis(settings.socketio_message_queue)
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
