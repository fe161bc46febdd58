"""Send a parcel to a parcel locker or pickup point: the rules, pure.

What is near, what fits, when it is open, which stop the parcel ends up on, and which
status a redirection leaves behind so that it can be undone. The services read and write;
this module only decides.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from . import model as m
from .geo import haversine_m
from .routing import Point
from .status import CHANGEABLE, EN_ROUTE, TERMINAL, TRANSITIONS, DeliveryStatus

# ---------------------------------------------------------------- opening hours

DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_TIME = r"([01]\d|2[0-4]):([0-5]\d)"
_RANGE = re.compile(rf"^{_TIME}-{_TIME}$")
_DAY_PART = re.compile(r"^(Mo|Tu|We|Th|Fr|Sa|Su)(?:-(Mo|Tu|We|Th|Fr|Sa|Su))?$")


@dataclass(frozen=True)
class HoursRule:
    """Some days of the week, each open in the same time ranges (minutes after midnight)."""

    days: frozenset[int]  # 0 = Monday
    ranges: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class OpeningHours:
    """The simple subset of OSM ``opening_hours`` we understand; later rules win per day."""

    rules: tuple[HoursRule, ...]

    def ranges_on(self, weekday: int) -> tuple[tuple[int, int], ...]:
        """Return the opening ranges of ``weekday`` (0 = Monday); empty when closed."""
        found: tuple[tuple[int, int], ...] = ()
        for rule in self.rules:
            if weekday in rule.days:
                found = rule.ranges  # OSM: a later rule for the same day replaces earlier ones
        return found

    def is_open(self, local: datetime) -> bool:
        """Say whether the place is open at ``local`` (a time in the place's own zone)."""
        minute = local.hour * 60 + local.minute
        return any(a <= minute < b for a, b in self.ranges_on(local.weekday()))

    def describe(self) -> str:
        """Return the hours in words a recipient reads, days grouped ("Mon–Fri 08:00–20:00")."""
        per_day = [self.ranges_on(d) for d in range(7)]
        if all(r == ((0, 1440),) for r in per_day):
            return "Open 24 hours, every day"
        parts: list[str] = []
        day = 0
        while day < 7:
            end = day
            while end + 1 < 7 and per_day[end + 1] == per_day[day]:
                end += 1
            if per_day[day]:
                days = DAY_NAMES[day] if end == day else f"{DAY_NAMES[day]}–{DAY_NAMES[end]}"
                if day == 0 and end == 6:
                    days = "Every day"
                hours = ", ".join(f"{_hm(a)}–{_hm(b)}" for a, b in per_day[day])
                parts.append(f"{days} {hours}")
            day = end + 1
        return " · ".join(parts) if parts else "Closed"


def _hm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_opening_hours(text: str) -> OpeningHours | None:
    """Parse the simple OSM forms; return None for anything else (shown as written).

    Understood: ``24/7``, and rules separated by ``;`` of the form ``DAYS HH:MM-HH:MM[,...]``
    or ``DAYS off``, where DAYS is ``Mo``, ``Mo-Fr`` or a comma list of those. A range
    past midnight, public holidays, months and the like are not: None.
    """
    text = text.strip()
    if text == "24/7":
        return OpeningHours((HoursRule(frozenset(range(7)), ((0, 1440),)),))
    rules: list[HoursRule] = []
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        pieces = part.split()
        if len(pieces) != 2:
            return None
        days = _parse_days(pieces[0])
        if days is None:
            return None
        if pieces[1] == "off":
            rules.append(HoursRule(days, ()))
            continue
        ranges: list[tuple[int, int]] = []
        for span in pieces[1].split(","):
            match = _RANGE.match(span)
            if match is None:
                return None
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            start, end = h1 * 60 + m1, h2 * 60 + m2
            if start > 1440 or end > 1440 or end <= start:
                return None
            ranges.append((start, end))
        rules.append(HoursRule(days, tuple(ranges)))
    return OpeningHours(tuple(rules)) if rules else None


def _parse_days(text: str) -> frozenset[int] | None:
    days: set[int] = set()
    for item in text.split(","):
        match = _DAY_PART.match(item)
        if match is None:
            return None
        first = DAYS.index(match.group(1))
        last = DAYS.index(match.group(2)) if match.group(2) else first
        if last < first:  # "Sa-Mo" wraps the week
            days.update(range(first, 7))
            days.update(range(0, last + 1))
        else:
            days.update(range(first, last + 1))
    return frozenset(days)


def hours_text(text: str) -> str:
    """Return opening hours readably, or as written when the syntax is beyond us."""
    parsed = parse_opening_hours(text)
    return parsed.describe() if parsed else text


def open_now(text: str, local: datetime) -> bool | None:
    """Say whether a place with ``text`` hours is open at ``local``; None when unknown."""
    parsed = parse_opening_hours(text)
    return parsed.is_open(local) if parsed else None


# ---------------------------------------------------------------- what fits, what is near


def fits(compartment: m.ParcelSize, parcel: m.ParcelSize) -> bool:
    """Say whether a compartment of size ``compartment`` takes a parcel of size ``parcel``."""
    return m.SIZE_ORDER[compartment] >= m.SIZE_ORDER[parcel]


def can_ever_take(locker: m.Locker, parcel: m.ParcelSize) -> bool:
    """Say whether ``locker`` has any working compartment big enough, free or not."""
    return any(
        fits(c.size, parcel) and c.status is not m.CompartmentStatus.OUT_OF_SERVICE
        for c in locker.compartments
    )


@dataclass(frozen=True)
class NearbyLocker:
    """One locker or pickup point as offered to a recipient."""

    locker_id: int
    name: str
    kind: m.LockerKind
    address: str
    postcode: str
    lat: float
    lng: float
    distance_m: float
    free: int  # free compartments this parcel fits in, now
    hours: str  # readable, or as written
    open_now: bool | None  # None when the hours are beyond the parser

    @property
    def kind_label(self) -> str:
        """Name the kind of place for a recipient."""
        return "Parcel locker" if self.kind is m.LockerKind.LOCKER else "Pickup point"

    @property
    def distance_text(self) -> str:
        """Return the distance as a person says it ("350 m", "1.2 km")."""
        if self.distance_m < 1000:
            return f"{round(self.distance_m / 10) * 10:.0f} m"
        return f"{self.distance_m / 1000:.1f} km"


def nearby(
    lockers: Iterable[m.Locker],
    origin: Point,
    size: m.ParcelSize,
    local_now: datetime,
    depot_id: int,
) -> list[NearbyLocker]:
    """Return the depot's active lockers that could ever take ``size``, nearest first.

    Full ones stay in the list (with ``free`` 0) so the recipient sees why they cannot
    choose them; a locker with no compartment big enough is left out.
    """
    offers = [
        NearbyLocker(
            locker_id=lk.id,  # type: ignore[arg-type]
            name=lk.name,
            kind=lk.kind,
            address=lk.address,
            postcode=lk.postcode,
            lat=lk.lat,
            lng=lk.lng,
            distance_m=haversine_m(origin, Point(lk.lat, lk.lng)),
            free=lk.free_count(size),
            hours=hours_text(lk.opening_hours),
            open_now=open_now(lk.opening_hours, local_now),
        )
        for lk in lockers
        if lk.active and lk.depot_id == depot_id and lk.id is not None and can_ever_take(lk, size)
    ]
    return sorted(offers, key=lambda o: (o.distance_m, o.locker_id))


def new_pickup_code() -> str:
    """Return a fresh six-digit pickup code (the recipient types it at the locker)."""
    return f"{secrets.randbelow(1_000_000):06d}"


# ---------------------------------------------------------------- status and cut-off

TO_LOCKER = DeliveryStatus.REDIRECTED_TO_LOCKER


def status_after_choice(status: DeliveryStatus) -> DeliveryStatus:
    """Return the status a parcel in ``status`` takes when sent to a locker.

    "Going to a parcel locker" only after a failed attempt: the parcel is back at the depot,
    the state machine leads on from there (out for delivery, in the locker) and back
    (an undo restores "failed"). A parcel out for delivery stays "out for delivery": the
    driver's "arrived" and "delivered" act on en-route parcels only, and "redirected" cannot
    become "arriving". One not yet out keeps its status too: planning turns every planned
    parcel "scheduled" again, and "redirected" cannot become "scheduled". Its destination,
    not its status, says where it goes.
    """
    if status is TO_LOCKER:
        return status
    there = TO_LOCKER in TRANSITIONS.get(status, frozenset())
    back = status in TRANSITIONS.get(TO_LOCKER, frozenset())
    return TO_LOCKER if there and back and status not in EN_ROUTE else status


def offers_lockers(status: DeliveryStatus) -> bool:
    """Say whether the page shows the locker section at all for a parcel in ``status``.

    Once the parcel is delivered, in a locker, collected, returned or cancelled, a "send it
    to a locker" section would only say no; until then it shows, closed with the reason
    when the cut-off has passed.
    """
    return status not in TERMINAL and status is not DeliveryStatus.AT_LOCKER


def changeable_as(status: DeliveryStatus, before: DeliveryStatus | None) -> DeliveryStatus:
    """Return the status whose cut-off applies to a locker change of a parcel in ``status``.

    ``domain/policy.change_window`` counts "redirected to a locker" as final. For choosing
    another locker or undoing, the parcel counts as what it was before the redirection
    (``before``): the driver still has it, the same cut-off applies.
    """
    if status is TO_LOCKER and before in CHANGEABLE:
        return before
    return status


# ---------------------------------------------------------------- which stop


class StopMove(StrEnum):
    """What a locker choice (or its undo) does to the parcel's stop on its route."""

    NONE = "none"  # on no open stop: planning will place it
    RELOCATE = "relocate"  # alone at its stop: the stop itself moves (door <-> locker)
    JOIN = "join"  # the route already goes to that locker: the parcel joins that stop
    SPLIT = "split"  # it shares its stop: it leaves it for a new stop of its own


def stop_move(*, on_open_stop: bool, alone: bool, existing_target: bool) -> StopMove:
    """Decide what happens to the parcel's stop.

    Joining an existing locker stop wins: the driver loads a locker once, as the day's
    planning groups them (``planning.build_day``). Otherwise a parcel alone moves its stop,
    and one sharing a stop gets a new stop.
    """
    if not on_open_stop:
        return StopMove.NONE
    if existing_target:
        return StopMove.JOIN
    return StopMove.RELOCATE if alone else StopMove.SPLIT


def locker_window(window_end: datetime | None) -> tuple[datetime | None, datetime | None]:
    """Return a locker parcel's window for planning: in the locker by the promised end."""
    return (None, window_end)
