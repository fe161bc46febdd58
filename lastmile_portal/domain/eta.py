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
