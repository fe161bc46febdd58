"""A parcel waiting in a locker: until when it may be collected, and how codes are told.

Pure rules; ``services/lockers.py`` deposits, collects and returns.

The recipient reads a day ("collect by Tue 8 Dec"), so the deadline is the end of that
local day: a parcel put in on Tuesday afternoon with seven hold days may be collected until
midnight of the next Tuesday, not only until the afternoon.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

PICKUP_CODE = re.compile(r"^\d{6}$")
DEFAULT_HOLD_DAYS = 7


def last_day(deposited_at: datetime, hold_days: int, zone: str) -> date:
    """Return the last local day a parcel put in at ``deposited_at`` may be collected."""
    return deposited_at.astimezone(ZoneInfo(zone)).date() + timedelta(days=hold_days)


def collect_deadline(deposited_at: datetime, hold_days: int, zone: str) -> datetime:
    """Return the moment the parcel starts going back: midnight after its last day (UTC)."""
    after = last_day(deposited_at, hold_days, zone) + timedelta(days=1)
    return datetime.combine(after, time(0, 0), tzinfo=ZoneInfo(zone)).astimezone(
        deposited_at.tzinfo
    )


def is_overdue(deposited_at: datetime, hold_days: int, zone: str, now: datetime) -> bool:
    """Say whether a parcel put in at ``deposited_at`` and still there must go back now."""
    return now >= collect_deadline(deposited_at, hold_days, zone)


def day_text(day: date) -> str:
    """Return a day as a recipient reads it: "Tue 8 Dec" (GSM-safe, no leading zero)."""
    return f"{day:%a} {day.day} {day:%b}"


def is_pickup_code(text: str) -> bool:
    """Say whether ``text`` has the form of a pickup code (six digits)."""
    return PICKUP_CODE.match(text) is not None
