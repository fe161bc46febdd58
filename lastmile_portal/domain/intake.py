"""A carrier's parcel announcement, read and checked field by field (API body or CSV row).

Pure: every field gets a verdict, all the bad ones are reported at once, and nothing here
touches storage. The phone number's own check (libphonenumber) and the depot, slot and
locker look-ups happen in the service, which reports them under the same field names.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from .errors import InvalidInput
from .text import printable

SIZES = ("S", "M", "L")
# What a carrier may choose; a car boot is the recipient's own choice on the tracking page.
OPTIONS = ("door", "safe_place", "neighbour", "locker", "pickup_point")
LOCKER_OPTIONS = ("locker", "pickup_point")
MAX_WINDOW = timedelta(hours=24)
MAX_WEIGHT_KG = 100.0
REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/#-]{0,63}")
POSTCODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 -]{1,11}")
COUNTRY = re.compile(r"[A-Za-z]{2}")
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}")


class FieldErrors(InvalidInput):
    """Raise with every bad field of one announcement: {"recipient.phone": "why"}."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        listed = "; ".join(f"{name}: {why}" for name, why in self.errors.items())
        count = len(self.errors)
        super().__init__(f"{count} field{'s' if count > 1 else ''} not valid — {listed}")


@dataclass(frozen=True)
class DeliveryRequest:
    """One parcel as the carrier announced it, every field checked (phone not yet E.164)."""

    reference: str
    depot: str
    recipient_name: str
    phone: str
    email: str | None
    address_line: str
    postcode: str
    city: str
    country: str | None
    lat: float | None
    lng: float | None
    window_start: datetime | None
    window_end: datetime | None
    slot_id: int | None
    parcel_size: str
    weight_kg: float | None
    option: str
    locker: str | None
    safe_place: str | None
    instructions: str | None

    def fingerprint(self) -> str:
        """Return a stable hash of the announcement: the same reference must mean the same."""
        values = {
            k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items()
        }
        return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


class _Reader:
    """Collect each field's value or its error, so one bad field never hides another."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = body
        self.errors: dict[str, str] = {}

    def raw(self, name: str) -> Any:
        value: Any = self.body
        for part in name.split("."):
            if not isinstance(value, Mapping):
                return None
            value = value.get(part)
        return value

    def text(self, name: str, limit: int, *, required: bool = False) -> str | None:
        value = self.raw(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.errors[name] = "is required"
            return None
        if not isinstance(value, str):
            self.errors[name] = "must be text"
            return None
        value = printable(value)
        if len(value) > limit:
            self.errors[name] = f"is too long (at most {limit} characters)"
            return None
        return value

    def pattern(self, name: str, rule: re.Pattern[str], what: str, **kw: Any) -> str | None:
        value = self.text(name, 254, **kw)
        if value is not None and not rule.fullmatch(value):
            self.errors[name] = f"must be {what}"
            return None
        return value

    def number(self, name: str, low: float, high: float) -> float | None:
        value = self.raw(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            self.errors[name] = "must be a number"
            return None
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            self.errors[name] = "must be a number"
            return None
        if not math.isfinite(number) or not low <= number <= high:
            self.errors[name] = f"must be between {low:g} and {high:g}"
            return None
        return number

    def when(self, name: str) -> datetime | None:
        value = self.raw(name)
        if value is None or value == "":
            self.errors[name] = "is required"
            return None
        try:
            at = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            at = None
        if at is None or at.tzinfo is None:
            self.errors[name] = "must be an ISO 8601 time with its UTC offset"
            return None
        return at

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.raw(name)
        if value is None or value == "":
            return default
        if not isinstance(value, str) or value.strip() not in allowed:
            self.errors[name] = "must be one of " + ", ".join(allowed)
            return default
        return value.strip()

    def integer(self, name: str) -> int | None:
        value = self.raw(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())
        ):
            self.errors[name] = "must be a slot id (a whole number)"
            return None
        number = int(value)
        if not 0 < number < 2**31:
            self.errors[name] = "must be a slot id (a whole number)"
            return None
        return number


def parse_delivery(body: Any, now: datetime) -> DeliveryRequest:
    """Read a delivery announcement or raise FieldErrors naming every bad field."""
    if not isinstance(body, Mapping):
        raise InvalidInput("Send a JSON object describing one delivery.")
    r = _Reader(body)
    reference = r.pattern(
        "reference", REFERENCE, "1-64 letters, digits or . _ : / # -", required=True
    )
    depot = r.text("depot", 32, required=True)
    name = r.text("recipient.name", 120, required=True)
    phone = r.text("recipient.phone", 40, required=True)
    email = r.pattern("recipient.email", EMAIL, "an e-mail address")
    line = r.text("address.line", 200, required=True)
    postcode = r.pattern("address.postcode", POSTCODE, "a postcode", required=True)
    city = r.text("address.city", 100, required=True)
    country = r.pattern("address.country", COUNTRY, "a two-letter country code (DE)")
    lat = r.number("address.lat", -90, 90)
    lng = r.number("address.lng", -180, 180)
    if (lat is None) != (lng is None) and not {"address.lat", "address.lng"} & set(r.errors):
        r.errors["address.lat" if lat is None else "address.lng"] = "needs its pair"
    start = end = None
    slot = r.integer("slot")
    has_window = r.raw("window") not in (None, "", {})
    if has_window and r.raw("slot") not in (None, ""):
        r.errors["window"] = "give a window or a slot, not both"
    elif has_window:
        start, end = r.when("window.start"), r.when("window.end")
        if start and end:
            if end <= start:
                r.errors["window.end"] = "must be after window.start"
            elif end - start > MAX_WINDOW:
                r.errors["window.end"] = "must be within 24 hours of window.start"
            elif end <= now:
                r.errors["window.end"] = "is in the past"
    elif slot is None and "slot" not in r.errors:
        r.errors["window"] = "is required (window.start and window.end), or a slot id"
    size = r.choice("parcel.size", SIZES, "M")
    weight = r.number("parcel.weight_kg", 0.001, MAX_WEIGHT_KG)
    locker = r.text("locker", 32)
    option = r.choice("option", OPTIONS, "locker" if locker else "door")
    if option in LOCKER_OPTIONS and not locker:
        r.errors["locker"] = f"is required for option {option}"
    elif locker and option not in LOCKER_OPTIONS:
        r.errors["locker"] = "goes with option locker or pickup_point"
    safe_place = r.text("safe_place", 200)
    if option == "safe_place" and not safe_place:
        r.errors["safe_place"] = "is required for option safe_place (where to leave it)"
    instructions = r.text("instructions", 500)
    if r.errors:
        raise FieldErrors(r.errors)
    return DeliveryRequest(
        reference=reference or "",
        depot=depot or "",
        recipient_name=name or "",
        phone=phone or "",
        email=email,
        address_line=line or "",
        postcode=(postcode or "").upper(),
        city=city or "",
        country=country.upper() if country else None,
        lat=lat,
        lng=lng,
        window_start=start,
        window_end=end,
        slot_id=slot,
        parcel_size=size,
        weight_kg=weight,
        option=option,
        locker=locker,
        safe_place=safe_place,
        instructions=instructions,
    )


CSV_COLUMNS = {
    # CSV header -> the API body's field; one row is one flat announcement.
    "reference": "reference",
    "depot": "depot",
    "name": "recipient.name",
    "phone": "recipient.phone",
    "email": "recipient.email",
    "address": "address.line",
    "postcode": "address.postcode",
    "city": "address.city",
    "country": "address.country",
    "lat": "address.lat",
    "lng": "address.lng",
    "window_start": "window.start",
    "window_end": "window.end",
    "slot": "slot",
    "size": "parcel.size",
    "weight_kg": "parcel.weight_kg",
    "option": "option",
    "locker": "locker",
    "safe_place": "safe_place",
    "instructions": "instructions",
}
REQUIRED_COLUMNS = ("reference", "name", "phone", "address", "postcode", "city")


def missing_columns(header: list[str]) -> list[str]:
    """Return the required CSV columns ``header`` lacks (and whether it has a window or slot)."""
    have = {h.strip().lower() for h in header}
    missing = [c for c in REQUIRED_COLUMNS if c not in have]
    if "slot" not in have and not {"window_start", "window_end"} <= have:
        missing.append("window_start and window_end (or slot)")
    return missing


def row_body(row: Mapping[str, str | None], depot: str | None) -> dict[str, Any]:
    """Turn one CSV row into the API body it stands for (``depot`` fills an empty column)."""
    body: dict[str, Any] = {}
    for header, value in row.items():
        field = CSV_COLUMNS.get((header or "").strip().lower())
        if field is None or value is None or not value.strip():
            continue
        target = body
        *parents, leaf = field.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value.strip()
    if depot and not body.get("depot"):
        body["depot"] = depot
    return body
