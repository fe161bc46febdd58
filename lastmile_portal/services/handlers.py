"""React to committed domain events: push them live to whoever is watching, wake the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from ..domain import live_payloads as payloads
from ..domain.events import (
    DeliveryRescheduled,
    DeliveryStatusChanged,
    EtaChanged,
    Event,
    ProofRecorded,
    SmsQueued,
)
from ..domain.status import LABELS, DeliveryStatus
from . import proof_view
from .notifications import OUTBOX_JOB
from .webhooks import WEBHOOK_JOB, has_webhook_events

if TYPE_CHECKING:
    from . import Services


def dispatch(services: Services, events: list[Event]) -> None:
    """Handle each event that a unit of work has just committed."""
    wake_outbox = False
    for event in events:
        if isinstance(event, SmsQueued) and event.deferred_until is None:
            wake_outbox = True
        if isinstance(event, DeliveryStatusChanged) and event.delivery_id is not None:
            services.publisher.publish(
                f"delivery:{event.delivery_id}",
                "status",
                payloads.status(event.new, LABELS[DeliveryStatus(event.new)], event.occurred_at),
            )
        elif isinstance(event, EtaChanged) and event.delivery_id is not None:
            # Customers see the window and their place in the queue, never the route.
            services.publisher.publish(
                f"delivery:{event.delivery_id}",
                "eta",
                payloads.eta(
                    expected=event.new_arrival,
                    earliest=event.eta_earliest,
                    latest=event.eta_latest,
                    stops_before=event.stops_before,
                    plan_version=event.plan_version,
                ),
            )
        elif isinstance(event, DeliveryRescheduled) and event.delivery_id is not None:
            # A page open while someone else (support, a text) moved the slot shows it.
            services.publisher.publish(
                f"delivery:{event.delivery_id}",
                "window",
                payloads.window(
                    event.window_start,
                    event.window_end,
                    _window_text(services, event.window_start, event.window_end),
                ),
            )
        elif isinstance(event, ProofRecorded) and event.delivery_id is not None:
            # Built from what was committed, with links signed now: the same as a snapshot.
            proof = proof_view.live_proof(services, event.delivery_id)
            if proof is not None:
                services.publisher.publish(f"delivery:{event.delivery_id}", "proof", proof)
    if wake_outbox:
        # Coalesced: a burst of texts (a whole route dispatched) costs one sender run.
        services.jobs.enqueue(OUTBOX_JOB, key=OUTBOX_JOB)
    if has_webhook_events(events):
        # The commit may have put webhooks in their outbox; one coalesced run sends them.
        services.jobs.enqueue(WEBHOOK_JOB, key=WEBHOOK_JOB)


def _window_text(services: Services, start: str, end: str) -> str:
    """Return a window as the tracking page writes it ("Thu 26 Nov, 10:00–12:00")."""
    tz = ZoneInfo(services.settings.timezone)
    a = datetime.fromisoformat(start).astimezone(tz)
    b = datetime.fromisoformat(end).astimezone(tz)
    return f"{a:%a} {a.day} {a:%b}, {a:%H:%M}–{b:%H:%M}"
