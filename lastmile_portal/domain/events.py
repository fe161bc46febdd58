"""Things that happened, in the past tense; each becomes one line of a delivery's timeline."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Actor(StrEnum):
    """Who caused a change: shown on the support timeline."""

    CUSTOMER = "customer"
    DRIVER = "driver"
    SUPPORT = "support"
    SYSTEM = "system"
    OPTIMIZER = "optimizer"
    SMS = "sms"


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base for domain events; ``delivery_id`` is None for fleet-level events."""

    occurred_at: datetime
    actor: Actor = Actor.SYSTEM
    actor_id: str | None = None
    delivery_id: int | None = None

    @property
    def kind(self) -> str:
        """Name the event for storage and filtering (the class name)."""
        return type(self).__name__

    def summary(self) -> str:
        """Describe the event in one sentence for the support timeline."""
        return self.kind

    def data(self) -> dict[str, Any]:
        """Return the event's own fields as JSON-safe values."""
        skip = {"occurred_at", "actor", "actor_id", "delivery_id"}
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if key in skip:
                continue
            out[key] = value.isoformat() if isinstance(value, datetime) else value
        return out


@dataclass(frozen=True, kw_only=True)
class DeliveryCreated(Event):
    """A parcel was announced to us by the shipper."""

    tracking_number: str

    def summary(self) -> str:
        """Describe the event."""
        return f"Parcel {self.tracking_number} registered"


@dataclass(frozen=True, kw_only=True)
class DeliveryStatusChanged(Event):
    """A delivery moved through the state machine."""

    old: str
    new: str
    reason: str = ""

    def summary(self) -> str:
        """Describe the event."""
        text = f"Status {self.old} → {self.new}"
        return f"{text}: {self.reason}" if self.reason else text


@dataclass(frozen=True, kw_only=True)
class DeliveryPlanned(Event):
    """The optimizer put a delivery on a route, at a position, with an expected arrival."""

    route_id: int
    plan_version: int
    sequence: int
    planned_arrival: str
    reason: str = ""

    def summary(self) -> str:
        """Describe the event."""
        why = f" ({self.reason})" if self.reason else ""
        return (
            f"Planned as stop {self.sequence} on route {self.route_id} "
            f"(plan v{self.plan_version}), arrival {self.planned_arrival}{why}"
        )


@dataclass(frozen=True, kw_only=True)
class EtaChanged(Event):
    """A re-plan moved a delivery's expected arrival; ``reason`` says why."""

    route_id: int
    plan_version: int
    old_arrival: str | None
    new_arrival: str
    eta_earliest: str
    eta_latest: str
    stops_before: int
    shift_minutes: int
    reason: str

    def summary(self) -> str:
        """Describe the event."""
        if self.old_arrival is None:
            moved = "ETA set"
        elif self.shift_minutes == 0:
            moved = "ETA unchanged"
        else:
            moved = f"ETA moved {self.shift_minutes:+d} min"
        return (
            f"{moved} (plan v{self.plan_version}, {self.stops_before} stops before): {self.reason}"
        )


@dataclass(frozen=True, kw_only=True)
class DeliveryDropped(Event):
    """The optimizer could not fit a delivery into any route."""

    reason: str

    def summary(self) -> str:
        """Describe the event."""
        return f"Not planned: {self.reason}"


@dataclass(frozen=True, kw_only=True)
class SmsQueued(Event):
    """A text message to the recipient was put in the outbox."""

    message_kind: str
    idempotency_key: str
    deferred_until: str | None = None

    def summary(self) -> str:
        """Describe the event."""
        later = f", held until {self.deferred_until} (quiet hours)" if self.deferred_until else ""
        return f"SMS '{self.message_kind}' queued{later}"


@dataclass(frozen=True, kw_only=True)
class SmsSent(Event):
    """The SMS provider accepted a text from the outbox."""

    message_kind: str
    provider_sid: str
    attempts: int

    def summary(self) -> str:
        """Describe the event."""
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        return f"SMS '{self.message_kind}' sent{tries} ({self.provider_sid})"


@dataclass(frozen=True, kw_only=True)
class SmsFailed(Event):
    """A text could not be sent and will not be tried again."""

    message_kind: str
    error: str

    def summary(self) -> str:
        """Describe the event."""
        return f"SMS '{self.message_kind}' failed: {self.error}"


@dataclass(frozen=True, kw_only=True)
class SmsCancelled(Event):
    """A text was not sent on purpose (opted out, SMS turned off, no longer relevant)."""

    message_kind: str
    reason: str

    def summary(self) -> str:
        """Describe the event."""
        return f"SMS '{self.message_kind}' not sent: {self.reason}"


@dataclass(frozen=True, kw_only=True)
class SmsStatusReported(Event):
    """The provider reported a text's final fate on the handset."""

    message_kind: str
    status: str
    error_code: str | None = None

    def summary(self) -> str:
        """Describe the event."""
        code = f" (error {self.error_code})" if self.error_code else ""
        return f"SMS '{self.message_kind}' {self.status}{code}"


@dataclass(frozen=True, kw_only=True)
class SmsReceived(Event):
    """The recipient texted us; ``reply`` is what we answered."""

    body: str
    keyword: str
    reply: str

    def summary(self) -> str:
        """Describe the event."""
        return f"SMS from the recipient: {self.body!r}"


@dataclass(frozen=True, kw_only=True)
class SafePlaceChosen(Event):
    """The recipient asked for the parcel to be left in a safe place."""

    safe_place: str

    def summary(self) -> str:
        """Describe the event."""
        return f"Safe place set: {self.safe_place!r}"


@dataclass(frozen=True, kw_only=True)
class DeliveryRated(Event):
    """The recipient rated the delivery."""

    score: int
    previous: int | None = None

    def summary(self) -> str:
        """Describe the event."""
        changed = f" (was {self.previous}/5)" if self.previous is not None else ""
        return f"Rated {self.score}/5{changed}"


@dataclass(frozen=True, kw_only=True)
class DriverArrived(Event):
    """The driver reached the delivery's stop."""

    stop_id: int

    def summary(self) -> str:
        """Describe the event."""
        return "Driver arrived at the stop"


@dataclass(frozen=True, kw_only=True)
class ParcelDelivered(Event):
    """The parcel was handed over or left as instructed."""

    option: str
    note: str = ""

    def summary(self) -> str:
        """Describe the event."""
        text = f"Delivered ({self.option.replace('_', ' ')})"
        return f"{text}: {self.note}" if self.note else text


@dataclass(frozen=True, kw_only=True)
class ProofRecorded(Event):
    """The driver's photos of a hand-over (or of a failed attempt) were stored."""

    photo_ids: list[int]
    # How far from the address the photos were taken: None when the phone sent no position.
    distance_m: float | None = None
    flagged: bool = False  # farther than PROOF_MAX_DISTANCE_M: support should look
    failed_attempt: bool = False

    def summary(self) -> str:
        """Describe the event."""
        count = len(self.photo_ids)
        what = "Photo" if count == 1 else f"{count} photos"
        of = "the failed attempt" if self.failed_attempt else "the hand-over"
        text = f"{what} of {of}"
        if self.distance_m is None:
            return text + " (no position)"
        text += f", taken {round(self.distance_m)} m from the address"
        return text + " — too far, check it" if self.flagged else text


@dataclass(frozen=True, kw_only=True)
class DeliveryAttemptFailed(Event):
    """The driver could not deliver and said why."""

    reason: str
    attempt: int

    def summary(self) -> str:
        """Describe the event."""
        return f"Attempt {self.attempt} failed: {self.reason}"


# ---------------------------------------------------------------- lockers (issue 11)


@dataclass(frozen=True, kw_only=True)
class LockerChosen(Event):
    """The recipient sent the parcel to a parcel locker or pickup point instead."""

    locker_id: int
    locker_name: str
    compartment: str
    previous_locker_id: int | None = None

    def summary(self) -> str:
        """Describe the event."""
        instead = " instead of another locker" if self.previous_locker_id else ""
        return f"Sent to {self.locker_name} (compartment {self.compartment}){instead}"


@dataclass(frozen=True, kw_only=True)
class LockerChoiceUndone(Event):
    """The recipient took back a locker choice: the parcel goes to the door again."""

    locker_id: int
    locker_name: str

    def summary(self) -> str:
        """Describe the event."""
        return f"Back to the door instead of {self.locker_name}"


@dataclass(eq=False)
class TimelineEntry:
    """One append-only line of a delivery's history (who, what, when, why)."""

    delivery_id: int
    occurred_at: datetime
    actor: str
    actor_id: str | None
    kind: str
    summary: str
    data: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


def to_timeline_entry(event: Event) -> TimelineEntry | None:
    """Turn a delivery-level event into its timeline line (fleet events have none)."""
    if event.delivery_id is None:
        return None
    return TimelineEntry(
        delivery_id=event.delivery_id,
        occurred_at=event.occurred_at,
        actor=str(event.actor),
        actor_id=event.actor_id,
        kind=event.kind,
        summary=event.summary(),
        data=event.data(),
    )


# ---------------------------------------------------------------- slots (issue 11)


@dataclass(frozen=True, kw_only=True)
class DeliveryRescheduled(Event):
    """The recipient moved the parcel to another delivery slot."""

    slot_id: int
    old_slot_id: int | None
    window_start: str
    window_end: str
    old_window_start: str | None
    old_window_end: str | None
    reschedules: int  # how often the parcel has been moved, this time included
    same_day: bool  # still on today's route (the re-plan moves the stop), or another day

    def summary(self) -> str:
        """Describe the event."""
        day = "same day" if self.same_day else "another day"
        return (
            f"Moved to slot {self.slot_id} ({self.window_start} to {self.window_end}, {day}; "
            f"move {self.reschedules})"
        )


@dataclass(frozen=True, kw_only=True)
class ChoicesOffered(Event):
    """We texted the recipient numbered choices ("reply 1-3"): slots or lockers.

    The offer is open until a digit picks one, a newer offer replaces it, or it expires;
    the digits mean nothing else meanwhile (a rating is only asked for after delivery).
    """

    what: str  # "slots" or "lockers"
    ids: tuple[int, ...]
    expires_at: datetime

    def summary(self) -> str:
        """Describe the event."""
        return f"Offered {len(self.ids)} {self.what} by text"


# ---------------------------------------------------------------- issue 11: hand-over, trunk,
# texts and rating (the recipient's instructions; no event ever carries an access code)


@dataclass(frozen=True, kw_only=True)
class HandOverInstructionsSet(Event):
    """The recipient said how the parcel is to be handed over when nobody opens."""

    option: str
    where: str | None = None
    note: str | None = None
    access_code: str = "unchanged"  # "set", "removed" or "unchanged": never the code

    def summary(self) -> str:
        """Describe the event."""
        where = f" ({self.where})" if self.where else ""
        note = f", note {self.note!r}" if self.note else ""
        code = "" if self.access_code == "unchanged" else f", access code {self.access_code}"
        return f"Hand-over set: {self.option.replace('_', ' ')}{where}{note}{code}"


@dataclass(frozen=True, kw_only=True)
class AccessCodePurged(Event):
    """The delivery ended, so its access code was deleted."""

    status: str

    def summary(self) -> str:
        """Describe the event."""
        return f"Access code deleted: the parcel is {self.status.replace('_', ' ')}"


@dataclass(frozen=True, kw_only=True)
class TrunkDeliveryChosen(Event):
    """The recipient asked for the parcel in their car's boot."""

    car: str
    plate: str
    spot: str
    opens: str
    closes: str
    pinned: bool = False

    def summary(self) -> str:
        """Describe the event."""
        pin = ", pin on the map" if self.pinned else ""
        return (
            f"Car boot delivery: {self.car} {self.plate} at {self.spot!r}{pin}, "
            f"{self.opens}–{self.closes}"
        )


@dataclass(frozen=True, kw_only=True)
class TrunkDeliveryCancelled(Event):
    """The recipient no longer wants the parcel in their car's boot."""

    def summary(self) -> str:
        """Describe the event."""
        return "Car boot delivery cancelled: back to the door"


@dataclass(frozen=True, kw_only=True)
class TextPreferencesChanged(Event):
    """The recipient chose which texts to get and when not to be texted."""

    muted: str | None = None
    quiet_hours: str | None = None

    def summary(self) -> str:
        """Describe the event."""
        muted = self.muted.replace(",", ", ").replace("_", " ") if self.muted else "none"
        quiet = self.quiet_hours or "the default"
        return f"Text settings: turned off {muted}; quiet hours {quiet}"


@dataclass(frozen=True, kw_only=True)
class RatingCommented(Event):
    """The recipient wrote (or changed) a comment with their rating."""

    comment: str | None

    def summary(self) -> str:
        """Describe the event."""
        return f"Rating comment: {self.comment!r}" if self.comment else "Rating comment removed"


# ---------------------------------------------------------------- locker pickups (issue 12)
# The pickup code is the recipient's secret: no event carries it, so no timeline shows it.


@dataclass(frozen=True, kw_only=True)
class ParcelDeposited(Event):
    """The driver put the parcel into a locker compartment; the recipient may collect it."""

    locker_id: int
    locker_name: str
    compartment: str
    last_day: str  # the last local day to collect it, ISO (YYYY-MM-DD)

    def summary(self) -> str:
        """Describe the event."""
        return (
            f"Put in compartment {self.compartment} of {self.locker_name}; "
            f"to be collected by {self.last_day}"
        )


@dataclass(frozen=True, kw_only=True)
class ParcelCollected(Event):
    """The recipient took the parcel out of the locker (reported by the locker's operator)."""

    locker_id: int
    locker_name: str
    compartment: str | None

    def summary(self) -> str:
        """Describe the event."""
        where = f" (compartment {self.compartment})" if self.compartment else ""
        return f"Collected from {self.locker_name}{where}"


@dataclass(frozen=True, kw_only=True)
class ParcelReturned(Event):
    """Nobody collected the parcel in time: it goes back to the sender."""

    locker_id: int
    locker_name: str
    compartment: str | None
    hold_days: int
    last_day: str  # the last local day it could have been collected, ISO

    def summary(self) -> str:
        """Describe the event."""
        return (
            f"Returned to the sender: not collected from {self.locker_name} within "
            f"{self.hold_days} days (by {self.last_day})"
        )


# ---------------------------------------------------------------- support (issue 14)


@dataclass(frozen=True, kw_only=True)
class CutoffOverridden(Event):
    """A supervisor changed a parcel after its cut-off, saying why."""

    change: str
    reason: str

    def summary(self) -> str:
        """Describe the event."""
        return f"Cut-off overridden ({self.change}): {self.reason}"


@dataclass(frozen=True, kw_only=True)
class AccessCodeRevealed(Event):
    """A supervisor read a delivery's access code on the support page."""

    staff_name: str

    def summary(self) -> str:
        """Describe the event."""
        return f"Access code revealed to {self.staff_name}"


@dataclass(frozen=True, kw_only=True)
class ExceptionMarked(Event):
    """Support recorded a problem with the delivery (and the status it led to, if any)."""

    note: str
    new_status: str | None = None

    def summary(self) -> str:
        """Describe the event."""
        then = f" → {self.new_status}" if self.new_status else ""
        return f"Exception{then}: {self.note}"


@dataclass(frozen=True, kw_only=True)
class TrackingLinkResent(Event):
    """Support texted the recipient their tracking link again."""

    to: str

    def summary(self) -> str:
        """Describe the event."""
        return f"Tracking link texted again to {self.to}"


@dataclass(frozen=True, kw_only=True)
class DriverTokenIssued(Event):
    """Support gave the parcel's driver a new token (the old one stopped working)."""

    driver_name: str

    def summary(self) -> str:
        """Describe the event."""
        return f"New sign-in token issued to driver {self.driver_name}"
