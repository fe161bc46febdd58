"""Use cases: one function each, owning its transaction; adapters come in through Services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from ..domain.ports import (
    Clock,
    JobQueue,
    PhotoStore,
    Publisher,
    RouteOptimizer,
    SmsGateway,
    TravelTimes,
)
from .unit_of_work import UnitOfWork


@dataclass(frozen=True)
class ServiceSettings:
    """The few settings use cases need (no Flask, no environment)."""

    public_base_url: str
    timezone: str
    optimizer_time_limit_s: float = 2.0
    show_driver_within_stops: int = 5


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
    settings: ServiceSettings
    health_checks: dict[str, Callable[[], str]] = field(default_factory=dict)

    def tracking_url(self, token: str) -> str:
        """Return the public link a recipient opens."""
        return f"{self.settings.public_base_url}/t/{token}"

    def today(self) -> date:
        """Return the local calendar day in the operating time zone."""
        return self.clock.now().astimezone(ZoneInfo(self.settings.timezone)).date()
