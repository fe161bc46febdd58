"""When a recipient may still change a delivery: the cut-off, in one place.

A change to where or when a parcel goes has to reach the driver's plan before the driver is
too close to act on it. The depot's policy says how close is too close (``cutoff_stops``
open stops before this one, or ``cutoff_minutes`` from the live ETA) and how often one
parcel may be moved to another slot (``max_reschedules``). Every control on the tracking
page, every SMS keyword and every service that commits a change asks ``change_window``;
no view decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .status import CHANGEABLE, EN_ROUTE, LABELS, DeliveryStatus


@dataclass(frozen=True)
class ChangePolicy:
    """The depot's rules for late changes (settings ``CHANGE_CUTOFF_*``, ``MAX_RESCHEDULES``)."""

    cutoff_stops: int = 2
    cutoff_minutes: int = 30
    max_reschedules: int = 2


@dataclass(frozen=True)
class ChangeWindow:
    """Whether changes are still open, why not, and when they are expected to close."""

    open: bool
    reason: str | None = None  # in words the recipient reads, when closed
    closes_at: datetime | None = None  # tied to the live ETA: the page counts down to it

    @property
    def closed(self) -> bool:
        """Say whether changes are closed."""
        return not self.open


def change_window(
    policy: ChangePolicy,
    *,
    status: DeliveryStatus,
    now: datetime,
    stops_before: int | None = None,
    expected_arrival: datetime | None = None,
    override_cutoff: bool = False,
) -> ChangeWindow:
    """Return whether a delivery in ``status`` may still be changed at ``now``.

    ``stops_before`` and ``expected_arrival`` come from the live plan (None when the parcel
    is on no route yet: nothing is close, changes are open). ``override_cutoff`` (a
    supervisor, with a reason) lifts the stops and minutes cut-off, never the status rules.
    """
    if status is DeliveryStatus.ARRIVING:
        return ChangeWindow(
            open=False, reason="The driver is arriving now: it is too late to change this delivery."
        )
    if status not in CHANGEABLE:
        return ChangeWindow(
            open=False, reason=f"Your parcel is {LABELS[status].lower()}: it can no longer change."
        )
    lead = timedelta(minutes=policy.cutoff_minutes)
    if status in EN_ROUTE and not override_cutoff:  # before dispatch nothing is close yet
        if stops_before is not None and stops_before < policy.cutoff_stops:
            near = "the next stop" if stops_before == 0 else f"{stops_before + 1} stops away"
            return ChangeWindow(
                open=False,
                reason=f"The driver is {near}: it is too late to change this delivery.",
            )
        if expected_arrival is not None and expected_arrival - now <= lead:
            return ChangeWindow(
                open=False,
                reason=(
                    f"The driver is due within {policy.cutoff_minutes} minutes: "
                    "it is too late to change this delivery."
                ),
            )
    closes_at = expected_arrival - lead if expected_arrival is not None else None
    return ChangeWindow(open=True, closes_at=closes_at)


def reschedule_window(policy: ChangePolicy, window: ChangeWindow, reschedules: int) -> ChangeWindow:
    """Return ``window`` narrowed by how often the parcel has already been moved."""
    if window.closed:
        return window
    if reschedules >= policy.max_reschedules:
        return ChangeWindow(
            open=False,
            reason=(
                f"This parcel has been moved {reschedules} times, the most we can: "
                "please contact support to move it again."
            ),
        )
    return window
