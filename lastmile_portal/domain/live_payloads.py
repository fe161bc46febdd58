"""The payloads of the live events a recipient's page gets: one definition of each.

``snapshot`` (every connect), ``position``, ``eta`` and ``status`` are built here and
nowhere else, whether they come from a ping, a re-plan or a status change, so the page's
script reads one shape per event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .eta import ETA_CONFIDENCE


def _iso(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def eta(
    *,
    earliest: datetime | str,
    latest: datetime | str,
    stops_before: int | None,
    plan_version: int | None,
    expected: datetime | str | None = None,
    confidence: float = ETA_CONFIDENCE,
) -> dict[str, Any]:
    """Return an ``eta`` payload: the interval the parcel arrives in ``confidence`` of the time."""
    return {
        "expected": _iso(expected),
        "earliest": _iso(earliest),
        "latest": _iso(latest),
        "confidence": confidence,
        "stops_before": stops_before,
        "plan_version": plan_version,
    }


def position(lat: float, lng: float, at: datetime, *, stale: bool = False) -> dict[str, Any]:
    """Return a ``position`` payload: where the driver was at ``at``."""
    return {"lat": lat, "lng": lng, "at": at.isoformat(), "stale": stale}


def status(status: str, label: str, at: datetime | str) -> dict[str, Any]:
    """Return a ``status`` payload: the parcel's new status, in words too."""
    return {"status": status, "label": label, "at": _iso(at)}
