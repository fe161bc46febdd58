"""Delivery status state machine: every allowed transition lives in one table."""

from __future__ import annotations

from enum import StrEnum


class DeliveryStatus(StrEnum):
    """Lifecycle of one parcel from the recipient's point of view."""

    CREATED = "created"
    SCHEDULED = "scheduled"
    OUT_FOR_DELIVERY = "out_for_delivery"
    ARRIVING = "arriving"
    DELIVERED = "delivered"
    FAILED = "failed"
    RESCHEDULED = "rescheduled"
    REDIRECTED_TO_LOCKER = "redirected_to_locker"
    AT_LOCKER = "at_locker"
    COLLECTED = "collected"
    RETURNED = "returned"
    CANCELLED = "cancelled"


S = DeliveryStatus

# The one table. A status missing as a key is terminal.
TRANSITIONS: dict[DeliveryStatus, frozenset[DeliveryStatus]] = {
    S.CREATED: frozenset({S.SCHEDULED, S.CANCELLED}),
    S.SCHEDULED: frozenset(
        {S.OUT_FOR_DELIVERY, S.RESCHEDULED, S.REDIRECTED_TO_LOCKER, S.CANCELLED}
    ),
    # A parcel addressed to a locker from the start goes out for delivery to the locker.
    S.OUT_FOR_DELIVERY: frozenset(
        {S.ARRIVING, S.DELIVERED, S.AT_LOCKER, S.FAILED, S.RESCHEDULED, S.REDIRECTED_TO_LOCKER}
    ),
    # A driver can be "arriving" and then get pulled away (geofence was wrong, urgent
    # re-plan); going back to out-for-delivery keeps the history honest.
    S.ARRIVING: frozenset({S.DELIVERED, S.AT_LOCKER, S.FAILED, S.OUT_FOR_DELIVERY}),
    S.FAILED: frozenset({S.RESCHEDULED, S.REDIRECTED_TO_LOCKER, S.RETURNED}),
    S.RESCHEDULED: frozenset(
        {S.SCHEDULED, S.OUT_FOR_DELIVERY, S.REDIRECTED_TO_LOCKER, S.RETURNED, S.CANCELLED}
    ),
    S.REDIRECTED_TO_LOCKER: frozenset({S.OUT_FOR_DELIVERY, S.AT_LOCKER, S.FAILED, S.RETURNED}),
    S.AT_LOCKER: frozenset({S.COLLECTED, S.RETURNED}),
}

TERMINAL: frozenset[DeliveryStatus] = frozenset(s for s in DeliveryStatus if s not in TRANSITIONS)

# Statuses in which the recipient may still change how or when the parcel arrives.
CHANGEABLE: frozenset[DeliveryStatus] = frozenset(
    {S.CREATED, S.SCHEDULED, S.OUT_FOR_DELIVERY, S.RESCHEDULED, S.FAILED}
)

# Statuses in which a driver is on the way with the parcel.
EN_ROUTE: frozenset[DeliveryStatus] = frozenset({S.OUT_FOR_DELIVERY, S.ARRIVING})

LABELS: dict[DeliveryStatus, str] = {
    S.CREATED: "Order received",
    S.SCHEDULED: "Scheduled for delivery",
    S.OUT_FOR_DELIVERY: "Out for delivery",
    S.ARRIVING: "Driver arriving",
    S.DELIVERED: "Delivered",
    S.FAILED: "Delivery attempt failed",
    S.RESCHEDULED: "Rescheduled",
    S.REDIRECTED_TO_LOCKER: "Going to a parcel locker",
    S.AT_LOCKER: "Ready for pickup",
    S.COLLECTED: "Collected",
    S.RETURNED: "Returned to sender",
    S.CANCELLED: "Cancelled",
}


def can_transition(current: DeliveryStatus, new: DeliveryStatus) -> bool:
    """Return whether a parcel in ``current`` may move to ``new``."""
    return new in TRANSITIONS.get(current, frozenset())
