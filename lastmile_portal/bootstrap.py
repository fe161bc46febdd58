"""Pick the real, console or fake adapter for each port, from settings: the one place that does."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from .adapters import orm
from .adapters.clock import DemoClock, SystemClock
from .adapters.db import SqlAlchemyUnitOfWork, check_database, make_engine, make_session_factory
from .adapters.job_queue import InlineJobQueue, RqJobQueue, ThreadJobQueue
from .adapters.nominatim import NominatimGeocoder
from .adapters.ortools_optimizer import OrToolsOptimizer
from .adapters.periodic import Every
from .adapters.phone_numbers import LibPhoneNumbers
from .adapters.photo_images import PillowPhotoProcessor
from .adapters.photo_store import LocalPhotoStore
from .adapters.redis_check import check_redis
from .adapters.sms import ConsoleSmsGateway, FakeSmsGateway
from .adapters.sms_templates import JinjaSmsTemplates
from .adapters.socketio_publisher import RecordingPublisher, SocketIOPublisher
from .adapters.travel_times import HaversineTravelTimes, OsrmTravelTimes
from .adapters.twilio_sms import TwilioSmsGateway
from .adapters.webhook_http import HttpWebhookTransport
from .config import PROJECT_ROOT, ConfigError, Settings, parse_plan_schedule
from .domain import photo_links
from .domain.policy import ChangePolicy
from .domain.ports import Clock, JobQueue, PhotoStore, Publisher, SmsGateway
from .jobs import run as run_job
from .services import Services, ServiceSettings, handlers, webhooks
from .services.lockers import RETURN_JOB
from .services.notifications import OUTBOX_JOB
from .services.retention import PURGE_JOB


def build_services(
    settings: Settings,
    *,
    socketio: Any | None = None,
    clock: Clock | None = None,
    publisher: Publisher | None = None,
    engine: sa.Engine | None = None,
    jobs: JobQueue | None = None,
) -> Services:
    """Wire the adapters the settings ask for into a Services object."""
    orm.configure_cipher(settings.data_encryption_key)
    engine = engine or make_engine(settings.database_url)
    session_factory = make_session_factory(engine)
    if publisher is None:
        publisher = (
            SocketIOPublisher(socketio.server) if socketio is not None else RecordingPublisher()
        )
    try:
        phones = LibPhoneNumbers(settings.default_region)
    except ValueError:
        raise ConfigError(
            f"DEFAULT_REGION {settings.default_region!r} is not a country phonenumbers knows."
        ) from None
    services: Services

    def uow() -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(
            session_factory,
            on_commit=lambda events: handlers.dispatch(services, events),
            # The webhook outbox is written in the transaction that records the events.
            before_commit=lambda repo, events: webhooks.write_outbox(services, repo, events),
        )

    services = Services(
        uow=uow,
        clock=clock or _clock(settings),
        travel_times=_travel_times(settings),
        optimizer=OrToolsOptimizer(deterministic=settings.testing),
        sms=_sms_gateway(settings),
        publisher=publisher,
        jobs=jobs or _job_queue(settings, lambda job, *args: run_job(services, job, *args)),
        photos=_photo_store(settings),
        geocoder=NominatimGeocoder(
            settings.geocoder_url, min_interval_s=settings.geocoder_min_interval_s
        )
        if settings.geocoder_url
        else None,
        photo_processor=PillowPhotoProcessor(max_bytes=settings.photo_max_bytes),
        phones=phones,
        sms_templates=JinjaSmsTemplates(PROJECT_ROOT / "templates" / "sms"),
        webhook_transport=HttpWebhookTransport(),
        settings=ServiceSettings(
            public_base_url=settings.public_base_url,
            timezone=settings.timezone,
            optimizer_time_limit_s=settings.optimizer_time_limit,
            show_driver_within_stops=settings.show_driver_within_stops,
            position_retention_days=settings.position_retention_days,
            quiet_hours=settings.quiet_hours,
            sms_max_attempts=settings.sms_max_attempts,
            sms_retry_s=settings.sms_retry_seconds,
            # Longer than any one send can take (connect + read timeouts, then a look-up).
            sms_claim_s=4 * settings.twilio_timeout + 2,
            change_policy=ChangePolicy(
                cutoff_stops=settings.change_cutoff_stops,
                cutoff_minutes=settings.change_cutoff_minutes,
                max_reschedules=settings.max_reschedules,
            ),
            photo_max_bytes=settings.photo_max_bytes,
            proof_max_distance_m=settings.proof_max_distance_m,
            locker_hold_days=settings.locker_hold_days,
            photo_link_key=photo_links.derive_key(settings.secret_key),
            photo_url_ttl_s=settings.photo_url_ttl_s,
            proof_photo_required=settings.proof_photo_required,
            manifest_code_stops=settings.manifest_code_stops,
            webhook_eta_minutes=settings.webhook_eta_minutes,
            webhook_max_attempts=settings.webhook_max_attempts,
            webhook_retry_s=settings.webhook_retry_seconds,
            webhook_retry_max_s=settings.webhook_retry_max_seconds,
            webhook_timeout_s=settings.webhook_timeout,
            # Longer than any one POST can take (connect, then read, each up to the timeout).
            webhook_claim_s=3 * settings.webhook_timeout + 5,
            plan_schedule=parse_plan_schedule(settings.plan_schedule),
        ),
        health_checks=_health_checks(settings, engine),
    )
    if isinstance(services.jobs, ThreadJobQueue) and settings.sms_sweep_seconds > 0:
        # One machine: this process also retries texts whose backoff or quiet hours ended.
        start_outbox_sweep(services, settings.sms_sweep_seconds)
    if isinstance(services.jobs, ThreadJobQueue) and settings.webhook_sweep_seconds > 0:
        # One machine: this process also sends webhooks whose backoff ended (with RQ, cron
        # runs `flask --app app webhook send`).
        start_webhook_sweep(services, settings.webhook_sweep_seconds)
    if isinstance(services.jobs, ThreadJobQueue):
        # One machine: this process also forgets old GPS history (hourly; with RQ, cron
        # runs `flask --app app purge-positions`).
        Every(
            PURGE_EVERY_S,
            lambda: services.jobs.enqueue(PURGE_JOB, key=PURGE_JOB),
            "lastmile-purge-positions",
        ).start()
        # ... and sends back parcels nobody collected from a locker in time (with RQ, cron
        # runs `flask --app app return-uncollected`).
        Every(
            RETURN_EVERY_S,
            lambda: services.jobs.enqueue(RETURN_JOB, key=RETURN_JOB),
            "lastmile-locker-returns",
        ).start()
        if settings.plan_schedule:
            # ... and plans the depots' days at their PLAN_SCHEDULE times.
            start_plan_schedule(services)
    return services


PURGE_EVERY_S = 3600.0
RETURN_EVERY_S = 3600.0  # a parcel goes back within the hour after its last day
PLAN_SCHEDULE_EVERY_S = 60.0  # a depot's timed plan starts within a minute of its time


def start_outbox_sweep(services: Services, seconds: float) -> Every:
    """Queue an outbox run every ``seconds`` (retries and deferred texts come due by time)."""
    return Every(
        seconds, lambda: services.jobs.enqueue(OUTBOX_JOB, key=OUTBOX_JOB), "lastmile-sms-sweep"
    ).start()


def start_webhook_sweep(services: Services, seconds: float) -> Every:
    """Queue a webhook outbox run every ``seconds`` (retries come due by time)."""
    return Every(
        seconds,
        lambda: services.jobs.enqueue(webhooks.WEBHOOK_JOB, key=webhooks.WEBHOOK_JOB),
        "lastmile-webhook-sweep",
    ).start()


def start_plan_schedule(services: Services) -> Every:
    """Queue the check for depots due to be planned every minute (PLAN_SCHEDULE)."""
    from .services.day_jobs import SCHEDULE_JOB

    return Every(
        PLAN_SCHEDULE_EVERY_S,
        lambda: services.jobs.enqueue(SCHEDULE_JOB, key=SCHEDULE_JOB),
        "lastmile-plan-schedule",
    ).start()


def _clock(settings: Settings) -> Clock:
    if settings.demo and settings.demo_clock.lower() != "off":
        # The demo's day looks like a working day whatever the hour it is started.
        return DemoClock(
            SystemClock(),
            Path(settings.instance_dir) / "demo-clock.json",
            settings.timezone,
            time.fromisoformat(settings.demo_clock),
        )
    return SystemClock()


def _sms_gateway(settings: Settings) -> SmsGateway:
    if settings.sms_backend == "twilio":
        return TwilioSmsGateway(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            from_number=settings.twilio_from,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            api_base=settings.twilio_api_base,
            timeout=settings.twilio_timeout,
        )
    return FakeSmsGateway() if settings.sms_backend == "fake" else ConsoleSmsGateway()


def _health_checks(settings: Settings, engine: sa.Engine) -> dict[str, Any]:
    checks: dict[str, Any] = {"database": lambda: check_database(engine)}
    if settings.redis_url:
        checks["redis"] = lambda: check_redis(settings.redis_url)
    if settings.socketio_message_queue and settings.socketio_message_queue != settings.redis_url:
        checks["socketio_message_queue"] = lambda: check_redis(settings.socketio_message_queue)
    return checks


def _photo_store(settings: Settings) -> PhotoStore:
    if settings.photo_store == "s3":
        from .adapters.s3_photo_store import S3PhotoStore  # boto3 loads only when used

        return S3PhotoStore(
            settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
        )
    return LocalPhotoStore(settings.photo_dir)


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
    return InlineJobQueue(runner, raise_errors=settings.testing)
