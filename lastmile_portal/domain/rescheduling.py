"""Which delivery slots a parcel may move to, and which of them is the greenest.

A slot is offered only when it lies ahead, has a place left, and the plan can really keep
its promise:

- on the day of the parcel's current route, a dry run of the planning pipeline with the
  parcel's stop moved into the slot must keep the stop and time it inside the slot
  (``fits``); the dry run also says how many metres the routes would drive, so the slot's
  extra distance is the dry run's against today's plan;
- on another day there is no route yet (the day is planned the evening before), so a place
  left in the slot is the test, and the extra distance is an estimate: the detour from the
  nearest parcel already booked in that slot (or from the depot), there and back.

The greenest slot is the offered one with the least extra distance. Services gather the
facts (slots, dry runs); these rules decide.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from .geo import haversine_m
from .routing import Point

# Straight lines understate streets; the same order of magnitude as the travel-time model's.
ROAD_FACTOR = 1.35
# How many slots an SMS offers ("reply 1-3"): a text has room for three.
SMS_CHOICES = 3
# A numbered offer by text stays open this long: the digits mean nothing else meanwhile.
OFFER_OPEN_FOR = timedelta(hours=2)
# Words a recipient texts to be offered other slots (the whole message, any case).
SLOT_WORDS = frozenset({"SLOT", "SLOTS", "RESCHEDULE", "NEWDAY", "DAY", "LATER", "TERMIN"})


@dataclass(frozen=True)
class SlotFacts:
    """One of the depot's slots, with what the dry run (if any) said about it."""

    slot_id: int
    service_date: date
    starts_at: datetime
    ends_at: datetime
    remaining: int
    on_route_day: bool  # the day of the parcel's current route: a dry run decides
    fits: bool = True  # the dry run kept the stop inside the slot (True when none ran)
    expected: tuple[datetime, datetime] | None = None  # the dry run's ETA window
    extra_m: float | None = None  # extra metres driven for this slot (dry run or estimate)


@dataclass(frozen=True)
class OfferedSlot:
    """A slot the recipient may choose, as the page and the SMS show it."""

    slot_id: int
    service_date: date
    starts_at: datetime
    ends_at: datetime
    remaining: int
    expected: tuple[datetime, datetime] | None  # None: planned the evening before
    extra_m: float
    greenest: bool = False

    @property
    def planned_later(self) -> bool:
        """Say whether the exact time is worked out when that day is planned."""
        return self.expected is None


def is_ahead(starts_at: datetime, now: datetime) -> bool:
    """Return whether a slot has not begun yet (a slot under way cannot be promised)."""
    return starts_at > now


def fits(arrival: datetime | None, dropped: bool, starts_at: datetime, ends_at: datetime) -> bool:
    """Return whether a dry run kept the stop (not dropped) and timed it inside the slot."""
    return not dropped and arrival is not None and starts_at <= arrival <= ends_at


def expected_within(
    eta: tuple[datetime, datetime], starts_at: datetime, ends_at: datetime
) -> tuple[datetime, datetime]:
    """Return the dry run's ETA window as the recipient reads it: inside the slot.

    The driver never serves a door before its window opens, so the earliest is the slot's
    start at the soonest; the plan keeps the slot, so the latest is its end at the latest.
    """
    earliest, latest = eta
    return max(earliest, starts_at), max(min(latest, ends_at), max(earliest, starts_at))


def detour_m(here: Point, depot: Point, neighbours: Iterable[Point]) -> float:
    """Estimate the extra metres of serving ``here`` in a slot nobody has planned yet.

    The van goes out of its way from the nearest parcel already booked in that slot (from
    the depot when there is none) and back: twice the straight line, on streets.
    """
    nearest = min((haversine_m(here, p) for p in neighbours), default=haversine_m(here, depot))
    return 2 * ROAD_FACTOR * nearest


def offer(
    facts: Sequence[SlotFacts], *, now: datetime, current_slot_id: int | None
) -> tuple[OfferedSlot, ...]:
    """Return the slots to offer, in time order, with the greenest one marked.

    Offered: ahead of ``now``, not the parcel's own slot, a place left, and (on the day of
    its route) a dry run that keeps the promise. Ties in extra distance go to the earlier
    slot: the parcel arrives sooner for the same kilometres.
    """
    offered = [
        OfferedSlot(
            slot_id=f.slot_id,
            service_date=f.service_date,
            starts_at=f.starts_at,
            ends_at=f.ends_at,
            remaining=f.remaining,
            expected=f.expected if f.on_route_day else None,
            extra_m=max(0.0, f.extra_m or 0.0),
        )
        for f in sorted(facts, key=lambda f: f.starts_at)
        if f.slot_id != current_slot_id
        and f.remaining > 0
        and is_ahead(f.starts_at, now)
        and (f.fits or not f.on_route_day)
    ]
    if not offered:
        return ()
    best = min(range(len(offered)), key=lambda i: (round(offered[i].extra_m), i))
    offered[best] = replace(offered[best], greenest=True)
    return tuple(offered)


def asks_for_slots(text: str) -> bool:
    """Return whether a text asks for other slots ("SLOT", "new day", "Reschedule!")."""
    word = "".join(c for c in text.upper() if c.isalpha())
    return word in SLOT_WORDS
