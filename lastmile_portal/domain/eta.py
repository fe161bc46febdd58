"""ETA windows: how wide an honest promise is, given how much can still go wrong."""

from __future__ import annotations

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
