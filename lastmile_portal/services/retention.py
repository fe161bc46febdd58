"""Forget what we no longer need: drivers' GPS history past the retention period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from . import Services

PURGE_JOB = "purge_positions"
BATCH = 5000  # rows per transaction: short write locks while pings keep arriving


@dataclass(frozen=True)
class PurgeResult:
    """How many fixes were deleted, and the moment before which none are kept."""

    deleted: int
    cutoff: datetime


def purge_driver_positions(services: Services) -> PurgeResult:
    """Delete every driver's GPS fixes older than ``position_retention_days``.

    A driver's history tells where they were all day, and the delivered parcel's timeline
    keeps what support needs (arrived, delivered, failed, with times), so the raw fixes
    only have to outlive disputes about recent days. Each batch is its own transaction.
    """
    cutoff = services.clock.now() - timedelta(days=services.settings.position_retention_days)
    with services.uow() as uow:
        drivers = uow.repo.drivers_with_positions_before(cutoff)
    deleted = 0
    for driver_id in drivers:
        while True:
            with services.uow() as uow:
                n = uow.repo.delete_positions_before(driver_id, cutoff, BATCH)
                uow.commit()
            deleted += n
            if n < BATCH:
                break
    return PurgeResult(deleted=deleted, cutoff=cutoff)
