"""A carrier's network as a TOML file: depots, fleet, drivers, slots, lockers — read and checked.

Pure: ``parse_network`` turns the file's text into specs or raises ``NetworkErrors`` with
every problem at once, each naming the line and the field, as an editor jumps to it:
``network.toml:42: vehicles[3].type: unknown vehicle type "cargo-bke"``. Indices count
from 1, as one counts ``[[vehicles]]`` tables down the file.

tomllib gives values without positions, so ``LineIndex`` finds them in the raw text: it
follows the table headers (``[[depots]]``, ``[[depots.slots]]``) and the ``key =`` lines
under them. An error about a key points at its line; one about a missing key at its
table's header. tomlkit keeps positions but is another dependency; the file's shape here
(arrays of tables, one key a line) is what the index reads exactly.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import InvalidInput

SIZES = ("S", "M", "L")
VEHICLE_KINDS = ("van", "ev_van", "cargo_bike", "sidewalk_robot", "gig_car")
EMPLOYMENTS = ("staff", "gig")
LOCKER_KINDS = ("locker", "pickup_point")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_SLOT_DAYS = 4
MAX_SLOT_DAYS = 60
CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
SPAN = re.compile(r"\s*([01]\d|2[0-3]):([0-5]\d)\s*-\s*([01]\d|2[0-3]|24):([0-5]\d)\s*")


@dataclass(frozen=True)
class NetworkError:
    """One problem in the file: where (line, field path) and what."""

    line: int
    path: str
    message: str

    def render(self, filename: str) -> str:
        """Return the error as ``file:line: path: message``."""
        where = f"{self.path}: " if self.path else ""
        return f"{filename}:{self.line}: {where}{self.message}"


class NetworkErrors(InvalidInput):
    """Raise with every problem a network file has; nothing of it is applied."""

    def __init__(self, errors: list[NetworkError], filename: str = "network.toml") -> None:
        self.errors = sorted(errors, key=lambda e: e.line)
        self.filename = filename
        lines = "\n".join(e.render(filename) for e in self.errors)
        count = len(self.errors)
        super().__init__(f"{filename}: {count} error{'s' if count != 1 else ''}:\n{lines}")


# ---------------------------------------------------------------- specs


@dataclass(frozen=True)
class SlotPattern:
    """Slots a depot offers every week: on these days, these windows, each this many parcels."""

    days: tuple[int, ...]  # 0 = Monday
    windows: tuple[tuple[time, time], ...]
    capacity: int
    line: int


@dataclass(frozen=True)
class DepotSpec:
    """One depot as the file describes it."""

    code: str
    name: str
    address: str
    lat: float
    lng: float
    timezone: str
    opens_at: str
    closes_at: str
    trunk_delivery: bool
    service_areas: tuple[tuple[str, tuple[str, ...]], ...]  # (name, postcode prefixes)
    slots: tuple[SlotPattern, ...]
    line: int


@dataclass(frozen=True)
class VehicleTypeSpec:
    """One kind of vehicle: capacity, the largest parcel, speed, range, costs and CO₂."""

    code: str
    kind: str
    name: str
    capacity: int
    max_parcel_size: str
    speed_factor: float
    range_km: float
    cost_per_km: float
    cost_per_hour: float
    cost_per_day: float
    co2_g_per_km: float
    line: int


@dataclass(frozen=True)
class VehicleSpec:
    """One vehicle, by its label (a plate or a fleet number), of a type, at a depot."""

    label: str
    type: str
    depot: str
    line: int


@dataclass(frozen=True)
class DriverSpec:
    """One driver, known by phone number (the phone is checked to E.164 by the service)."""

    name: str
    phone: str
    employment: str
    depot: str
    line: int


@dataclass(frozen=True)
class LockerSpec:
    """A parcel locker or pickup point with its compartments counted by size."""

    code: str
    name: str
    kind: str
    depot: str
    address: str
    postcode: str
    lat: float
    lng: float
    opening_hours: str
    compartments: tuple[tuple[str, int], ...]  # (size, how many), smallest first
    line: int


@dataclass(frozen=True)
class Network:
    """The whole network of one file."""

    depots: tuple[DepotSpec, ...] = ()
    vehicle_types: tuple[VehicleTypeSpec, ...] = ()
    vehicles: tuple[VehicleSpec, ...] = ()
    drivers: tuple[DriverSpec, ...] = ()
    lockers: tuple[LockerSpec, ...] = ()
    slot_days: int = DEFAULT_SLOT_DAYS


# ---------------------------------------------------------------- where things are


_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\" ]+?)\s*\]\]?\s*(#.*)?$")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'')
_KEY = re.compile(r"^\s*(\"[^\"]*\"|'[^']*'|[A-Za-z0-9_\-]+)\s*=")


class LineIndex:
    """Find the line of a table or key in the raw TOML text.

    Paths look like ``("vehicles", 3, "type")``: array-of-tables entries count from 1,
    nested ones within their parent (``("depots", 2, "slots", 1, "days")``).
    """

    def __init__(self, text: str) -> None:
        self.tables: dict[tuple[Any, ...], int] = {(): 1}
        self.keys: dict[tuple[Any, ...], int] = {}
        counts: dict[tuple[Any, ...], int] = {}
        current: tuple[Any, ...] = ()
        depth = 0  # open brackets of a multi-line array: its lines hold no keys
        for number, raw in enumerate(text.splitlines(), start=1):
            line = _strip_comment(raw)
            if depth == 0:
                header = _HEADER.match(line)
                if header and line.strip().startswith("["):
                    names = [n.strip().strip('"') for n in header.group(2).split(".")]
                    current = self._resolve(names, header.group(1) == "[[", counts)
                    self.tables[current] = number
                    continue
                key = _KEY.match(line)
                if key:
                    self.keys.setdefault((*current, key.group(1).strip("\"'")), number)
            bare = _STRING.sub('""', line)  # a "[" inside a name opens nothing
            depth = max(0, depth + bare.count("[") - bare.count("]"))

    def _resolve(
        self, names: list[str], array: bool, counts: dict[tuple[Any, ...], int]
    ) -> tuple[Any, ...]:
        path: tuple[Any, ...] = ()
        for i, name in enumerate(names):
            path = (*path, name)
            last = i == len(names) - 1
            if last and array:
                counts[path] = counts.get(path, 0) + 1
                counts_below = [k for k in counts if len(k) > len(path) and k[: len(path)] == path]
                for k in counts_below:  # a new parent entry restarts its children's count
                    del counts[k]
                path = (*path, counts[path])
            elif not last and path in counts:
                path = (*path, counts[path])
        return path

    def line(self, path: tuple[Any, ...]) -> int:
        """Return the line of ``path``'s key, else of the nearest table holding it."""
        if path in self.keys:
            return self.keys[path]
        for n in range(len(path), -1, -1):
            if path[:n] in self.tables:
                return self.tables[path[:n]]
            if path[:n] in self.keys:
                return self.keys[path[:n]]
        return 1


def _strip_comment(line: str) -> str:
    out, quote = [], ""
    for ch in line:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            break
        out.append(ch)
    return "".join(out)


def path_text(path: tuple[Any, ...]) -> str:
    """Return ``("vehicles", 3, "type")`` as ``vehicles[3].type``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


# ---------------------------------------------------------------- reading


class _Reader:
    """Read fields of one table, collecting every error with its line."""

    def __init__(self, index: LineIndex, errors: list[NetworkError]) -> None:
        self.index = index
        self.errors = errors

    def error(self, path: tuple[Any, ...], message: str) -> None:
        self.errors.append(NetworkError(self.index.line(path), path_text(path), message))

    def unknown_keys(
        self, table: Mapping[str, Any], path: tuple[Any, ...], known: set[str]
    ) -> None:
        for key in table:
            if key not in known:
                self.error((*path, key), f"unknown key (known: {', '.join(sorted(known))})")

    def text(
        self,
        table: Mapping[str, Any],
        path: tuple[Any, ...],
        key: str,
        limit: int = 200,
        default: str | None = None,
    ) -> str:
        value = table.get(key)
        if value is None:
            if default is None:
                self.error((*path, key), "is required")
            return default or ""
        if not isinstance(value, str) or not value.strip():
            self.error((*path, key), "must be non-empty text")
            return ""
        if len(value) > limit:
            self.error((*path, key), f"is too long (at most {limit} characters)")
            return ""
        return value.strip()

    def code(self, table: Mapping[str, Any], path: tuple[Any, ...], key: str) -> str:
        value = self.text(table, path, key, 32)
        if value and not CODE.fullmatch(value):
            self.error((*path, key), "must be 1-32 letters, digits or . _ - (no spaces)")
        return value

    def choice(
        self,
        table: Mapping[str, Any],
        path: tuple[Any, ...],
        key: str,
        allowed: tuple[str, ...],
        default: str | None = None,
    ) -> str:
        value = table.get(key, default)
        if value is None:
            self.error((*path, key), "is required")
            return ""
        if value not in allowed:
            self.error((*path, key), f"must be one of {', '.join(allowed)}, not {value!r}")
            return ""
        return str(value)

    def number(
        self,
        table: Mapping[str, Any],
        path: tuple[Any, ...],
        key: str,
        low: float,
        high: float,
        default: float | None = None,
        whole: bool = False,
    ) -> float:
        value = table.get(key, default)
        if value is None:
            self.error((*path, key), "is required")
            return 0.0
        ok = isinstance(value, int) if whole else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok:
            self.error((*path, key), "must be a whole number" if whole else "must be a number")
            return 0.0
        if not low <= value <= high:
            self.error((*path, key), f"must be between {low:g} and {high:g}, not {value:g}")
            return 0.0
        return float(value)

    def flag(self, table: Mapping[str, Any], path: tuple[Any, ...], key: str) -> bool:
        value = table.get(key, False)
        if not isinstance(value, bool):
            self.error((*path, key), "must be true or false")
            return False
        return value

    def clock_time(
        self, table: Mapping[str, Any], path: tuple[Any, ...], key: str, default: str
    ) -> str:
        value = table.get(key, default)
        if not isinstance(value, str) or not HHMM.fullmatch(value.strip()):
            self.error((*path, key), f"must be a time of day like 07:00, not {value!r}")
            return default
        return value.strip()

    def tables(self, root: Mapping[str, Any], path: tuple[Any, ...], key: str) -> list[Any]:
        value = root.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.error(
                (*path, key), f"must be tables: write each one under [[{path_text((*path, key))}]]"
            )
            return []
        return value


TOP_KEYS = {"slot_days", "depots", "vehicle_types", "vehicles", "drivers", "lockers"}


def parse_network(
    text: str,
    filename: str = "network.toml",
    normalise_phone: Callable[[str], str] | None = None,
) -> Network:
    """Read a network file or raise NetworkErrors listing every problem with its line.

    ``normalise_phone`` (the Phones port's) turns a driver's number into E.164 or raises
    InvalidInput; its refusals and numbers that turn out the same are reported with the
    rest. Without it, phones stay as written.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        found = re.search(r"line (\d+)", str(error))
        line = int(found.group(1)) if found else 1
        raise NetworkErrors(
            [NetworkError(line, "", f"not valid TOML: {error}")], filename
        ) from None
    errors: list[NetworkError] = []
    r = _Reader(LineIndex(text), errors)
    r.unknown_keys(data, (), TOP_KEYS)
    slot_days = int(r.number(data, (), "slot_days", 1, MAX_SLOT_DAYS, DEFAULT_SLOT_DAYS, True))
    types = _vehicle_types(r, data)
    depots = _depots(r, data)
    depot_codes = {d.code for d in depots}
    type_codes = {t.code for t in types}
    vehicles = _vehicles(r, data, depot_codes, type_codes)
    drivers = _drivers(r, data, depot_codes, normalise_phone)
    lockers = _lockers(r, data, depot_codes)
    if errors:
        raise NetworkErrors(errors, filename)
    return Network(
        depots=tuple(depots),
        vehicle_types=tuple(types),
        vehicles=tuple(vehicles),
        drivers=tuple(drivers),
        lockers=tuple(lockers),
        slot_days=slot_days,
    )


def _unique(
    r: _Reader, path: tuple[Any, ...], key: str, value: str, seen: set[str], what: str
) -> None:
    if value and value in seen:
        r.error((*path, key), f"{what} {value!r} appears twice")
    seen.add(value)


DEPOT_KEYS = {
    "code", "name", "address", "lat", "lng", "timezone", "opens", "closes",
    "trunk_delivery", "service_areas", "slots",
}  # fmt: skip


def _depots(r: _Reader, data: Mapping[str, Any]) -> list[DepotSpec]:
    out, seen = [], set[str]()
    for i, t in enumerate(r.tables(data, (), "depots"), start=1):
        p: tuple[Any, ...] = ("depots", i)
        r.unknown_keys(t, p, DEPOT_KEYS)
        code = r.code(t, p, "code")
        _unique(r, p, "code", code, seen, "depot")
        zone = r.text(t, p, "timezone", 64, default="Europe/Berlin")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            r.error((*p, "timezone"), f"unknown time zone {zone!r}")
        opens = r.clock_time(t, p, "opens", "07:00")
        closes = r.clock_time(t, p, "closes", "21:00")
        if opens >= closes:
            r.error((*p, "closes"), f"must be after opens ({opens})")
        out.append(
            DepotSpec(
                code=code,
                name=r.text(t, p, "name", 120),
                address=r.text(t, p, "address", 200),
                lat=r.number(t, p, "lat", -90, 90),
                lng=r.number(t, p, "lng", -180, 180),
                timezone=zone,
                opens_at=opens,
                closes_at=closes,
                trunk_delivery=r.flag(t, p, "trunk_delivery"),
                service_areas=tuple(_areas(r, t, p)),
                slots=tuple(_slots(r, t, p)),
                line=r.index.line(p),
            )
        )
    return out


def _areas(
    r: _Reader, t: Mapping[str, Any], p: tuple[Any, ...]
) -> list[tuple[str, tuple[str, ...]]]:
    out = []
    for i, area in enumerate(r.tables(t, p, "service_areas"), start=1):
        ap = (*p, "service_areas", i)
        r.unknown_keys(area, ap, {"name", "postcodes"})
        name = r.text(area, ap, "name", 120)
        prefixes = area.get("postcodes")
        if (
            not isinstance(prefixes, list)
            or not prefixes
            or not all(
                isinstance(x, str) and re.fullmatch(r"[A-Za-z0-9]{1,10}", x) for x in prefixes
            )
        ):
            r.error((*ap, "postcodes"), 'must be a list of postcode prefixes like ["101", "133"]')
            prefixes = []
        out.append((name, tuple(prefixes)))
    return out


def _slots(r: _Reader, t: Mapping[str, Any], p: tuple[Any, ...]) -> list[SlotPattern]:
    out = []
    for i, s in enumerate(r.tables(t, p, "slots"), start=1):
        sp = (*p, "slots", i)
        r.unknown_keys(s, sp, {"days", "times", "capacity"})
        days = s.get("days")
        if not isinstance(days, list) or not days or any(d not in DAYS for d in days):
            r.error((*sp, "days"), f"must be a list of days from {', '.join(DAYS)}")
            days = []
        windows = []
        times = s.get("times")
        if not isinstance(times, list) or not times:
            r.error((*sp, "times"), 'must be a list of windows like ["08:00-10:00"]')
            times = []
        for span in times:
            match = SPAN.fullmatch(span) if isinstance(span, str) else None
            if match is None:
                r.error((*sp, "times"), f'{span!r} is not a window like "08:00-10:00"')
                continue
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            start = time(h1, m1)
            end = time(23, 59) if (h2, m2) == (24, 0) else time(h2 % 24, m2)
            if end <= start:
                r.error((*sp, "times"), f"{span!r} ends before it starts (one day at most)")
                continue
            windows.append((start, end))
        capacity = int(r.number(s, sp, "capacity", 1, 10_000, whole=True))
        out.append(
            SlotPattern(
                days=tuple(DAYS.index(d) for d in days),
                windows=tuple(windows),
                capacity=capacity,
                line=r.index.line(sp),
            )
        )
    return out


TYPE_KEYS = {
    "code", "kind", "name", "capacity", "max_parcel_size", "speed_factor", "range_km",
    "cost_per_km", "cost_per_hour", "cost_per_day", "co2_g_per_km",
}  # fmt: skip


def _vehicle_types(r: _Reader, data: Mapping[str, Any]) -> list[VehicleTypeSpec]:
    out, seen = [], set[str]()
    for i, t in enumerate(r.tables(data, (), "vehicle_types"), start=1):
        p: tuple[Any, ...] = ("vehicle_types", i)
        r.unknown_keys(t, p, TYPE_KEYS)
        code = r.code(t, p, "code")
        _unique(r, p, "code", code, seen, "vehicle type")
        out.append(
            VehicleTypeSpec(
                code=code,
                kind=r.choice(t, p, "kind", VEHICLE_KINDS),
                name=r.text(t, p, "name", 120),
                capacity=int(r.number(t, p, "capacity", 1, 10_000, whole=True)),
                max_parcel_size=r.choice(t, p, "max_parcel_size", SIZES),
                speed_factor=r.number(t, p, "speed_factor", 0.05, 3.0, 1.0),
                range_km=r.number(t, p, "range_km", 1, 5000),
                cost_per_km=r.number(t, p, "cost_per_km", 0, 1000, 0),
                cost_per_hour=r.number(t, p, "cost_per_hour", 0, 10_000, 0),
                cost_per_day=r.number(t, p, "cost_per_day", 0, 100_000, 0),
                co2_g_per_km=r.number(t, p, "co2_g_per_km", 0, 10_000, 0),
                line=r.index.line(p),
            )
        )
    return out


def _vehicles(
    r: _Reader, data: Mapping[str, Any], depots: set[str], types: set[str]
) -> list[VehicleSpec]:
    out, seen = [], set[str]()
    for i, t in enumerate(r.tables(data, (), "vehicles"), start=1):
        p: tuple[Any, ...] = ("vehicles", i)
        r.unknown_keys(t, p, {"label", "type", "depot"})
        label = r.text(t, p, "label", 64)
        _unique(r, p, "label", label, seen, "vehicle")
        kind, depot = r.text(t, p, "type", 32), r.text(t, p, "depot", 32)
        if kind and kind not in types:
            r.error((*p, "type"), f'unknown vehicle type "{kind}"' + _known(types))
        if depot and depot not in depots:
            r.error((*p, "depot"), f'unknown depot "{depot}"' + _known(depots))
        out.append(VehicleSpec(label=label, type=kind, depot=depot, line=r.index.line(p)))
    return out


def _known(codes: set[str]) -> str:
    return f" (the file has {', '.join(sorted(codes))})" if codes else " (the file has none)"


def _drivers(
    r: _Reader,
    data: Mapping[str, Any],
    depots: set[str],
    normalise_phone: Callable[[str], str] | None,
) -> list[DriverSpec]:
    out, seen = [], dict[str, int]()
    for i, t in enumerate(r.tables(data, (), "drivers"), start=1):
        p: tuple[Any, ...] = ("drivers", i)
        for key in ("token", "api_token"):
            if key in t:
                r.error(
                    (*p, key), "tokens are not kept in the file: `flask driver-token` issues one"
                )
        r.unknown_keys(
            {k: v for k, v in t.items() if k not in ("token", "api_token")},
            p,
            {"name", "phone", "employment", "depot"},
        )
        depot = r.text(t, p, "depot", 32)
        if depot and depot not in depots:
            r.error((*p, "depot"), f'unknown depot "{depot}"' + _known(depots))
        phone = r.text(t, p, "phone", 40)
        if phone and normalise_phone is not None:
            try:
                phone = normalise_phone(phone)
            except InvalidInput as error:
                r.error((*p, "phone"), error.message)
                phone = ""
        if phone and phone in seen:
            r.error((*p, "phone"), f"{phone} is also drivers[{seen[phone]}]'s phone")
        seen.setdefault(phone, i)
        out.append(
            DriverSpec(
                name=r.text(t, p, "name", 120),
                phone=phone,
                employment=r.choice(t, p, "employment", EMPLOYMENTS, "staff"),
                depot=depot,
                line=r.index.line(p),
            )
        )
    return out


LOCKER_KEYS = {
    "code", "name", "kind", "depot", "address", "postcode", "lat", "lng", "opening_hours",
    "compartments",
}  # fmt: skip


def _lockers(r: _Reader, data: Mapping[str, Any], depots: set[str]) -> list[LockerSpec]:
    out, seen = [], set[str]()
    for i, t in enumerate(r.tables(data, (), "lockers"), start=1):
        p: tuple[Any, ...] = ("lockers", i)
        r.unknown_keys(t, p, LOCKER_KEYS)
        code = r.code(t, p, "code")
        _unique(r, p, "code", code, seen, "locker")
        depot = r.text(t, p, "depot", 32)
        if depot and depot not in depots:
            r.error((*p, "depot"), f'unknown depot "{depot}"' + _known(depots))
        sizes = t.get("compartments")
        counts: list[tuple[str, int]] = []
        if not isinstance(sizes, dict) or not sizes:
            r.error(
                (*p, "compartments"), "must count compartments by size: { S = 8, M = 8, L = 4 }"
            )
        else:
            for size, n in sizes.items():
                if size not in SIZES:
                    r.error((*p, "compartments"), f"size {size!r} is not one of S, M, L")
                elif isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 500:
                    r.error((*p, "compartments"), f"{size} must be a whole number from 0 to 500")
                else:
                    counts.append((size, n))
            counts.sort(key=lambda c: SIZES.index(c[0]))
        out.append(
            LockerSpec(
                code=code,
                name=r.text(t, p, "name", 120),
                kind=r.choice(t, p, "kind", LOCKER_KINDS, "locker"),
                depot=depot,
                address=r.text(t, p, "address", 200),
                postcode=r.text(t, p, "postcode", 12),
                lat=r.number(t, p, "lat", -90, 90),
                lng=r.number(t, p, "lng", -180, 180),
                opening_hours=r.text(t, p, "opening_hours", 120, default="Mo-Su 00:00-24:00"),
                compartments=tuple(counts),
                line=r.index.line(p),
            )
        )
    return out
