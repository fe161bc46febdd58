"""Forget what we no longer need: GPS history, spent retry answers, old webhook logs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from . import Services

PURGE_JOB = "purge_positions"
BATCH = 5000  # rows per transaction: short write locks while pings keep arriving
# A phone retries a stop action within minutes, or after a day offline at worst.
IDEMPOTENCY_KEEP = timedelta(days=2)
# A carrier's delivery log (`flask webhook log`) answers "did you send it?" for a month.
WEBHOOK_LOG_KEEP = timedelta(days=30)


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


def purge_idempotency_answers(services: Services) -> PurgeResult:
    """Delete the driver API's stored answers older than IDEMPOTENCY_KEEP, in batches.

    A key only has to outlive the phone's retries; kept longer, the table grows with every
    stop of every day.
    """
    cutoff = services.clock.now() - IDEMPOTENCY_KEEP
    deleted = 0
    while True:
        with services.uow() as uow:
            n = uow.repo.delete_idempotent_answers_before(cutoff, BATCH)
            uow.commit()
        deleted += n
        if n < BATCH:
            return PurgeResult(deleted=deleted, cutoff=cutoff)


def purge_webhook_log(services: Services) -> PurgeResult:
    """Delete webhook rows sent (or given up) more than WEBHOOK_LOG_KEEP ago, in batches.

    Unsent rows stay whatever their age: they still hold a carrier's events in order.
    """
    cutoff = services.clock.now() - WEBHOOK_LOG_KEEP
    deleted = 0
    while True:
        with services.uow() as uow:
            n = uow.repo.delete_finished_webhooks_before(cutoff, BATCH)
            uow.commit()
        deleted += n
        if n < BATCH:
            return PurgeResult(deleted=deleted, cutoff=cutoff)
