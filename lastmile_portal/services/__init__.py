"""Use cases: one function each, owning its transaction; adapters come in through Services."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from ..domain.policy import ChangePolicy
from ..domain.ports import (
    Clock,
    Geocoder,
    JobQueue,
    PhoneNumbers,
    PhotoProcessor,
    PhotoStore,
    Publisher,
    RouteOptimizer,
    SmsGateway,
    SmsTemplates,
    TravelTimes,
)
from ..domain.webhooks import WebhookTransport
from .live_state import LiveState
from .unit_of_work import UnitOfWork


@dataclass(frozen=True)
class ServiceSettings:
    """The few settings use cases need (no Flask, no environment)."""

    public_base_url: str
    timezone: str
    optimizer_time_limit_s: float = 2.0
    show_driver_within_stops: int = 5
    position_retention_days: int = 30  # drivers' GPS history is personal data: keep it short
    quiet_hours: str | None = "21:00-08:00"  # the default for recipients who chose none
    sms_max_attempts: int = 8
    sms_retry_s: float = 30.0  # first retry; doubles each time
    sms_claim_s: float = 60.0  # a sender that holds a text longer than this is presumed dead
    change_policy: ChangePolicy = field(default_factory=ChangePolicy)
    photo_max_bytes: int = 10 * 1024 * 1024
    proof_max_distance_m: float = 150.0
    locker_hold_days: int = 7  # then an uncollected parcel goes back to the sender
    # Signs the proof photos' links (domain/photo_links): bootstrap derives it from
    # SECRET_KEY; the random default makes links no other process can check, never forgeable.
    photo_link_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    photo_url_ttl_s: int = 900
    proof_photo_required: str = "unattended"  # "never" | "unattended" | "always"
    manifest_code_stops: int = 3
    # outbound webhooks (issue 13)
    webhook_eta_minutes: float = 10.0
    webhook_max_attempts: int = 12
    webhook_retry_s: float = 30.0  # first retry; doubles each time
    webhook_retry_max_s: float = 3600.0
    webhook_timeout_s: float = 5.0
    webhook_claim_s: float = 30.0  # a sender holding a webhook longer is presumed dead
    # the day (issue 13): depot code -> local "HH:MM" the worker plans its day at
    plan_schedule: dict[str, str] = field(default_factory=dict)


@dataclass
class Services:
    """Everything a use case may touch, chosen by bootstrap for the configured deployment."""

    uow: Callable[[], UnitOfWork]
    clock: Clock
    travel_times: TravelTimes
    optimizer: RouteOptimizer
    sms: SmsGateway
    publisher: Publisher
    jobs: JobQueue
    photos: PhotoStore
    photo_processor: PhotoProcessor
    phones: PhoneNumbers
    sms_templates: SmsTemplates
    webhook_transport: WebhookTransport
    settings: ServiceSettings
    health_checks: dict[str, Callable[[], str]] = field(default_factory=dict)
    live: LiveState = field(default_factory=LiveState)
    geocoder: Geocoder | None = None  # None: carriers must send lat/lng with each address

    def tracking_url(self, token: str) -> str:
        """Return the public link a recipient opens."""
        return f"{self.settings.public_base_url}/t/{token}"

    def today(self) -> date:
        """Return the local calendar day in the operating time zone."""
        return self.clock.now().astimezone(ZoneInfo(self.settings.timezone)).date()
