"""ETA windows: how wide an honest promise is, given how much can still go wrong."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

MIN_HALF_WIDTH = timedelta(minutes=5)
PER_STOP = timedelta(minutes=2)
MAX_HALF_WIDTH = timedelta(minutes=45)


def eta_window(planned_arrival: datetime, stops_before: int) -> tuple[datetime, datetime]:
    """Return (earliest, latest) around a planned arrival.

    Each stop still ahead adds uncertainty (parking, a slow hand-over), so the window is
    wide early in the day and narrows to ±5 minutes when the driver is next door.
    Later stops are skewed late: drivers run late far more often than early.
    """
    half = min(MAX_HALF_WIDTH, MIN_HALF_WIDTH + PER_STOP * max(0, stops_before))
    return planned_arrival - half * 0.6, planned_arrival + half * 1.4


def schedule(
    start: datetime,
    legs: list[tuple[int, datetime | None, int]],
) -> list[datetime]:
    """Return the service start at each stop of a fixed sequence.

    ``legs`` holds, per stop in order: travel seconds from the previous place, the
    earliest allowed start (the driver waits for it) and the service seconds there.
    """
    arrivals: list[datetime] = []
    t = start
    for travel_s, earliest, service_s in legs:
        t = t + timedelta(seconds=travel_s)
        if earliest is not None and t < earliest:
            t = earliest
        arrivals.append(t)
        t = t + timedelta(seconds=service_s)
    return arrivals


# ---------------------------------------------------------------- live ETAs

ETA_CONFIDENCE = 0.8  # how often the parcel arrives inside the interval shown
Z_80 = 1.2816  # two-sided 80 % interval of a normal distribution (ETA_CONFIDENCE)
SIGMA_PER_STOP_S = 150.0  # each stop ahead: parking, stairs, a chat at the door
SIGMA_TRAVEL_SHARE = 0.08  # traffic: 8 % of the remaining driving time
EARLY_SHARE = 0.6  # drivers are rarely early and often late: skew the interval
MIN_PACE, MAX_PACE = 0.75, 2.0
PACE_PRIOR_LEGS = 3  # until three legs are done, trust the plan more than the driver


@dataclass(frozen=True)
class StopAhead:
    """An open stop in visiting order: planned travel to it, window start, service time."""

    stop_id: int
    travel_s: float
    service_s: float
    window_start: datetime | None = None


@dataclass(frozen=True)
class LiveEta:
    """Expected arrival at a stop, with an interval right ``confidence`` of the time."""

    stop_id: int
    expected: datetime
    earliest: datetime
    latest: datetime
    stops_before: int
    confidence: float = ETA_CONFIDENCE


def observed_pace(legs: list[tuple[float, float]]) -> float:
    """Return how much slower (>1) or faster (<1) than planned the driver drives today.

    ``legs`` holds (planned seconds, actual seconds) of completed drives. Few legs say
    little, so the ratio is shrunk toward 1; it is clamped to a believable range.
    """
    planned = sum(p for p, _ in legs if p > 0)
    actual = sum(a for p, a in legs if p > 0)
    if planned <= 0:
        return 1.0
    n = sum(1 for p, _ in legs if p > 0)
    weight = n / (n + PACE_PRIOR_LEGS)
    pace = 1.0 + weight * (actual / planned - 1.0)
    return max(MIN_PACE, min(MAX_PACE, pace))


def live_etas(now: datetime, ahead: list[StopAhead], pace: float = 1.0) -> list[LiveEta]:
    """Return an ETA with an 80 % interval for every open stop, from the driver's position now.

    ``ahead[0].travel_s`` is the drive from where the driver is; later ones are the
    plan's legs. Driving scales with ``pace``. The interval grows with the number of
    stops before and the driving left, so it narrows as the stops before are done.
    """
    out: list[LiveEta] = []
    t = now
    driving_s = 0.0
    for k, stop in enumerate(ahead):
        leg = stop.travel_s * pace
        driving_s += leg
        t = t + timedelta(seconds=leg)
        if stop.window_start is not None and t < stop.window_start:
            t = stop.window_start  # the plan waits rather than arrive before the window
        sigma = math.sqrt((k + 1) * SIGMA_PER_STOP_S**2 + (SIGMA_TRAVEL_SHARE * driving_s) ** 2)
        half = Z_80 * sigma
        out.append(
            LiveEta(
                stop_id=stop.stop_id,
                expected=t,
                earliest=max(now, t - timedelta(seconds=half * EARLY_SHARE)),
                latest=t + timedelta(seconds=half * (2 - EARLY_SHARE)),
                stops_before=k,
            )
        )
        t = t + timedelta(seconds=stop.service_s * pace)
    return out
