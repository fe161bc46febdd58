"""The demo city (Berlin) and simulated drivers that use the driver API like real phones.

Phone numbers come from the Bundesnetzagentur's range reserved for film and TV
(+49 30 23125 xxx), so a misconfigured demo can never text a real person.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import logging
import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from werkzeug.security import generate_password_hash

from .adapters.clock import DemoClock
from .domain import model as m
from .domain.errors import DomainError
from .domain.events import TimelineEntry
from .domain.network import parse_network
from .domain.routing import Point
from .services import Services, gps_intake, intake, network, ratings, routing
from .services.unit_of_work import UnitOfWork

log = logging.getLogger("lastmile.demo")

DATA = Path(__file__).parent / "demo_data"
NETWORK_FILE = DATA / "demo_city.toml"  # the same format as `flask load-network`'s
DELIVERIES_FILE = DATA / "deliveries.csv"  # windows are times of day: `demo_rows` dates them
NETWORK = parse_network(NETWORK_FILE.read_text(encoding="utf-8"), NETWORK_FILE.name)
# Demo driver n (from 1) is the file's n-th [[drivers]]; their tokens come from driver_token.
CREWS = NETWORK.drivers
DEMO_DEPOT_CODES = {d.code for d in NETWORK.depots}
# The template's windows start here; a demo started later moves them to the current hour.
TEMPLATE_DAY_STARTS = time(9)
LATER_SLOT_DAYS = NETWORK.slot_days - 1
# issue 14: what demo recipients score their delivery (mostly happy, a few not)
DEMO_SCORES = (5, 5, 5, 5, 4, 4, 4, 3, 2, 1)


@dataclass(frozen=True)
class DemoDriver:
    """A demo driver's id, name and API token (printed for trying the driver API)."""

    id: int
    name: str
    token: str


def driver_token(secret_key: str, index: int) -> str:
    """Return demo driver ``index``'s API token, reproducible from this install's secret key."""
    return hmac.new(
        secret_key.encode(), f"demo-driver:{index}".encode(), hashlib.sha256
    ).hexdigest()[:40]


def demo_phone(n: int) -> str:
    """Return the n-th number of the range reserved for fiction (+49 30 23125 000–999)."""
    return f"+493023125{n:03d}"


class NotADemoDatabase(Exception):
    """Raise when the database holds depots that the demo did not create."""


def is_seeded_for_today(services: Services) -> bool:
    """Return whether the demo exists and its routes are for today."""
    with services.uow() as uow:
        return bool(uow.repo.count(m.Depot)) and bool(uow.repo.routes_on(services.today()))


def ensure_demo(services: Services, secret_key: str, staff_email: str, staff_password: str) -> bool:
    """Seed the demo city unless today's demo is already there; return whether it seeded.

    A demo left from an earlier day is cleared first, so the map is always live.
    """
    if is_seeded_for_today(services):
        return False
    with services.uow() as uow:
        codes = {d.code for d in uow.repo.all(m.Depot)}
        if codes - DEMO_DEPOT_CODES:
            raise NotADemoDatabase(
                "This database holds real depots; the demo never seeds or clears it. "
                "Point DATABASE_URL (or INSTANCE_DIR) at a separate demo database."
            )
        if codes:
            log.info("demo data is from an earlier day: clearing it")
            for cls in PURGE_ORDER:
                uow.repo.delete_all(cls)
            uow.commit()
    seed(services, secret_key, staff_email, staff_password)
    return True


PURGE_ORDER: list[type] = [
    m.IdempotentAnswer,  # the simulated phones' keys name stop ids, which a new day reuses
    m.Rating,
    m.ProofPhoto,
    m.InboundSms,
    m.OutboundSms,
    m.SmsOptOut,
    m.LockerCompartment,
    m.DriverPosition,
    TimelineEntry,
    m.Delivery,
    m.Stop,
    m.Route,
    m.DeliverySlot,
    m.Locker,
    m.Driver,
    m.Vehicle,
    m.VehicleType,
    m.ServiceArea,
    m.Depot,
    m.StaffUser,
]


def seed(services: Services, secret_key: str, staff_email: str, staff_password: str) -> None:
    """Create the demo city through the operator's paths, plan today's routes, send them out.

    The network goes in as `flask load-network` loads a file, the parcels as
    `flask import-deliveries` imports a CSV; then each depot's day is planned with the
    optimizer and every route dispatched.
    """
    if isinstance(services.clock, DemoClock):
        services.clock.start_day()  # the demo's day starts at its morning, now
    network.load_network(services, NETWORK_FILE.read_text(encoding="utf-8"), NETWORK_FILE.name)
    today = services.today()
    with services.uow() as uow:
        by_phone = {d.phone: d for d in uow.repo.all(m.Driver)}
        for i, crew in enumerate(CREWS, start=1):
            by_phone[crew.phone].api_token_hash = m.hash_api_token(driver_token(secret_key, i))
        _book_later_slots(uow, today)
        uow.repo.add(
            m.StaffUser(
                email=staff_email,
                name="Demo Support",
                role=m.StaffRole.ADMIN,
                password_hash=generate_password_hash(staff_password),
            )
        )
        uow.commit()
        depot_ids = [d.id for d in uow.repo.all(m.Depot)]
    report = intake.import_csv(services, demo_rows(services))
    for row in report.rejected:
        log.warning("demo parcel on line %d not imported: %s", row.line, row.error)
    for depot_id in depot_ids:
        summary = routing.plan_depot_day(services, depot_id, today)  # type: ignore[arg-type]
        log.info(
            "demo depot %s: %d routes, %d parcels planned, %d stops dropped",
            depot_id,
            summary.routes,
            summary.planned,
            len(summary.dropped),
        )
    with services.uow() as uow:
        route_ids = [r.id for r in uow.repo.routes_on(today)]
    for route_id in route_ids:
        routing.dispatch_route(services, route_id)  # type: ignore[arg-type]


def demo_rows(services: Services) -> list[str]:
    """Return the demo's deliveries CSV with today's windows (in a slot where one matches).

    The template gives windows as times of day from 09:00. Started later (on the real
    clock, DEMO_CLOCK=off), they move to start at the current hour, as a day's first
    window would.
    """
    tz = ZoneInfo(services.settings.timezone)
    now = services.clock.now().astimezone(tz)
    today = now.date()
    start = datetime.combine(today, TEMPLATE_DAY_STARTS, tz)
    shift = max(timedelta(0), now.replace(minute=0, second=0, microsecond=0) - start)
    with services.uow() as uow:
        slots = {
            (depot.code, slot.starts_at.astimezone(UTC), slot.ends_at.astimezone(UTC)): slot.id
            for depot in uow.repo.all(m.Depot)
            for slot in uow.repo.slots_on(depot.id, today)  # type: ignore[arg-type]
        }
    out = io.StringIO()
    with DELIVERIES_FILE.open(encoding="utf-8", newline="") as template:
        reader = csv.DictReader(template)
        writer = csv.DictWriter(out, [*(reader.fieldnames or []), "slot"])
        writer.writeheader()
        for row in reader:
            begins = datetime.combine(today, time.fromisoformat(row["window_start"]), tz) + shift
            ends = datetime.combine(today, time.fromisoformat(row["window_end"]), tz) + shift
            slot = slots.get((row["depot"], begins.astimezone(UTC), ends.astimezone(UTC)))
            if slot is not None:
                row.update(window_start="", window_end="", slot=str(slot))
            else:
                row.update(window_start=begins.isoformat(), window_end=ends.isoformat())
            writer.writerow(row)
    return out.getvalue().splitlines(keepends=True)


def demo_drivers(services: Services, secret_key: str) -> list[DemoDriver]:
    """Return the demo drivers with their API tokens."""
    with services.uow() as uow:
        out = []
        for i in range(1, len(CREWS) + 1):
            token = driver_token(secret_key, i)
            driver = uow.repo.driver_by_token_hash(m.hash_api_token(token))
            if driver is not None:
                out.append(DemoDriver(id=driver.id, name=driver.name, token=token))  # type: ignore[arg-type]
        return out


def demo_deliveries(services: Services) -> list[dict[str, object]]:
    """Return every delivery of today with its link, driver and phone (demo-links)."""
    with services.uow() as uow:
        out = []
        driver_of_stop = {
            stop.id: route.driver_id
            for route in uow.repo.routes_on(services.today())
            for stop in route.stops
        }
        for d in uow.repo.all(m.Delivery):
            out.append(
                {
                    "tracking_number": d.tracking_number,
                    "url": services.tracking_url(d.tracking_token),
                    "token": d.tracking_token,
                    "driver_id": driver_of_stop.get(d.stop_id),
                    "phone": d.phone,
                }
            )
        return out


class DemoPhone:
    """A simulated driver's phone: stop actions over the driver API, as a real phone sends them.

    Requests go through the app's whole WSGI stack in-process (``app.test_client()``): the
    same routing, bearer check, limits, idempotency and photo checks as over the network,
    with no port to reach, so the simulator also works before the server listens and in
    tests. Each delivery uploads a generated JPEG taken a few metres from the door.
    """

    def __init__(
        self, app: Flask, tokens: dict[int, str], rng: random.Random | None = None
    ) -> None:
        self.client = app.test_client(use_cookies=False)
        self.tokens = tokens
        self.rng = rng or random.Random()

    def arrived(self, driver_id: int, stop_id: int, point: Point, at: datetime) -> int:
        """Send "arrived" from the stop; return the HTTP status."""
        body = {"lat": point.lat, "lng": point.lng, "recorded_at": at.isoformat()}
        return self._post(driver_id, stop_id, "arrived", json=body)

    def delivered(self, driver_id: int, stop_id: int, point: Point, at: datetime, n: int) -> int:
        """Send "delivered" with a photo of stop ``n`` taken near ``point``; return the status."""
        near = self._near(point)
        form = {
            "photo": (io.BytesIO(demo_photo(n)), f"stop-{n}.jpg", "image/jpeg"),
            "lat": f"{near.lat:.6f}",
            "lng": f"{near.lng:.6f}",
            "recorded_at": at.isoformat(),
        }
        return self._post(driver_id, stop_id, "delivered", data=form)

    def failed(self, driver_id: int, stop_id: int, reason: str) -> int:
        """Send "failed" with one of the known reasons; return the HTTP status."""
        return self._post(driver_id, stop_id, "failed", json={"reason": reason})

    def _near(self, point: Point) -> Point:
        # Where a driver stands for the photo: 3 to 40 m from the address, so the customers'
        # pages show both "at your door" and "Delivered 25 m from your door".
        metres = self.rng.uniform(3.0, 40.0)
        bearing = self.rng.uniform(0.0, 2 * math.pi)
        north, east = metres * math.cos(bearing), metres * math.sin(bearing)
        return Point(
            point.lat + north / 111_320.0,
            point.lng + east / (111_320.0 * math.cos(math.radians(point.lat))),
        )

    def _post(self, driver_id: int, stop_id: int, action: str, **body: Any) -> int:
        token = self.tokens.get(driver_id)
        if token is None:  # not a demo driver, or its token was rotated
            return 401
        response = self.client.post(
            f"/api/v1/driver/stops/{stop_id}/{action}",
            headers={
                "Authorization": f"Bearer {token}",
                # One key per action on a stop, as a phone retrying after a timeout sends.
                "Idempotency-Key": f"demo-{action}-{stop_id}",
            },
            **body,
        )
        # 409: the stop was closed meanwhile (say, by someone on the driver page).
        if response.status_code not in (200, 409):
            log.warning(
                "demo driver %s: %s at stop %s refused (%s): %s",
                driver_id,
                action,
                stop_id,
                response.status_code,
                response.get_data(as_text=True)[:200],
            )
        return response.status_code


# Front-door colours for the generated proof photos (one per stop number, in turn).
DOOR_COLOURS = [(120, 30, 35), (25, 60, 110), (30, 90, 60), (140, 100, 40), (70, 70, 75)]


def demo_photo(n: int) -> bytes:
    """Return a small JPEG of a door-coloured gradient with the stop number on it."""
    from PIL import Image, ImageDraw, ImageFont  # only the demo draws pictures

    width, height = 480, 360
    r, g, b = DOOR_COLOURS[n % len(DOOR_COLOURS)]
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        f = 0.55 + 0.45 * y / height  # darker towards the step
        draw.line([(0, y), (width, y)], fill=(int(r / f * 0.8), int(g / f * 0.8), int(b / f * 0.8)))
    draw.rectangle([150, 40, 330, 330], outline=(235, 225, 200), width=6)  # the door frame
    draw.ellipse([300, 180, 314, 194], fill=(220, 190, 90))  # the handle
    font = ImageFont.load_default(size=64)
    draw.text((240, 130), str(n), fill=(255, 255, 255), font=font, anchor="mm")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    return out.getvalue()


class DriverSimulator:
    """Move every in-progress demo route along its plan in real time.

    Each tick sends the position the driver would have now (straight lines between
    stops) through ``send_positions``, and marks stops arrived / delivered (with a photo) /
    failed through ``phone``: the driver API's endpoints, as a real phone calls them.
    Without a ``phone``, the simulator must be built in the app's context (server.serve
    does): it sends through that app with the demo drivers' tokens.
    """

    def __init__(
        self,
        services: Services,
        tick_s: float = 2.0,
        fail_rate: float = 0.05,
        rating_rate: float = 0.4,
        held_up: timedelta = timedelta(minutes=45),
        send_positions: Callable[[int, list[dict[str, Any]]], None] | None = None,
        phone: DemoPhone | None = None,
    ) -> None:
        self.services = services
        self.send_positions = send_positions or (
            lambda driver_id, pings: gps_intake.record_positions(services, driver_id, pings)
        )
        self.phone = phone or _phone_of_current_app(services)
        self.tick_s = tick_s
        self.fail_rate = fail_rate
        self.rating_rate = rating_rate
        self.held_up = held_up
        self.rng = random.Random()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start ticking on a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="demo-drivers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop ticking."""
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                self.tick()
            except Exception:  # a bad tick must not kill the demo
                log.exception("demo driver tick failed")

    def tick(self) -> None:
        """Advance every driver to where the plan says they are now."""
        now = self.services.clock.now()
        with self.services.uow() as uow:
            work = []
            routes = uow.repo.routes_on(self.services.today())  # by id
            held_up = routes[0].id if routes else None
            for route in routes:
                if route.status is not m.RouteStatus.IN_PROGRESS:
                    continue
                depot = uow.repo.get(m.Depot, route.depot_id)
                work.append(
                    (
                        route.driver_id,
                        route.id == held_up,
                        Point(depot.lat, depot.lng),
                        route.started_at,  # type: ignore[union-attr]
                        [
                            (
                                s.id,
                                s.status,
                                Point(s.lat, s.lng),
                                s.planned_arrival,
                                s.service_seconds,
                                s.departed_at,
                                s.sequence,
                            )
                            for s in route.ordered_stops()
                        ],
                    )
                )
        for driver_id, slow, depot, started, stops in work:
            # The day's first route left the depot ``held_up`` late (loading took longer): its
            # later stops miss their windows, so the live ETAs, the fleet map's late stops
            # and the on-time rate have something to show (issue 14).
            late = self.held_up if slow else timedelta(0)
            self._advance(now, driver_id, depot, started, stops, late)

    def _advance(
        self,
        now: datetime,
        driver_id: int,
        depot: Point,
        started: datetime | None,
        stops: list[tuple],
        late: timedelta = timedelta(0),
    ) -> None:  # type: ignore[type-arg]
        here, left_at = depot, started or now
        for stop_id, status, point, planned, service_s, departed, sequence in stops:
            if status in (m.StopStatus.DONE, m.StopStatus.FAILED, m.StopStatus.SKIPPED):
                here, left_at = point, departed or left_at
                continue
            if planned is not None:
                planned += late
            arrive_at = max(planned or now, left_at + timedelta(seconds=30))
            if now < arrive_at:
                span = (arrive_at - left_at).total_seconds() or 1.0
                f = max(0.0, min(1.0, (now - left_at).total_seconds() / span))
                position = Point(
                    here.lat + (point.lat - here.lat) * f, here.lng + (point.lng - here.lng) * f
                )
                self._ping(driver_id, position, now)
                return
            self._ping(driver_id, point, now)
            if status is m.StopStatus.PENDING:
                self.phone.arrived(driver_id, stop_id, point, now)
                return
            if now >= arrive_at + timedelta(seconds=service_s):
                if self.rng.random() < self.fail_rate:
                    self.phone.failed(driver_id, stop_id, "not_home")
                elif self.phone.delivered(driver_id, stop_id, point, now, sequence) == 200:
                    self._rate(stop_id)
            return

    def _rate(self, stop_id: int) -> None:
        """Have some recipients rate their parcel, as the tracking page asks them to."""
        with self.services.uow() as uow:
            rated = [d.id for d in uow.repo.deliveries_at_stop(stop_id) if d.status in m.RATABLE]
        for delivery_id in rated:
            if self.rng.random() < self.rating_rate:
                try:
                    ratings.rate_delivery(self.services, delivery_id, self.rng.choice(DEMO_SCORES))  # type: ignore[arg-type]
                except DomainError:
                    log.warning("demo rating of delivery %s refused", delivery_id)

    def _ping(self, driver_id: int, point: Point, at: datetime) -> None:
        self.send_positions(
            driver_id,
            [{"lat": point.lat, "lng": point.lng, "recorded_at": at.isoformat(), "speed": 6.0}],
        )


def _phone_of_current_app(services: Services) -> DemoPhone:
    """Return a DemoPhone on the app whose context is active, with the demo drivers' tokens."""
    from flask import current_app, has_app_context

    if not has_app_context():
        raise RuntimeError("DriverSimulator needs a phone= or the app's context to build one.")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    secret_key = app.config["SETTINGS"].secret_key
    return DemoPhone(app, {d.id: d.token for d in demo_drivers(services, secret_key)})


# ---------------------------------------------------------------- slots of the next days (issue 11)


def _book_later_slots(uow: UnitOfWork, today: date) -> None:
    """Book the next days' slots partly, as other parcels would have (moving one shows it)."""
    rng = random.Random(11)  # its own: the city's addresses stay what they were
    for depot in uow.repo.all(m.Depot):
        for slot in uow.repo.slots_from(depot.id, today + timedelta(days=1), LATER_SLOT_DAYS):  # type: ignore[arg-type]
            slot.booked = min(slot.capacity, rng.randrange(0, 15))
