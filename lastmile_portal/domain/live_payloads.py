"""The payloads of the live events a recipient's page gets: one definition of each.

``snapshot`` (every connect), ``position``, ``eta``, ``status`` and ``proof`` are built here and
nowhere else, whether they come from a ping, a re-plan or a status change, so the page's
script reads one shape per event.
"""

from __future__ import annotations

from collections.abc import Iterable
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


def window(start: datetime | str, end: datetime | str, text: str) -> dict[str, Any]:
    """Return a ``window`` payload: the promised window moved (to ``text``, in words)."""
    return {"window_start": _iso(start), "window_end": _iso(end), "text": text}


def status(status: str, label: str, at: datetime | str) -> dict[str, Any]:
    """Return a ``status`` payload: the parcel's new status, in words too."""
    return {"status": status, "label": label, "at": _iso(at)}


def proof(
    *,
    kind: str,
    heading: str,
    summary: str,
    at: datetime,
    distance_m: float | None,
    photos: Iterable[tuple[int, str, str, int, int]],
    expires: int,
    ttl_s: int,
) -> dict[str, Any]:
    """Return a ``proof`` payload: the driver's photos of the hand-over (or of the attempt).

    ``kind`` is "delivered" or "attempt". ``photos`` holds (id, thumbnail URL, full URL,
    width, height); the URLs are signed and open until ``expires`` (unix seconds), which is
    ``ttl_s`` after they were made, so the page can ask for fresh ones in time whatever its
    own clock says.
    """
    return {
        "kind": kind,
        "heading": heading,
        "summary": summary,
        "at": at.isoformat(),
        "distance_m": distance_m,
        "photos": [
            {"id": pid, "thumb": thumb, "full": full, "width": w, "height": h}
            for pid, thumb, full, w, h in photos
        ],
        "expires": expires,
        "ttl_s": ttl_s,
    }


def snapshot(
    *,
    generated_at: datetime,
    plan_version: int | None,
    status: str,
    label: str,
    window: tuple[datetime | None, datetime | None],
    eta_window: tuple[datetime | None, datetime | None, datetime | None],
    stops_before: int | None,
    destination: tuple[float, float],
    driver: tuple[float, float, datetime, bool] | None,
    driver_hidden_until_stops: int | None,
    history: Iterable[tuple[str, str, datetime]],
    finished: bool,
    proof: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return a ``snapshot`` payload: the page's whole live state, sent on every (re)connect.

    ``eta_window`` is (expected, earliest, latest): without both bounds there is no ``eta``.
    ``driver`` is (lat, lng, at, stale), or None while the recipient may not see the driver.
    ``history`` holds (status, label, at) in order. ``version`` (milliseconds of
    ``generated_at``) lets the page ignore a snapshot older than one it already has.
    ``proof`` is a ``proof`` payload while the page shows one, so a reconnect shows it too.
    """
    expected, earliest, latest = eta_window
    return {
        "version": int(generated_at.timestamp() * 1000),
        "plan_version": plan_version,
        "status": status,
        "label": label,
        "window": {"start": _iso(window[0]), "end": _iso(window[1])},
        "eta": eta(
            expected=expected,
            earliest=earliest,
            latest=latest,
            stops_before=stops_before,
            plan_version=plan_version,
        )
        if earliest and latest
        else None,
        "stops_before": stops_before,
        "destination": {"lat": destination[0], "lng": destination[1]},
        "position": position(driver[0], driver[1], driver[2], stale=driver[3]) if driver else None,
        "driver_hidden_until_stops": driver_hidden_until_stops,
        "history": [{"status": s, "label": lb, "at": at.isoformat()} for s, lb, at in history],
        "finished": finished,
        "proof": proof,
    }
