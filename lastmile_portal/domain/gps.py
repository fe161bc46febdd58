"""GPS fixes from a driver's phone: the one definition of their shape, and the track filter.

The HTTP driver API, the ``/driver`` socket and the OpenAPI description all read the
shape from here (``FIELDS``), so what the spec says is what is enforced. The filter
decides, fix by fix, whether a fix moves the driver (accepted), repeats what is known
(ignored) or is an impossible jump (flagged) — and lets a few fixes that agree with each
other outvote one odd fix before them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from .errors import InvalidInput
from .geo import haversine_m
from .routing import Point

MAX_BATCH = 1000
# A phone's clock may run a little ahead of ours; further ahead it is wrong, not early.
MAX_FUTURE_SKEW = timedelta(minutes=2)
# An offline buffer flushed after a long tunnel still counts; older fixes serve no one.
MAX_AGE = timedelta(hours=24)
MAX_SPEED_MPS = 60.0  # 216 km/h: anything faster between two fixes is a GPS jump
# This many fixes in a row that agree with each other but not with the driver's accepted
# position mean the accepted one was the odd fix: the track moves to them.
CONFIRMING_FIXES = 3
THIN_SECONDS = 5.0  # history keeps one fix per 5 s ...
THIN_METRES = 10.0  # ... unless the driver moved more than 10 m
MAX_TIME_TEXT = 40  # longer than any ISO 8601 time with an offset and nanoseconds


@dataclass(frozen=True)
class NumberField:
    """A numeric member of a fix, with the inclusive range it must lie in."""

    name: str
    minimum: float
    maximum: float
    required: bool
    description: str


FIELDS: tuple[NumberField, ...] = (
    NumberField("lat", -90.0, 90.0, True, "latitude, degrees (WGS 84)"),
    NumberField("lng", -180.0, 180.0, True, "longitude, degrees (WGS 84)"),
    NumberField("speed", 0.0, 100.0, False, "speed over ground, m/s"),
    NumberField("heading", 0.0, 360.0, False, "direction of travel, degrees from north"),
    NumberField("accuracy", 0.0, 100_000.0, False, "horizontal accuracy radius, metres"),
)
RECORDED_AT_RULE = (
    "when the phone took the fix: ISO 8601 with a UTC offset, at most "
    f"{int(MAX_AGE.total_seconds() // 3600)} hours before and "
    f"{int(MAX_FUTURE_SKEW.total_seconds())} seconds after the server's clock "
    "(a fix stamped ahead of the server counts as taken when it arrived)"
)


@dataclass(frozen=True)
class Fix:
    """One valid GPS fix; ``recorded_at`` is in UTC and never after it reached us."""

    index: int  # its place in the batch as sent, for error reports
    lat: float
    lng: float
    recorded_at: datetime
    speed: float | None = None
    heading: float | None = None
    accuracy: float | None = None
    stamped_ahead: bool = False  # the phone's clock said later than ours


@dataclass(frozen=True)
class Rejected:
    """A fix that was dropped, with the reason in words."""

    index: int
    error: str


def _number(raw: Mapping[str, object], spec: NumberField) -> float | None:
    value = raw.get(spec.name)
    if value is None:
        if spec.required:
            raise InvalidInput(f"{spec.name} is required.")
        return None
    # JSON true/false are not numbers, and neither is text that looks like one.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{spec.name} must be a number, not {type(value).__name__}.")
    ranged = f"{spec.name} must be a number from {spec.minimum:g} to {spec.maximum:g}."
    # Compared before converting: an integer beyond float range must not overflow.
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(ranged)
    if not spec.minimum <= value <= spec.maximum:
        raise InvalidInput(ranged)
    return float(value)


def _recorded_at(raw: Mapping[str, object], now: datetime) -> tuple[datetime, bool]:
    value = raw.get("recorded_at")
    if not isinstance(value, str) or len(value) > MAX_TIME_TEXT:
        raise InvalidInput("recorded_at must be an ISO 8601 time with a UTC offset.")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput("recorded_at must be an ISO 8601 time with a UTC offset.") from None
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput("recorded_at must include a UTC offset (e.g. 2026-11-25T10:00:00Z).")
    try:
        at = at.astimezone(UTC)
    except OverflowError:  # year 1 with a positive offset is before the calendar starts
        raise InvalidInput("recorded_at is not a plausible time.") from None
    if at < now - MAX_AGE:
        hours = int(MAX_AGE.total_seconds() // 3600)
        raise InvalidInput(f"recorded_at is more than {hours} hours ago.")
    ahead = (at - now).total_seconds()
    if ahead > MAX_FUTURE_SKEW.total_seconds():
        raise InvalidInput(
            f"recorded_at is {round(ahead)} s in the future by the server's clock; "
            "check the phone's time settings."
        )
    # Nobody reports a fix before taking it: a fix stamped ahead was taken by now at most.
    return (now, True) if at > now else (at, False)


def parse_fix(raw: object, now: datetime, index: int = 0) -> Fix:
    """Return ``raw`` as a Fix, or raise InvalidInput saying what is wrong with it."""
    if not isinstance(raw, Mapping):
        raise InvalidInput("Each position must be an object with lat, lng and recorded_at.")
    numbers = {spec.name: _number(raw, spec) for spec in FIELDS}
    at, ahead = _recorded_at(raw, now)
    lat, lng = numbers.pop("lat"), numbers.pop("lng")
    assert lat is not None and lng is not None  # required fields
    return Fix(index=index, lat=lat, lng=lng, recorded_at=at, stamped_ahead=ahead, **numbers)


def parse_batch(raw: object, now: datetime) -> tuple[list[Fix], list[Rejected]]:
    """Split a batch into valid fixes, oldest first, and the rejected ones with reasons.

    One bad fix never costs the others: a phone flushing its offline buffer loses only
    what cannot be read. The batch itself must be a non-empty list of at most MAX_BATCH.
    """
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes) or not raw:
        raise InvalidInput('Send {"positions": [{"lat", "lng", "recorded_at"}, ...]}.')
    if len(raw) > MAX_BATCH:
        raise InvalidInput(f"Send at most {MAX_BATCH} positions per request.")
    fixes: list[Fix] = []
    rejected: list[Rejected] = []
    for index, item in enumerate(raw):
        try:
            fixes.append(parse_fix(item, now, index))
        except InvalidInput as error:
            rejected.append(Rejected(index, error.message))
    # Fixes stamped ahead all count as "now": the last one sent goes first, so it is the
    # one taken and the rest are duplicates of it.
    fixes.sort(key=lambda f: (f.recorded_at, -f.index if f.stamped_ahead else f.index))
    return fixes, rejected


# ---------------------------------------------------------------- following the track


class Verdict(StrEnum):
    """What one fix does to the driver's position."""

    ACCEPTED = "accepted"  # the driver is here now
    IGNORED = "ignored"  # not newer than what we know
    FLAGGED = "flagged"  # an impossible jump: kept in history, does not move the driver


Here = tuple[float, float, datetime]


@dataclass(frozen=True)
class Track:
    """The driver's accepted position and the recent fixes that disagreed with it."""

    position: Here | None = None
    doubts: tuple[Here, ...] = ()


def _plausible(a: Here, b: Here) -> bool:
    seconds = (b[2] - a[2]).total_seconds()
    metres = haversine_m(Point(a[0], a[1]), Point(b[0], b[1]))
    return metres <= MAX_SPEED_MPS * max(seconds, 1.0)


def follow(track: Track, fix: Fix) -> tuple[Verdict, Track]:
    """Judge one fix against the track and return the verdict and the new track.

    A fix no newer than the accepted position is ignored. One that the driver could not
    have driven to is flagged — unless it is the CONFIRMING_FIXES-th in a row of fixes
    that agree with each other: then the accepted position was the odd one, and the track
    moves on from the newest of them.
    """
    here = (fix.lat, fix.lng, fix.recorded_at)
    if track.position is not None and fix.recorded_at <= track.position[2]:
        return Verdict.IGNORED, track
    if track.position is None or _plausible(track.position, here):
        return Verdict.ACCEPTED, Track(here)
    last = track.doubts[-1] if track.doubts else None
    agrees = last is not None and fix.recorded_at > last[2] and _plausible(last, here)
    doubts = (*track.doubts, here) if agrees else (here,)
    if len(doubts) >= CONFIRMING_FIXES:
        return Verdict.ACCEPTED, Track(here)
    return Verdict.FLAGGED, Track(track.position, doubts)


def keeps_history(last_kept: Here | None, fix: Fix, flagged: bool) -> bool:
    """Return whether history stores ``fix``: one per THIN_SECONDS unless it moved further."""
    if flagged or last_kept is None:
        return True
    seconds = (fix.recorded_at - last_kept[2]).total_seconds()
    metres = haversine_m(Point(last_kept[0], last_kept[1]), Point(fix.lat, fix.lng))
    return not (seconds < THIN_SECONDS and metres < THIN_METRES)


@dataclass(frozen=True)
class Followed:
    """What a batch of fixes did: the new track, what history keeps, and the counts."""

    track: Track
    last_kept: Here | None  # the newest fix history keeps, after this batch
    kept: tuple[tuple[Fix, bool], ...]  # (fix, flagged) for history, oldest first
    accepted: int
    flagged: int
    ignored: int


def follow_batch(track: Track, last_kept: Here | None, fixes: Sequence[Fix]) -> Followed:
    """Judge a batch of fixes, oldest first, against the track and thin what history keeps.

    Each fix goes through ``follow`` (order, duplicates, jumps) and, unless ignored,
    through ``keeps_history`` against the newest fix kept so far.
    """
    kept: list[tuple[Fix, bool]] = []
    accepted = flagged = 0
    for fix in fixes:
        verdict, track = follow(track, fix)
        if verdict is Verdict.IGNORED:
            continue
        suspect = verdict is Verdict.FLAGGED
        if keeps_history(last_kept, fix, suspect):
            kept.append((fix, suspect))
            last_kept = (fix.lat, fix.lng, fix.recorded_at)
        if suspect:
            flagged += 1
        else:
            accepted += 1
    return Followed(
        track=track,
        last_kept=last_kept,
        kept=tuple(kept),
        accepted=accepted,
        flagged=flagged,
        ignored=len(fixes) - accepted - flagged,
    )


def nothing_taken(rejected: Sequence[Rejected]) -> str:
    """Return why a batch with no readable fix is refused, naming the first few reasons."""
    if len(rejected) == 1:
        return rejected[0].error
    shown = "; ".join(f"position {r.index}: {r.error}" for r in rejected[:3])
    more = f" (and {len(rejected) - 3} more)" if len(rejected) > 3 else ""
    return f"None of the {len(rejected)} positions could be taken: {shown}{more}"
