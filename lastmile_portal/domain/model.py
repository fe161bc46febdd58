"""The portal's entities as plain dataclasses; the ORM maps them without the domain knowing.

Entities use identity equality (``eq=False``) so the ORM can keep them in sets and maps.
Datetimes are timezone-aware UTC; ``service_date`` is the depot's local calendar day.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from . import instructions as handover_rules  # issue 11: hand-over rules
from .errors import InvalidInput, InvalidTransition
from .events import (
    AccessCodePurged,
    Actor,
    DeliveryAttemptFailed,
    DeliveryRated,
    DeliveryRescheduled,
    DeliveryStatusChanged,
    DriverArrived,
    Event,
    HandOverInstructionsSet,
    LockerChoiceUndone,
    LockerChosen,
    ParcelCollected,
    ParcelDelivered,
    ParcelDeposited,
    ParcelReturned,
    RatingCommented,
    SafePlaceChosen,
    TextPreferencesChanged,
    TrunkDeliveryCancelled,
    TrunkDeliveryChosen,
)
from .status import CHANGEABLE, LABELS, TERMINAL, DeliveryStatus, can_transition
from .text import printable

# ---------------------------------------------------------------- value enums


class VehicleKind(StrEnum):
    """The kinds of vehicle a depot dispatches."""

    VAN = "van"
    EV_VAN = "ev_van"
    CARGO_BIKE = "cargo_bike"
    SIDEWALK_ROBOT = "sidewalk_robot"
    GIG_CAR = "gig_car"


VEHICLE_LABELS: dict[VehicleKind, str] = {
    VehicleKind.VAN: "Van",
    VehicleKind.EV_VAN: "Electric van",
    VehicleKind.CARGO_BIKE: "Cargo bike",
    VehicleKind.SIDEWALK_ROBOT: "Delivery robot",
    VehicleKind.GIG_CAR: "Car",
}


class Employment(StrEnum):
    """Whether a driver is on staff or a gig courier."""

    STAFF = "staff"
    GIG = "gig"


class ParcelSize(StrEnum):
    """Parcel and locker compartment sizes, smallest first."""

    S = "S"
    M = "M"
    L = "L"


SIZE_ORDER = {ParcelSize.S: 0, ParcelSize.M: 1, ParcelSize.L: 2}

SAFE_PLACE_LENGTH = (3, 200)
RATABLE = frozenset({DeliveryStatus.DELIVERED, DeliveryStatus.COLLECTED})


class DeliveryOption(StrEnum):
    """How the recipient wants to receive the parcel."""

    DOOR = "door"
    SAFE_PLACE = "safe_place"
    NEIGHBOUR = "neighbour"
    VEHICLE_TRUNK = "vehicle_trunk"
    LOCKER = "locker"
    PICKUP_POINT = "pickup_point"


class RouteStatus(StrEnum):
    """Lifecycle of a driver's day."""

    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class StopKind(StrEnum):
    """Whether a stop is one address or a locker consolidating several parcels."""

    ADDRESS = "address"
    LOCKER = "locker"


def stop_window(
    kind: StopKind, windows: list[tuple[datetime | None, datetime | None]]
) -> tuple[datetime | None, datetime | None]:
    """Return when a stop may be served, given its parcels' promised windows.

    A door is served inside every parcel's window. A locker is open all day: its parcels
    must be in it by the earliest promised end and may go in any time before, so the
    driver never waits there.
    """
    starts = [s for s, _ in windows if s is not None]
    ends = [e for _, e in windows if e is not None]
    start = max(starts) if starts and kind is not StopKind.LOCKER else None
    return start, (min(ends) if ends else None)


def stop_service_seconds(kind: StopKind, parcels: int) -> int:
    """Return how long a stop takes: a locker per parcel loaded, a door per extra parcel."""
    if kind is StopKind.LOCKER:
        return 120 + 30 * parcels
    return 180 + 60 * (parcels - 1)


class StopStatus(StrEnum):
    """Progress of the driver at one stop."""

    PENDING = "pending"
    ARRIVED = "arrived"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class LockerKind(StrEnum):
    """Automated parcel locker or staffed pickup point (a shop)."""

    LOCKER = "locker"
    PICKUP_POINT = "pickup_point"


class CompartmentStatus(StrEnum):
    """Live state of one locker compartment."""

    FREE = "free"
    RESERVED = "reserved"
    OCCUPIED = "occupied"
    OUT_OF_SERVICE = "out_of_service"


class SmsStatus(StrEnum):
    """Life of an outbound text from our outbox to the handset (Twilio's words after SENDING)."""

    PENDING = "pending"
    DEFERRED = "deferred"
    SENDING = "sending"
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


# Later means further along: a text's status only ever moves forward.
_SMS_RANK: dict[SmsStatus, int] = {
    SmsStatus.PENDING: 0,
    SmsStatus.DEFERRED: 0,
    SmsStatus.SENDING: 0,
    SmsStatus.QUEUED: 1,
    SmsStatus.SENT: 2,
    SmsStatus.DELIVERED: 3,
    SmsStatus.UNDELIVERED: 3,
    SmsStatus.FAILED: 3,
    SmsStatus.CANCELLED: 3,
}
SMS_FINAL: frozenset[SmsStatus] = frozenset(s for s, rank in _SMS_RANK.items() if rank == 3)
# Still ours: no provider has taken the text yet.
SMS_UNSENT: frozenset[SmsStatus] = frozenset(s for s, rank in _SMS_RANK.items() if rank == 0)


def sms_status_after(current: SmsStatus, reported: SmsStatus) -> SmsStatus | None:
    """Return a text's status after a provider report, or None if it would move backwards."""
    if current in SMS_FINAL or _SMS_RANK[reported] <= _SMS_RANK[current]:
        return None
    return reported


class StaffRole(StrEnum):
    """Say what a staff member may do (agent < supervisor < admin).

    Agents act for customers; supervisors also override the cut-off, reveal access codes
    and see operations; admins manage.
    """

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    def at_least(self, needed: StaffRole) -> bool:
        """Return whether this role may do what ``needed`` may (agent < supervisor < admin)."""
        order = list(StaffRole)
        return order.index(self) >= order.index(needed)


# ---------------------------------------------------------------- tokens


def new_tracking_token() -> str:
    """Return a fresh unguessable tracking token (192 random bits, URL-safe)."""
    return secrets.token_urlsafe(24)


def new_tracking_number() -> str:
    """Return a random human-friendly tracking number (not sequential, so not enumerable)."""
    return "LM" + "".join(secrets.choice("0123456789") for _ in range(10))


def hash_api_token(token: str) -> str:
    """Return the stored form of a driver API token (SHA-256: tokens are long and random)."""
    return hashlib.sha256(token.encode()).hexdigest()


# ---------------------------------------------------------------- network and fleet


@dataclass(eq=False, kw_only=True)
class Depot:
    """A micro-fulfilment centre that routes start from and end at."""

    code: str
    name: str
    address: str
    lat: float
    lng: float
    timezone: str = "Europe/Berlin"
    opens_at: str = "07:00"
    closes_at: str = "21:00"
    id: int | None = None
    # issue 11: recipients may ask for the parcel in their car's trunk
    trunk_delivery: bool = False


@dataclass(eq=False, kw_only=True)
class ServiceArea:
    """Postcodes a depot serves; the optimizer partitions work by area."""

    depot_id: int
    name: str
    postcode_prefixes: str  # comma-separated, e.g. "101,102,103"
    id: int | None = None

    def covers(self, postcode: str) -> bool:
        """Return whether this area serves the postcode."""
        return any(postcode.startswith(p.strip()) for p in self.postcode_prefixes.split(",") if p)


@dataclass(eq=False, kw_only=True)
class VehicleType:
    """Capabilities and costs shared by every vehicle of a kind."""

    code: str
    kind: VehicleKind
    name: str
    capacity: int  # parcels
    max_parcel_size: ParcelSize
    speed_factor: float  # multiplies the base travel speed
    range_km: float
    co2_g_per_km: float
    cost_per_km: float
    cost_per_hour: float
    fixed_cost: float
    id: int | None = None


@dataclass(eq=False, kw_only=True)
class Vehicle:
    """One vehicle stationed at a depot."""

    depot_id: int
    vehicle_type_id: int
    label: str
    active: bool = True
    id: int | None = None


@dataclass(eq=False, kw_only=True)
class Driver:
    """A person who drives routes; authenticates with a bearer token stored hashed."""

    name: str
    phone: str
    employment: Employment
    api_token_hash: str
    depot_id: int | None = None
    active: bool = True
    last_lat: float | None = None
    last_lng: float | None = None
    last_position_at: datetime | None = None
    id: int | None = None

    @property
    def first_name(self) -> str:
        """Return the only part of the name a recipient sees."""
        return self.name.split()[0] if self.name.strip() else ""

    def token_matches(self, token: str) -> bool:
        """Return whether ``token`` is this driver's API token (constant time)."""
        return secrets.compare_digest(self.api_token_hash, hash_api_token(token))


@dataclass(eq=False, kw_only=True)
class DriverPosition:
    """One GPS fix from a driver's phone."""

    driver_id: int
    lat: float
    lng: float
    recorded_at: datetime
    received_at: datetime
    speed: float | None = None  # m/s
    heading: float | None = None  # degrees
    accuracy: float | None = None  # metres
    suspect: bool = False  # an impossible jump from the previous fix (GPS glitch)
    id: int | None = None


# ---------------------------------------------------------------- lockers and slots


@dataclass(eq=False, kw_only=True)
class LockerCompartment:
    """One door of a locker (or one shelf place at a pickup point)."""

    locker_id: int
    label: str
    size: ParcelSize
    status: CompartmentStatus = CompartmentStatus.FREE
    delivery_id: int | None = None
    id: int | None = None
    # issue 11: when a recipient's choice reserved this door (None: not reserved)
    reserved_at: datetime | None = None


@dataclass(eq=False, kw_only=True)
class Locker:
    """A parcel locker or pickup point recipients can redirect a parcel to."""

    code: str
    name: str
    kind: LockerKind
    address: str
    postcode: str
    lat: float
    lng: float
    depot_id: int
    opening_hours: str = "Mo-Su 00:00-24:00"  # OSM opening_hours syntax
    active: bool = True
    compartments: list[LockerCompartment] = field(default_factory=list)
    id: int | None = None
    # issue 12: the operator's API key (reports collections), stored hashed; None: no key yet
    api_key_hash: str | None = None

    def key_matches(self, key: str) -> bool:
        """Return whether ``key`` is this locker's API key (constant time)."""
        if self.api_key_hash is None:
            return False
        return secrets.compare_digest(self.api_key_hash, hash_api_token(key))

    def free_count(self, size: ParcelSize) -> int:
        """Return how many free compartments can take a parcel of ``size``."""
        return sum(
            1
            for c in self.compartments
            if c.status is CompartmentStatus.FREE and SIZE_ORDER[c.size] >= SIZE_ORDER[size]
        )


@dataclass(eq=False, kw_only=True)
class DeliverySlot:
    """A bookable delivery window at a depot with a capacity in parcels."""

    depot_id: int
    service_date: date
    starts_at: datetime
    ends_at: datetime
    capacity: int
    booked: int = 0
    id: int | None = None

    @property
    def remaining(self) -> int:
        """Return how many more parcels the slot can take."""
        return max(0, self.capacity - self.booked)


# ---------------------------------------------------------------- routes


@dataclass(eq=False, kw_only=True)
class Stop:
    """A place on a route: one address, or a locker taking several parcels."""

    route_id: int | None
    sequence: int
    kind: StopKind
    lat: float
    lng: float
    service_seconds: int
    planned_arrival: datetime | None = None
    planned_travel_s: int = 0  # the plan's drive from the previous place: the pace baseline
    expected_arrival: datetime | None = None  # live estimate from the driver's position
    eta_earliest: datetime | None = None
    eta_latest: datetime | None = None
    status: StopStatus = StopStatus.PENDING
    locker_id: int | None = None
    arrived_at: datetime | None = None
    departed_at: datetime | None = None
    id: int | None = None

    @property
    def is_open(self) -> bool:
        """Return whether the driver still has to visit this stop."""
        return self.status in (StopStatus.PENDING, StopStatus.ARRIVED)

    def arrive(self, *, at: datetime) -> None:
        """Record that the driver is at the stop now (a second tap moves the time on)."""
        self._require_open("marked arrived")
        self.status = StopStatus.ARRIVED
        self.arrived_at = at

    def complete(self, *, at: datetime) -> None:
        """Record that the driver dealt with the stop and left; repeating it changes nothing."""
        self._close(StopStatus.DONE, at, "marked done")

    def fail(self, *, at: datetime) -> None:
        """Record that the driver could not serve the stop and left; a repeat changes nothing."""
        self._close(StopStatus.FAILED, at, "marked failed")

    def replan(
        self,
        *,
        route_id: int,
        sequence: int,
        arrival: datetime,
        travel_s: int,
        eta: tuple[datetime, datetime],
    ) -> None:
        """Put the stop where a new plan has it: its route, place in line, arrival and window.

        The live estimate starts again from the plan. A stop the driver has finished keeps
        its record: only an open stop can be planned anew.
        """
        self._require_open("re-planned")
        self.route_id = route_id
        self.sequence = sequence
        self.planned_arrival = arrival
        self.planned_travel_s = travel_s
        self.expected_arrival = arrival
        self.eta_earliest, self.eta_latest = eta

    def _close(self, status: StopStatus, at: datetime, action: str) -> None:
        if self.status is status:
            return  # a retried tap: the first one's times stand
        self._require_open(action)
        self.status = status
        # The driver may not have tapped "arrived" first; being done means being there.
        self.arrived_at = self.arrived_at or at
        self.departed_at = at

    def _require_open(self, action: str) -> None:
        if not self.is_open:
            raise InvalidTransition(
                f"Stop {self.id} is already {self.status.value}: it cannot be {action}."
            )

    # issue 11: a door stop follows its parcel to the recipient's car (and back)
    def estimate(self, *, expected: datetime, eta: tuple[datetime, datetime]) -> None:
        """Keep the live estimate of an open stop (the plan's arrival stays as it was)."""
        self._require_open("estimated")
        self.expected_arrival = expected
        self.eta_earliest, self.eta_latest = eta

    def move_to(
        self, *, kind: StopKind, lat: float, lng: float, locker_id: int | None, parcels: int
    ) -> None:
        """Make an open stop a door or a locker stop (its only parcel changed where it goes)."""
        self._require_open("moved")
        self.kind, self.lat, self.lng, self.locker_id = kind, lat, lng, locker_id
        self.resize(parcels)

    def resize(self, parcels: int) -> None:
        """Give the stop the service time of ``parcels`` parcels (one joined or left it)."""
        self.service_seconds = stop_service_seconds(self.kind, max(1, parcels))

    def relocate(self, *, lat: float, lng: float) -> None:
        """Move an open door stop to where its parcel is now handed over."""
        self._require_open("moved")
        if self.kind is not StopKind.ADDRESS:
            raise InvalidTransition(f"Stop {self.id} is a locker: it cannot be moved.")
        self.lat, self.lng = lat, lng


@dataclass(eq=False, kw_only=True)
class Route:
    """One driver's day: a vehicle, a depot, and stops in planned order."""

    driver_id: int
    vehicle_id: int
    depot_id: int
    service_date: date
    status: RouteStatus = RouteStatus.PLANNED
    plan_version: int = 1
    planned_start: datetime | None = None
    planned_end: datetime | None = None
    planned_distance_m: float = 0.0
    started_at: datetime | None = None
    completed_at: datetime | None = None
    stops: list[Stop] = field(default_factory=list)
    id: int | None = None

    def ordered_stops(self) -> list[Stop]:
        """Return the stops in visiting order."""
        return sorted(self.stops, key=lambda s: s.sequence)

    def stops_before(self, stop: Stop) -> int:
        """Return how many open stops the driver visits before ``stop``."""
        return sum(1 for s in self.stops if s.is_open and s.sequence < stop.sequence)

    def dispatch(self, *, at: datetime) -> None:
        """Send the route out: the driver's day has started.

        Dispatching a route already under way changes nothing, so a dispatch can be re-run;
        a finished or cancelled route cannot go out again.
        """
        if self.status not in (RouteStatus.PLANNED, RouteStatus.IN_PROGRESS):
            raise InvalidTransition(
                f"Route {self.id} is {self.status.value.replace('_', ' ')}: "
                "it cannot be dispatched."
            )
        self.status = RouteStatus.IN_PROGRESS
        self.started_at = self.started_at or at

    def complete(self, *, at: datetime) -> None:
        """Close the route once every stop is dealt with; closing it again changes nothing."""
        if self.status is RouteStatus.COMPLETED:
            return
        if self.status is RouteStatus.CANCELLED:
            raise InvalidTransition(f"Route {self.id} is cancelled: it cannot be completed.")
        if any(s.is_open for s in self.stops):
            raise InvalidTransition(f"Route {self.id} still has stops to visit.")
        self.status = RouteStatus.COMPLETED
        self.completed_at = at


# ---------------------------------------------------------------- deliveries


@dataclass(eq=False, kw_only=True)
class Delivery:
    """One parcel to one recipient: the aggregate customer, driver and support all change.

    ``version`` is the optimistic-concurrency counter: a write based on a stale read fails.
    """

    tracking_number: str
    tracking_token: str
    recipient_name: str
    phone: str  # E.164
    address_line: str
    postcode: str
    city: str
    lat: float
    lng: float
    depot_id: int
    created_at: datetime
    email: str | None = None
    service_date: date | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    slot_id: int | None = None
    option: DeliveryOption = DeliveryOption.DOOR
    safe_place: str | None = None
    neighbour: str | None = None
    instructions: str | None = None
    access_code: str | None = None  # encrypted at rest by the storage adapter
    locker_id: int | None = None
    parcel_size: ParcelSize = ParcelSize.M
    weight_kg: float = 1.0
    status: DeliveryStatus = DeliveryStatus.CREATED
    attempts: int = 0
    stop_id: int | None = None
    sms_enabled: bool = True
    quiet_hours: str | None = None  # "21:00-08:00" local; None means the global default
    updated_at: datetime | None = None
    version: int = 1
    id: int | None = None
    # ---- issue 11: the recipient's changes (trunk delivery, muted texts, reschedules, pickup)
    trunk_make: str | None = None
    trunk_colour: str | None = None
    trunk_plate: str | None = None
    trunk_lat: float | None = None
    trunk_lng: float | None = None
    trunk_spot: str | None = None  # where the car is parked, in words
    trunk_from: datetime | None = None  # the hand-over window
    trunk_until: datetime | None = None
    sms_muted: str | None = None  # comma-separated message kinds the recipient turned off
    reschedules: int = 0
    pickup_code: str | None = None  # for locker parcels
    # ---- issue 13: announced by a carrier's system (API or CSV)
    reference: str | None = None  # the carrier's own id: announcing it again is a replay
    intake_fingerprint: str | None = None  # what was announced, to tell a replay from a clash

    def __post_init__(self) -> None:
        self.init_events()

    def init_events(self) -> None:
        """Start an empty list of unrecorded events (also called after loading from storage)."""
        self.events: list[Event] = []

    @property
    def status_label(self) -> str:
        """Return the status in words a recipient understands."""
        return LABELS[self.status]

    @property
    def recipient_first_name(self) -> str:
        """Return the recipient's first name for greetings."""
        return self.recipient_name.split()[0] if self.recipient_name.strip() else ""

    def record(self, event: Event) -> None:
        """Keep ``event`` to be logged and dispatched when the unit of work commits."""
        self.events.append(event)

    def transition_to(
        self,
        new: DeliveryStatus,
        *,
        at: datetime,
        actor: Actor,
        actor_id: str | None = None,
        reason: str = "",
    ) -> None:
        """Move to ``new`` if the state machine allows it, recording why."""
        if new == self.status:
            return
        self._require(new)
        old = self.status
        self.status = new
        self.updated_at = at
        self.record(
            DeliveryStatusChanged(
                delivery_id=self.id,
                occurred_at=at,
                actor=actor,
                actor_id=actor_id,
                old=str(old),
                new=str(new),
                reason=reason,
            )
        )
        if new in TERMINAL:
            self._purge_access_code(at)  # issue 11: the code lives only as long as the delivery

    def _require(self, new: DeliveryStatus) -> None:
        if not can_transition(self.status, new):
            raise InvalidTransition(
                f"A parcel that is '{LABELS[self.status].lower()}' cannot become "
                f"'{LABELS[new].lower()}'."
            )

    def mark_arrived(self, *, at: datetime, driver_id: int, stop_id: int) -> None:
        """Record that the driver is at the door."""
        # The geofence may have said "arriving" already; the driver's tap confirms it.
        # Otherwise, unlike a status change, a driver action is never a silent repeat.
        if self.status is not DeliveryStatus.ARRIVING:
            self._require(DeliveryStatus.ARRIVING)
        self.transition_to(
            DeliveryStatus.ARRIVING, at=at, actor=Actor.DRIVER, actor_id=str(driver_id)
        )
        self.record(
            DriverArrived(
                delivery_id=self.id,
                occurred_at=at,
                actor=Actor.DRIVER,
                actor_id=str(driver_id),
                stop_id=stop_id,
            )
        )

    def mark_delivered(self, *, at: datetime, driver_id: int, note: str = "") -> None:
        """Record a successful hand-over (into a locker: ready for pickup)."""
        at_locker = self.option in (DeliveryOption.LOCKER, DeliveryOption.PICKUP_POINT)
        target = DeliveryStatus.AT_LOCKER if at_locker else DeliveryStatus.DELIVERED
        self._require(target)
        self.transition_to(
            target,
            at=at,
            actor=Actor.DRIVER,
            actor_id=str(driver_id),
        )
        self.attempts += 1  # only once the state machine has agreed
        self.record(
            ParcelDelivered(
                delivery_id=self.id,
                occurred_at=at,
                actor=Actor.DRIVER,
                actor_id=str(driver_id),
                option=str(self.option),
                note=note,
            )
        )

    def mark_failed(self, *, at: datetime, driver_id: int, reason: str) -> None:
        """Record a failed attempt and the driver's reason."""
        self._require(DeliveryStatus.FAILED)
        self.transition_to(
            DeliveryStatus.FAILED, at=at, actor=Actor.DRIVER, actor_id=str(driver_id), reason=reason
        )
        self.attempts += 1  # only once the state machine has agreed
        self.record(
            DeliveryAttemptFailed(
                delivery_id=self.id,
                occurred_at=at,
                actor=Actor.DRIVER,
                actor_id=str(driver_id),
                reason=reason,
                attempt=self.attempts,
            )
        )

    def choose_safe_place(
        self, text: str, *, at: datetime, actor: Actor, actor_id: str | None = None
    ) -> None:
        """Leave the parcel at a safe place described by ``text``, while that can still change."""
        note = printable(text)
        shortest, longest = SAFE_PLACE_LENGTH
        if not shortest <= len(note) <= longest:
            raise InvalidInput(
                f"Describe the safe place in {shortest} to {longest} characters, "
                "e.g. 'behind the green bin'."
            )
        if self.status not in CHANGEABLE:
            raise InvalidTransition(
                f"The parcel is '{LABELS[self.status].lower()}': it is too late to change "
                "where it is left."
            )
        if self.option in (DeliveryOption.LOCKER, DeliveryOption.PICKUP_POINT):
            raise InvalidTransition("This parcel goes to a locker, so it has no safe place.")
        if self.option is DeliveryOption.SAFE_PLACE and self.safe_place == note:
            return  # the same request twice changes nothing
        self.option = DeliveryOption.SAFE_PLACE
        self.safe_place = note
        self.updated_at = at
        self.record(
            SafePlaceChosen(
                delivery_id=self.id, occurred_at=at, actor=actor, actor_id=actor_id, safe_place=note
            )
        )

    def rate(
        self,
        score: int,
        *,
        at: datetime,
        actor: Actor,
        existing: Rating | None = None,
    ) -> Rating:
        """Score the delivery from 1 to 5 once the parcel is in the recipient's hands.

        A second score replaces the first: people correct a typo.
        """
        if not 1 <= score <= 5:
            raise InvalidInput("A rating is a whole number from 1 to 5.")
        if self.status not in RATABLE:
            raise InvalidTransition("You can rate the delivery once you have your parcel.")
        previous = existing.score if existing is not None else None
        rating = existing or Rating(delivery_id=self.id, score=score, created_at=at)  # type: ignore[arg-type]
        rating.score = score
        if previous != score:
            self.record(
                DeliveryRated(
                    delivery_id=self.id,
                    occurred_at=at,
                    actor=actor,
                    score=score,
                    previous=previous,
                )
            )
        return rating

    # ------------------------------------------------------------ lockers (issue 11)
    # The rules (what fits, which status, the cut-off) are domain/lockers.py's; these only
    # change the parcel and record why.

    def send_to_locker(
        self,
        locker: Locker,
        *,
        status: DeliveryStatus,
        compartment: str,
        pickup_code: str,
        at: datetime,
        actor: Actor,
        actor_id: str | None = None,
    ) -> None:
        """Make this a locker parcel for ``locker`` (compartment reserved by the caller)."""
        if locker.id is None or locker.depot_id != self.depot_id or not locker.active:
            raise InvalidInput("That locker is not one of ours near you.")
        previous = self.locker_id if self.option in LOCKER_OPTIONS else None
        self.transition_to(status, at=at, actor=actor, actor_id=actor_id, reason="sent to a locker")
        self.option = (
            DeliveryOption.LOCKER
            if locker.kind is LockerKind.LOCKER
            else DeliveryOption.PICKUP_POINT
        )
        self.locker_id = locker.id
        self.pickup_code = pickup_code
        self.safe_place = None  # a locker has none: the door's instructions no longer apply
        self.updated_at = at
        self.record(
            LockerChosen(
                delivery_id=self.id,
                occurred_at=at,
                actor=actor,
                actor_id=actor_id,
                locker_id=locker.id,
                locker_name=locker.name,
                compartment=compartment,
                previous_locker_id=previous,
            )
        )

    def back_to_door(
        self,
        locker: Locker,
        *,
        status: DeliveryStatus,
        at: datetime,
        actor: Actor,
        actor_id: str | None = None,
    ) -> None:
        """Undo a locker choice: the parcel goes to the recipient's door again."""
        if self.option not in LOCKER_OPTIONS:
            raise InvalidTransition(
                "This parcel is not going to a locker: there is nothing to undo."
            )
        self.transition_to(status, at=at, actor=actor, actor_id=actor_id, reason="back to the door")
        self.option = DeliveryOption.DOOR
        self.locker_id = None
        self.pickup_code = None
        self.updated_at = at
        self.record(
            LockerChoiceUndone(
                delivery_id=self.id,
                occurred_at=at,
                actor=actor,
                actor_id=actor_id,
                locker_id=locker.id,  # type: ignore[arg-type]
                locker_name=locker.name,
            )
        )

    # ------------------------------------------------------------ locker pickups (issue 12)
    # The compartment is claimed and freed by the caller's unit of work; the deadline rules
    # are domain/locker_pickup.py's. These check the status and record what happened.

    def put_in_locker(
        self,
        locker: Locker,
        *,
        compartment: str,
        pickup_code: str,
        last_day: date,
        at: datetime,
        actor_id: str | None = None,
    ) -> None:
        """Record that the driver put the parcel (now "ready for pickup") into ``compartment``."""
        if self.status is not DeliveryStatus.AT_LOCKER or self.locker_id != locker.id:
            raise InvalidTransition(f"This parcel is not waiting at {locker.name}.")
        self.pickup_code = pickup_code
        self.updated_at = at
        self.record(
            ParcelDeposited(
                delivery_id=self.id,
                occurred_at=at,
                actor=Actor.DRIVER,
                actor_id=actor_id,
                locker_id=locker.id,  # type: ignore[arg-type]
                locker_name=locker.name,
                compartment=compartment,
                last_day=last_day.isoformat(),
            )
        )

    def collect_from_locker(
        self, locker: Locker, *, compartment: str | None, at: datetime, actor_id: str | None
    ) -> None:
        """Record that the recipient took the parcel out of ``locker``."""
        self.transition_to(
            DeliveryStatus.COLLECTED,
            at=at,
            actor=Actor.SYSTEM,
            actor_id=actor_id,
            reason=f"collected from {locker.name}",
        )
        self.record(
            ParcelCollected(
                delivery_id=self.id,
                occurred_at=at,
                actor=Actor.SYSTEM,
                actor_id=actor_id,
                locker_id=locker.id,  # type: ignore[arg-type]
                locker_name=locker.name,
                compartment=compartment,
            )
        )

    def return_from_locker(
        self,
        locker: Locker,
        *,
        compartment: str | None,
        hold_days: int,
        last_day: date,
        at: datetime,
    ) -> None:
        """Send the uncollected parcel back to the sender, saying why."""
        self.transition_to(
            DeliveryStatus.RETURNED,
            at=at,
            actor=Actor.SYSTEM,
            reason=f"not collected from {locker.name} within {hold_days} days",
        )
        self.record(
            ParcelReturned(
                delivery_id=self.id,
                occurred_at=at,
                locker_id=locker.id,  # type: ignore[arg-type]
                locker_name=locker.name,
                compartment=compartment,
                hold_days=hold_days,
                last_day=last_day.isoformat(),
            )
        )

    # ------------------------------------------------------------ slots (issue 11)
    # Which slots are offered and which status a move leads to are domain/rescheduling.py's;
    # the place in the slot is claimed by the caller's unit of work (never over capacity).

    def move_to_slot(
        self,
        slot: DeliverySlot,
        *,
        same_day: bool,
        at: datetime,
        actor: Actor,
        actor_id: str | None = None,
    ) -> None:
        """Move the parcel into ``slot``: its promised window, its day and its slot change."""
        if slot.id is None or slot.depot_id != self.depot_id:
            raise InvalidInput("That slot is not one of your depot's.")
        if slot.id == self.slot_id:
            raise InvalidInput("Your parcel is already in that slot.")
        if slot.starts_at <= at:
            raise InvalidInput("That slot has already begun: please pick a later one.")
        if self.status not in CHANGEABLE:
            raise InvalidTransition(
                f"Your parcel is {LABELS[self.status].lower()}: it can no longer be moved."
            )
        old_slot, old_start, old_end = self.slot_id, self.window_start, self.window_end
        # Another day: the parcel waits at the depot for that day's plan. The same day: it
        # stays on today's route, and the re-plan moves its stop into the new window.
        if not same_day and can_transition(self.status, DeliveryStatus.RESCHEDULED):
            self.transition_to(
                DeliveryStatus.RESCHEDULED,
                at=at,
                actor=actor,
                actor_id=actor_id,
                reason="moved to another day",
            )
        elif self.status is DeliveryStatus.FAILED:
            self.transition_to(
                DeliveryStatus.RESCHEDULED,
                at=at,
                actor=actor,
                actor_id=actor_id,
                reason="moved to a new slot",
            )
        self.slot_id = slot.id
        self.service_date = slot.service_date
        self.window_start, self.window_end = slot.starts_at, slot.ends_at
        self.reschedules += 1
        self.updated_at = at
        self.record(
            DeliveryRescheduled(
                delivery_id=self.id,
                occurred_at=at,
                actor=actor,
                actor_id=actor_id,
                slot_id=slot.id,
                old_slot_id=old_slot,
                window_start=slot.starts_at.isoformat(),
                window_end=slot.ends_at.isoformat(),
                old_window_start=old_start.isoformat() if old_start else None,
                old_window_end=old_end.isoformat() if old_end else None,
                reschedules=self.reschedules,
                same_day=same_day,
            )
        )

    # ------------------------------------------------------------ hand-over, car boot, texts
    # (issue 11) The rules are domain/instructions.py's; these change the parcel and record
    # why. No event carries an access code.

    def give_instructions(
        self,
        handover: handover_rules.HandOver,
        *,
        at: datetime,
        actor: Actor,
        actor_id: str | None = None,
    ) -> bool:
        """Store how the parcel is handed over when nobody opens; return whether it changed.

        Open until the driver is at the door (instructions change no plan).
        """
        refusal = handover_rules.handover_refusal(self.status, self.option in LOCKER_OPTIONS)
        if refusal is not None:
            raise InvalidTransition(refusal)
        option = DeliveryOption(handover.option)
        if option is DeliveryOption.VEHICLE_TRUNK and self.option is not option:
            raise InvalidInput("Fill in the car boot form below to have it put in your car.")
        code = self.access_code if handover.keep_code else handover.access_code
        before = (self.option, self.safe_place, self.neighbour, self.instructions, self.access_code)
        after = (option, handover.safe_place, handover.neighbour, handover.note, code)
        if before == after:
            return False  # the same form twice changes nothing
        changed_code = code != self.access_code
        if option is not DeliveryOption.VEHICLE_TRUNK:
            self._clear_trunk()
        self.option, self.safe_place, self.neighbour, self.instructions, self.access_code = after
        self.updated_at = at
        self.record(
            HandOverInstructionsSet(
                delivery_id=self.id,
                occurred_at=at,
                actor=actor,
                actor_id=actor_id,
                option=str(option),
                where=handover.safe_place or handover.neighbour,
                note=handover.note,
                access_code=("set" if code else "removed") if changed_code else "unchanged",
            )
        )
        return True

    def choose_trunk(
        self,
        car: handover_rules.Trunk,
        *,
        offered: bool,
        at: datetime,
        actor: Actor,
        actor_id: str | None = None,
    ) -> bool:
        """Have the parcel put in the recipient's car; return whether anything changed.

        ``offered``: the depot delivers to car boots. The re-plan cut-off is the caller's
        (the stop moves to the car).
        """
        if not offered:
            raise InvalidTransition("Your depot does not deliver to car boots.")
        refusal = handover_rules.handover_refusal(self.status, self.option in LOCKER_OPTIONS)
        if refusal is not None:
            raise InvalidTransition(refusal)
        before = self._trunk_fields()
        self.trunk_make, self.trunk_colour, self.trunk_plate = car.make, car.colour, car.plate
        self.trunk_spot, self.trunk_lat, self.trunk_lng = car.spot, car.lat, car.lng
        self.trunk_from, self.trunk_until = car.opens, car.closes
        if self.option is DeliveryOption.VEHICLE_TRUNK and before == self._trunk_fields():
            return False
        self.option = DeliveryOption.VEHICLE_TRUNK
        self.safe_place = self.neighbour = None
        self.updated_at = at
        self.record(
            TrunkDeliveryChosen(
                delivery_id=self.id,
                occurred_at=at,
                actor=actor,
                actor_id=actor_id,
                car=f"{car.colour} {car.make}",
                plate=car.plate,
                spot=car.spot,
                opens=car.opens.isoformat(),
                closes=car.closes.isoformat(),
                pinned=car.lat is not None,
            )
        )
        return True

    def cancel_trunk(self, *, at: datetime, actor: Actor, actor_id: str | None = None) -> bool:
        """Take the parcel back to the door instead of the car; return whether it changed."""
        if self.option is not DeliveryOption.VEHICLE_TRUNK:
            return False
        refusal = handover_rules.handover_refusal(self.status, False)
        if refusal is not None:
            raise InvalidTransition(refusal)
        self.option = DeliveryOption.DOOR
        self._clear_trunk()
        self.updated_at = at
        self.record(
            TrunkDeliveryCancelled(
                delivery_id=self.id, occurred_at=at, actor=actor, actor_id=actor_id
            )
        )
        return True

    def set_text_preferences(
        self,
        *,
        muted: str | None,
        quiet_hours: str | None,
        at: datetime,
        actor: Actor,
        actor_id: str | None = None,
    ) -> bool:
        """Choose which optional texts to get and the quiet hours; return whether it changed."""
        if (self.sms_muted, self.quiet_hours) == (muted, quiet_hours):
            return False
        self.sms_muted, self.quiet_hours = muted, quiet_hours
        self.updated_at = at
        self.record(
            TextPreferencesChanged(
                delivery_id=self.id,
                occurred_at=at,
                actor=actor,
                actor_id=actor_id,
                muted=muted,
                quiet_hours=quiet_hours,
            )
        )
        return True

    def comment_on_rating(
        self, rating: Rating, comment: str | None, *, at: datetime, actor: Actor
    ) -> None:
        """Keep the recipient's comment with their rating (a second one replaces it)."""
        if self.status not in RATABLE:
            raise InvalidTransition("You can rate the delivery once you have your parcel.")
        if rating.comment == comment:
            return
        rating.comment = comment
        self.record(
            RatingCommented(delivery_id=self.id, occurred_at=at, actor=actor, comment=comment)
        )

    def _purge_access_code(self, at: datetime) -> None:
        """Delete the access code once the delivery is over: nobody needs it any more."""
        if self.access_code is None:
            return
        self.access_code = None
        self.record(AccessCodePurged(delivery_id=self.id, occurred_at=at, status=str(self.status)))

    @property
    def hand_over_place(self) -> tuple[float, float]:
        """Return where the driver hands the parcel over: the car's pin, else the address."""
        if (
            self.option is DeliveryOption.VEHICLE_TRUNK
            and self.trunk_lat is not None
            and self.trunk_lng is not None
        ):
            return self.trunk_lat, self.trunk_lng
        return self.lat, self.lng

    @property
    def hand_over_window(self) -> tuple[datetime | None, datetime | None]:
        """Return when the parcel may be handed over: the car's window for a car boot."""
        if self.option is DeliveryOption.VEHICLE_TRUNK and self.trunk_from and self.trunk_until:
            return self.trunk_from, self.trunk_until
        return self.window_start, self.window_end

    def _trunk_fields(self) -> tuple[object, ...]:
        return (
            self.trunk_make,
            self.trunk_colour,
            self.trunk_plate,
            self.trunk_spot,
            self.trunk_lat,
            self.trunk_lng,
            self.trunk_from,
            self.trunk_until,
        )

    def _clear_trunk(self) -> None:
        self.trunk_make = self.trunk_colour = self.trunk_plate = self.trunk_spot = None
        self.trunk_lat = self.trunk_lng = None
        self.trunk_from = self.trunk_until = None


LOCKER_OPTIONS = frozenset({DeliveryOption.LOCKER, DeliveryOption.PICKUP_POINT})


# ---------------------------------------------------------------- messages, proof, ratings, staff


@dataclass(eq=False, kw_only=True)
class OutboundSms:
    """A text in the transactional outbox; ``idempotency_key`` makes each one unique."""

    idempotency_key: str
    kind: str
    to: str
    body: str
    created_at: datetime
    delivery_id: int | None = None
    status: SmsStatus = SmsStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    provider_sid: str | None = None
    error: str | None = None
    sent_at: datetime | None = None
    status_updated_at: datetime | None = None  # when its outcome last changed
    id: int | None = None

    # Before the provider has it: held, retried, cancelled or failed by us.

    def defer(self, until: datetime) -> None:
        """Hold the text until ``until`` (quiet hours), then send it."""
        self._require_unsent("deferred")
        self.status = SmsStatus.DEFERRED
        self.next_attempt_at = until

    def cancel(self, reason: str, *, at: datetime) -> None:
        """Drop the text unsent because it must not go out (opted out, no longer relevant)."""
        self._give_up(SmsStatus.CANCELLED, reason, at, "cancelled")

    def fail(self, error: str, *, at: datetime) -> None:
        """Give up on the text unsent (invalid number, refused by the provider, too many tries)."""
        self._give_up(SmsStatus.FAILED, error, at, "failed")

    def attempt(self) -> None:
        """Count one more try at sending the text a sender has claimed."""
        self._require_claimed("sent")
        self.attempts += 1

    def is_claimed_until(self, lease: datetime) -> bool:
        """Return whether a sender still holds the text under the claim that ends at ``lease``."""
        return (
            self.status is SmsStatus.SENDING
            and self.next_attempt_at == lease
            and self.provider_sid is None
        )

    def retry_at(self, when: datetime, *, error: str | None = None, in_doubt: bool = False) -> None:
        """Try the claimed text again at ``when``; ``error`` says why the last try failed.

        A try that may have reached the provider (``in_doubt``) keeps the text claimed: the
        sender that picks it up at ``when`` asks the provider before sending it again.
        """
        self._require_claimed("retried")
        if not in_doubt:
            self.status = SmsStatus.PENDING
        self.next_attempt_at = when
        if error is not None:
            self.error = error

    # The provider has it: its id, then its reports.

    def identify(self, provider_sid: str) -> None:
        """Record the provider's id for the text; a text has only one."""
        if self.provider_sid not in (None, provider_sid):
            raise InvalidTransition(
                f"Text {self.id} is {self.provider_sid} at the provider, not {provider_sid}."
            )
        self.provider_sid = provider_sid

    def accepted(self, provider_sid: str, *, at: datetime) -> bool:
        """Record that the provider took the text; return whether this is the first time."""
        self.identify(provider_sid)
        first = self.sent_at is None
        self.sent_at = self.sent_at or at
        self.error = None
        self.next_attempt_at = None
        if self.status in SMS_UNSENT:
            # A status report may have beaten the sender here; never move it backwards.
            self.status = SmsStatus.QUEUED
            self.status_updated_at = at
        return first

    def apply_status(
        self, reported: SmsStatus, *, at: datetime, error_code: str | None = None
    ) -> bool:
        """Apply a provider's status report; return whether it moved the text forward.

        Duplicates and stragglers (a "sent" after "delivered") change nothing.
        """
        new = sms_status_after(self.status, reported)
        if new is None:
            return False
        self.status = new
        self.status_updated_at = at
        if error_code:
            self.error = f"provider error {error_code}"
        return True

    def _give_up(self, status: SmsStatus, why: str, at: datetime, action: str) -> None:
        self._require_unsent(action)
        self.status = status
        self.error = why
        self.next_attempt_at = None
        self.status_updated_at = at

    def _require_unsent(self, action: str) -> None:
        if self.status not in SMS_UNSENT or self.provider_sid is not None:
            raise InvalidTransition(
                f"Text {self.id} is {self.status.value}: it cannot be {action}."
            )

    def _require_claimed(self, action: str) -> None:
        if self.status is not SmsStatus.SENDING or self.provider_sid is not None:
            raise InvalidTransition(
                f"Text {self.id} is {self.status.value}, not claimed: it cannot be {action}."
            )


@dataclass(eq=False, kw_only=True)
class InboundSms:
    """A text a recipient sent us; ``provider_sid`` makes webhook retries harmless."""

    provider_sid: str
    from_phone: str
    body: str
    received_at: datetime
    delivery_id: int | None = None
    reply: str | None = None
    id: int | None = None


@dataclass(eq=False, kw_only=True)
class SmsOptOut:
    """A phone number that texted STOP and must get no more messages."""

    phone: str
    opted_out_at: datetime
    id: int | None = None


@dataclass(eq=False, kw_only=True)
class ProofPhoto:
    """A re-encoded photo taken by the driver at hand-over, stored under a random key."""

    delivery_id: int
    storage_key: str
    content_type: str
    width: int
    height: int
    uploaded_at: datetime
    taken_at: datetime | None = None
    lat: float | None = None
    lng: float | None = None
    thumbnail_key: str | None = None  # the small copy for pages (issue 12)
    id: int | None = None


@dataclass(eq=False, kw_only=True)
class Rating:
    """The recipient's 1–5 score for one delivery."""

    delivery_id: int
    score: int
    created_at: datetime
    comment: str | None = None
    id: int | None = None


@dataclass(eq=False, kw_only=True)
class StaffUser:
    """A support or operations person who logs in to /support."""

    email: str
    name: str
    password_hash: str
    role: StaffRole = StaffRole.AGENT
    active: bool = True
    # Sign-in guard (migration 0012): wrong passwords in a row, and the lock they lead to.
    failed_logins: int = 0
    locked_until: datetime | None = None
    last_login_at: datetime | None = None
    id: int | None = None


# issue 13: a carrier's systems sign in with API keys


API_SCOPES = ("deliveries:write", "deliveries:read", "routes:write")


@dataclass(eq=False, kw_only=True)
class ApiKey:
    """A key a carrier's system uses on the integration API; stored hashed, revocable."""

    name: str
    key_hash: str
    scopes: str  # comma-separated, from API_SCOPES
    created_at: datetime
    revoked_at: datetime | None = None
    id: int | None = None


# issue 12: the driver API's stop actions are retry-safe


@dataclass(eq=False, kw_only=True)
class IdempotentAnswer:
    """The answer a driver's request with an Idempotency-Key got, replayed on a retry."""

    driver_id: int
    key: str
    request: str  # which action on which stop, e.g. "delivered:12": a reused key is refused
    status_code: int
    body: str
    created_at: datetime
    id: int | None = None


# ---------------------------------------------------------------- planning jobs (issue 13)


class JobState(StrEnum):
    """Where a planning job is: waiting for a worker, being solved, or finished."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(eq=False, kw_only=True)
class PlanningJob:
    """One request to plan a depot's day, run by a worker and reported to whoever asked.

    Stored in the database, so the answer reaches the caller whichever process (web, thread,
    RQ worker) ran it. ``schedule_key`` is set only for the worker's timed runs: being unique,
    it lets many workers race for a depot's morning plan and exactly one win.
    """

    depot_id: int
    service_date: date
    requested_at: datetime
    trigger: str = "api"  # "api", "cli" or "schedule"
    state: JobState = JobState.QUEUED
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: dict[str, object] | None = None
    error: str | None = None
    schedule_key: str | None = None
    # Once running: the stops being planned and the seconds the search has (issue 15).
    stops: int | None = None
    time_limit_s: float | None = None
    id: int | None = None

    # A job queued or running this long was lost (a worker killed, a thread queue's process
    # restarted): it no longer holds the day, and the next request replaces it.
    LOST_AFTER_S = 15 * 60

    @property
    def finished(self) -> bool:
        """Return whether the job is over, well or badly."""
        return self.state in (JobState.DONE, JobState.FAILED)

    def lost(self, now: datetime) -> bool:
        """Return whether the job is unfinished long past any worker's time for it."""
        since = self.started_at or self.requested_at
        return not self.finished and (now - since).total_seconds() > self.LOST_AFTER_S

    def start(self, *, at: datetime) -> None:
        """Mark the job taken by a worker; only a queued job can start."""
        if self.state is not JobState.QUEUED:
            raise InvalidTransition(f"Planning job {self.id} is {self.state}: it cannot start.")
        self.state = JobState.RUNNING
        self.started_at = at

    def finish(self, result: dict[str, object], *, at: datetime) -> None:
        """Record the plan the job produced."""
        self.state = JobState.DONE
        self.result = result
        self.error = None
        self.finished_at = at

    def fail(self, error: str, *, at: datetime) -> None:
        """Record why the job could not plan the day."""
        self.state = JobState.FAILED
        self.error = error[:2000]
        self.finished_at = at
