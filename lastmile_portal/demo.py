"""The demo city (Berlin) and simulated drivers that use the driver API like real phones.

Phone numbers come from the Bundesnetzagentur's range reserved for film and TV
(+49 30 23125 xxx), so a misconfigured demo can never text a real person.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import math
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from werkzeug.security import generate_password_hash

from .domain import model as m
from .domain.events import TimelineEntry
from .domain.routing import Point
from .services import Services, gps_intake, routing
from .services.unit_of_work import UnitOfWork

log = logging.getLogger("lastmile.demo")

DEPOTS = [
    ("BER-N", "Depot Wedding", "Gerichtstraße 23, 13347 Berlin", 52.5446, 13.3680),
    ("BER-S", "Depot Neukölln", "Karl-Marx-Straße 200, 12055 Berlin", 52.4705, 13.4420),
]

VEHICLE_TYPES = [
    # code, kind, name, capacity, max size, speed factor, range km, CO2 g/km, €/km, €/h, fixed €
    ("van", m.VehicleKind.VAN, "Diesel van", 120, m.ParcelSize.L, 1.0, 500, 210, 0.32, 28, 40),
    (
        "ev-van",
        m.VehicleKind.EV_VAN,
        "Electric van",
        100,
        m.ParcelSize.L,
        1.0,
        220,
        55,
        0.14,
        28,
        45,
    ),
    ("bike", m.VehicleKind.CARGO_BIKE, "Cargo bike", 40, m.ParcelSize.M, 0.8, 60, 6, 0.04, 22, 10),
    (
        "robot",
        m.VehicleKind.SIDEWALK_ROBOT,
        "Sidewalk robot",
        6,
        m.ParcelSize.S,
        0.25,
        15,
        4,
        0.02,
        4,
        5,
    ),
    (
        "gig",
        m.VehicleKind.GIG_CAR,
        "Gig driver's car",
        40,
        m.ParcelSize.M,
        1.0,
        300,
        160,
        0.30,
        20,
        0,
    ),
]

# depot code, driver name, employment, vehicle type code, vehicle label
CREWS = [
    ("BER-N", "Mehmet Yilmaz", m.Employment.STAFF, "ev-van", "B-LM 101E"),
    ("BER-N", "Anna Schmidt", m.Employment.STAFF, "bike", "Bike N-1"),
    ("BER-N", "Jonas Weber", m.Employment.GIG, "gig", "B-JW 4711"),
    ("BER-S", "Lena Fischer", m.Employment.STAFF, "van", "B-LM 202"),
    ("BER-S", "Piotr Nowak", m.Employment.STAFF, "bike", "Bike S-1"),
    ("BER-S", "Kiwi Seven", m.Employment.STAFF, "robot", "Robot S-7"),
]

LOCKERS = [
    (
        "BER-N",
        "PS-HBF",
        "Parcel locker Hauptbahnhof",
        m.LockerKind.LOCKER,
        "Europaplatz 1",
        "10557",
        52.5251,
        13.3694,
    ),
    (
        "BER-N",
        "PS-SAA",
        "Parcel locker Schönhauser Allee Arcaden",
        m.LockerKind.LOCKER,
        "Schönhauser Allee 80",
        "10439",
        52.5493,
        13.4137,
    ),
    (
        "BER-N",
        "PP-ALX",
        "Kiosk am Alexanderplatz",
        m.LockerKind.PICKUP_POINT,
        "Alexanderplatz 3",
        "10178",
        52.5219,
        13.4132,
    ),
    (
        "BER-S",
        "PS-KOT",
        "Parcel locker Kottbusser Tor",
        m.LockerKind.LOCKER,
        "Adalbertstraße 96",
        "10999",
        52.4990,
        13.4183,
    ),
    (
        "BER-S",
        "PS-HMP",
        "Parcel locker Hermannplatz",
        m.LockerKind.LOCKER,
        "Hermannplatz 5",
        "10967",
        52.4867,
        13.4244,
    ),
    (
        "BER-S",
        "PP-BOX",
        "Späti Boxhagener Platz",
        m.LockerKind.PICKUP_POINT,
        "Grünberger Straße 60",
        "10245",
        52.5105,
        13.4589,
    ),
]

STREETS = {
    "BER-N": [
        ("Müllerstraße", "13353", 52.5480, 13.3580),
        ("Seestraße", "13353", 52.5450, 13.3540),
        ("Turmstraße", "10559", 52.5265, 13.3390),
        ("Invalidenstraße", "10115", 52.5305, 13.3800),
        ("Torstraße", "10119", 52.5290, 13.4010),
        ("Kastanienallee", "10435", 52.5385, 13.4090),
        ("Schönhauser Allee", "10437", 52.5430, 13.4120),
        ("Bernauer Straße", "13355", 52.5370, 13.3980),
        ("Prenzlauer Allee", "10405", 52.5360, 13.4230),
        ("Brunnenstraße", "13355", 52.5380, 13.3960),
        ("Badstraße", "13357", 52.5500, 13.3840),
        ("Osloer Straße", "13359", 52.5570, 13.3800),
        ("Danziger Straße", "10435", 52.5390, 13.4170),
        ("Friedrichstraße", "10117", 52.5200, 13.3880),
    ],
    "BER-S": [
        ("Karl-Marx-Straße", "12043", 52.4790, 13.4390),
        ("Sonnenallee", "12047", 52.4850, 13.4330),
        ("Hermannstraße", "12049", 52.4760, 13.4250),
        ("Oranienstraße", "10999", 52.5010, 13.4180),
        ("Bergmannstraße", "10961", 52.4890, 13.3920),
        ("Gneisenaustraße", "10961", 52.4910, 13.3960),
        ("Warschauer Straße", "10243", 52.5100, 13.4500),
        ("Boxhagener Straße", "10245", 52.5100, 13.4650),
        ("Weserstraße", "12045", 52.4880, 13.4330),
        ("Kottbusser Damm", "10967", 52.4920, 13.4230),
        ("Wiener Straße", "10999", 52.4980, 13.4320),
        ("Schlesische Straße", "10997", 52.4990, 13.4450),
        ("Hasenheide", "10967", 52.4870, 13.4140),
        ("Richardstraße", "12043", 52.4740, 13.4460),
    ],
}

FIRST = [
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Emma",
    "Felix",
    "Greta",
    "Hannah",
    "Ilias",
    "Julia",
    "Karim",
    "Lea",
    "Mila",
    "Noah",
    "Olga",
    "Paul",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
]
LAST = [
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Hartmann",
    "Lange",
    "Werner",
    "Krause",
    "Meier",
    "Öztürk",
]

DELIVERIES_PER_DEPOT = 40
SLOT_HOURS = 2
SLOTS = 4


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


DEMO_DEPOT_CODES = {code for code, *_ in DEPOTS}


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
    """Create the demo city, plan today's routes with the optimizer and send them out."""
    rng = random.Random(7)
    tz = ZoneInfo(services.settings.timezone)
    now = services.clock.now()
    local_now = now.astimezone(tz)
    today = local_now.date()
    first_slot = local_now.replace(minute=0, second=0, microsecond=0)
    with services.uow() as uow:
        types = {}
        for code, kind, name, cap, size, speed, rng_km, co2, per_km, per_h, fixed in VEHICLE_TYPES:
            types[code] = m.VehicleType(
                code=code,
                kind=kind,
                name=name,
                capacity=cap,
                max_parcel_size=size,
                speed_factor=speed,
                range_km=rng_km,
                co2_g_per_km=co2,
                cost_per_km=per_km,
                cost_per_hour=per_h,
                fixed_cost=fixed,
            )
            uow.repo.add(types[code])
        depots = {}
        for code, name, address, lat, lng in DEPOTS:
            # Demo depots work around the clock so the map moves whenever someone looks.
            depots[code] = m.Depot(
                code=code,
                name=name,
                address=address,
                lat=lat,
                lng=lng,
                timezone=services.settings.timezone,
                opens_at="00:00",
                closes_at="23:59",
                trunk_delivery=True,  # recipients may have parcels put in their car's boot
            )
            uow.repo.add(depots[code])
        uow.repo.flush()
        for code, prefixes in (("BER-N", "101,103,104,105,133"), ("BER-S", "102,109,120")):
            uow.repo.add(
                m.ServiceArea(
                    depot_id=depots[code].id,
                    name=f"{depots[code].name} area",
                    postcode_prefixes=prefixes,
                )
            )  # type: ignore[arg-type]
        for i, (depot, name, employment, vtype, label) in enumerate(CREWS, start=1):
            uow.repo.add(
                m.Vehicle(depot_id=depots[depot].id, vehicle_type_id=types[vtype].id, label=label)
            )  # type: ignore[arg-type]
            uow.repo.add(
                m.Driver(
                    name=name,
                    phone=demo_phone(900 + i),
                    employment=employment,
                    api_token_hash=m.hash_api_token(driver_token(secret_key, i)),
                    depot_id=depots[depot].id,
                )
            )
        lockers = {}
        for depot, code, name, kind, address, postcode, lat, lng in LOCKERS:
            locker = m.Locker(
                code=code,
                name=name,
                kind=kind,
                address=f"{address}, {postcode} Berlin",
                postcode=postcode,
                lat=lat,
                lng=lng,
                depot_id=depots[depot].id,  # type: ignore[arg-type]
                opening_hours="Mo-Su 00:00-24:00"
                if kind is m.LockerKind.LOCKER
                else "Mo-Sa 08:00-22:00",
            )
            sizes = [m.ParcelSize.S] * 8 + [m.ParcelSize.M] * 8 + [m.ParcelSize.L] * 4
            for n, size in enumerate(sizes, start=1):
                locker.compartments.append(
                    m.LockerCompartment(locker_id=None, label=f"{n:02d}", size=size)  # type: ignore[arg-type]
                )
            lockers.setdefault(depot, []).append(locker)
            uow.repo.add(locker)
        uow.repo.flush()
        slots = {}
        for depot in depots.values():
            for s in range(SLOTS):
                start = first_slot + timedelta(hours=SLOT_HOURS * s)
                slot = m.DeliverySlot(
                    depot_id=depot.id,
                    service_date=today,
                    starts_at=start.astimezone(ZoneInfo("UTC")),  # type: ignore[arg-type]
                    ends_at=(start + timedelta(hours=SLOT_HOURS)).astimezone(ZoneInfo("UTC")),
                    capacity=30,
                )
                uow.repo.add(slot)
                slots.setdefault(depot.code, []).append(slot)
        _add_later_slots(uow, depots.values(), today, tz)
        uow.repo.flush()
        phone_n = 0
        for code, depot in depots.items():
            for k in range(DELIVERIES_PER_DEPOT):
                street, postcode, lat, lng = rng.choice(STREETS[code])
                slot = slots[code][min(SLOTS - 1, k * SLOTS // DELIVERIES_PER_DEPOT)]
                slot.booked += 1
                phone_n += 1
                option = m.DeliveryOption.DOOR
                locker_id = None
                roll = rng.random()
                if roll < 0.08:
                    option = m.DeliveryOption.LOCKER
                    locker_id = rng.choice(
                        [x for x in lockers[code] if x.kind is m.LockerKind.LOCKER]
                    ).id
                elif roll < 0.18:
                    option = m.DeliveryOption.SAFE_PLACE
                size = rng.choices([m.ParcelSize.S, m.ParcelSize.M, m.ParcelSize.L], [5, 4, 1])[0]
                delivery = m.Delivery(
                    tracking_number=m.new_tracking_number(),
                    tracking_token=m.new_tracking_token(),
                    recipient_name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                    phone=demo_phone(phone_n),
                    email=None,
                    address_line=f"{street} {rng.randint(1, 180)}",
                    postcode=postcode,
                    city="Berlin",
                    lat=round(lat + rng.uniform(-0.0025, 0.0025), 6),
                    lng=round(lng + rng.uniform(-0.004, 0.004), 6),
                    depot_id=depot.id,  # type: ignore[arg-type]
                    created_at=now,
                    service_date=today,
                    window_start=slot.starts_at,
                    window_end=slot.ends_at,
                    slot_id=slot.id,
                    option=option,
                    safe_place="Behind the bins by the side door"
                    if option is m.DeliveryOption.SAFE_PLACE
                    else None,
                    locker_id=locker_id,
                    parcel_size=size,
                    weight_kg=round(rng.uniform(0.2, 12.0), 1),
                )
                uow.repo.add(delivery)
        uow.repo.add(
            m.StaffUser(
                email=staff_email,
                name="Demo Support",
                role=m.StaffRole.ADMIN,
                password_hash=generate_password_hash(staff_password),
            )
        )
        uow.commit()
        depot_ids = [d.id for d in depots.values()]
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
            for route in uow.repo.routes_on(self.services.today()):
                if route.status is not m.RouteStatus.IN_PROGRESS:
                    continue
                depot = uow.repo.get(m.Depot, route.depot_id)
                work.append(
                    (
                        route.driver_id,
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
        for driver_id, depot, started, stops in work:
            self._advance(now, driver_id, depot, started, stops)

    def _advance(
        self,
        now: datetime,
        driver_id: int,
        depot: Point,
        started: datetime | None,
        stops: list[tuple],
    ) -> None:  # type: ignore[type-arg]
        here, left_at = depot, started or now
        for stop_id, status, point, planned, service_s, departed, sequence in stops:
            if status in (m.StopStatus.DONE, m.StopStatus.FAILED, m.StopStatus.SKIPPED):
                here, left_at = point, departed or left_at
                continue
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
                else:
                    self.phone.delivered(driver_id, stop_id, point, now, sequence)
            return

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
LATER_SLOT_DAYS = 3
LATER_SLOT_HOURS = (8, 10, 12, 14, 16, 18)


def _add_later_slots(uow: UnitOfWork, depots: Iterable[m.Depot], today: date, tz: ZoneInfo) -> None:
    """Give each depot two-hour slots on the next days, some partly booked, to move parcels to."""
    rng = random.Random(11)  # its own: the city's addresses stay what they were
    for depot in depots:
        for day in range(1, LATER_SLOT_DAYS + 1):
            service_date = today + timedelta(days=day)
            for hour in LATER_SLOT_HOURS:
                start = datetime.combine(service_date, time(hour), tz)
                uow.repo.add(
                    m.DeliverySlot(
                        depot_id=depot.id,  # type: ignore[arg-type]
                        service_date=service_date,
                        starts_at=start.astimezone(ZoneInfo("UTC")),
                        ends_at=(start + timedelta(hours=SLOT_HOURS)).astimezone(ZoneInfo("UTC")),
                        capacity=20,
                        booked=rng.randrange(0, 15),
                    )
                )
