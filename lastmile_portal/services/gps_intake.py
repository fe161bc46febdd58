"""GPS intake: a driver's fixes in, the newest position out at once, the store every 5 s.

The pure part (reading fixes, order, duplicates, jumps, thinning) is ``domain/gps.py``;
this module holds the driver's hot state under its lock (``services/live_state.py``),
publishes the position to the rooms watching the driver, and every ``PERSIST_EVERY``
stores the buffered history and the driver's position, with the live ETAs (``live_eta``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from ..domain import gps
from ..domain import live_payloads as payloads
from ..domain import model as m
from ..domain.errors import InvalidInput, NotFound, ServiceUnavailable
from . import Services, live_eta
from .fleet import fleet_room
from .live_eta import Stored
from .live_state import PERSIST_EVERY, DriverLive, RouteCache

log = logging.getLogger("lastmile.tracking")

# History waiting for the database while it is away: about 3 hours of one fix per second.
MAX_BUFFERED = 10_000


@dataclass(frozen=True)
class PositionsResult:
    """Count the fixes taken, ignored (old, duplicate) and flagged (jumps); list the rejected."""

    accepted: int
    ignored: int
    flagged: int = 0
    rejected: tuple[gps.Rejected, ...] = ()


def record_positions(services: Services, driver_id: int, pings: object) -> PositionsResult:
    """Take a batch of GPS fixes from a driver's phone and push the newest one live.

    Fixes that cannot be read are dropped and reported, one by one, without costing the
    rest of the batch; a batch with no readable fix at all is refused. Fixes older than
    the newest one already taken are ignored (a phone flushing its offline buffer after a
    fresher ping); an impossible jump is kept, flagged, and does not move the driver. The
    position goes out at once to the rooms watching this driver; history, the driver's
    stored position and the live ETAs are brought up to date every few seconds.
    """
    now = services.clock.now()
    fixes, rejected = gps.parse_batch(pings, now)
    if not fixes:
        raise InvalidInput(gps.nothing_taken(rejected))
    live = services.live.driver(driver_id)
    with live.lock:
        if not live.seeded:
            _seed(services, driver_id, live)
        track = gps.Track(
            (live.lat, live.lng, live.at)
            if live.lat is not None and live.lng is not None and live.at is not None
            else None,
            live.doubts,
        )
        followed = gps.follow_batch(track, live.stored, fixes)
        for fix, suspect in followed.kept:
            live.buffer.append(
                m.DriverPosition(
                    driver_id=driver_id,
                    lat=fix.lat,
                    lng=fix.lng,
                    recorded_at=fix.recorded_at,
                    received_at=now,
                    speed=fix.speed,
                    heading=fix.heading,
                    accuracy=fix.accuracy,
                    suspect=suspect,
                )
            )
        live.stored = followed.last_kept
        if followed.track.position is not None:
            live.lat, live.lng, live.at = followed.track.position
        live.doubts = followed.track.doubts
        accepted = followed.accepted
        published = False
        if accepted and live.rooms is not None:
            _publish_position(services, live)
            published = True
        # Staff watch drivers out on a route (the cached one: a ping right after a stop
        # event reloads it first, and sends to the fleet room once it has).
        fleet_sent = (
            accepted and live.route is not None and _publish_fleet(services, driver_id, live)
        )
        # Every few seconds of server time, or of the phone's time (a buffer flushed after
        # a tunnel covers minutes at once and must not wait for the next ping).
        due = (
            live.persisted_at is None
            or now - live.persisted_at >= PERSIST_EVERY
            or (
                live.at is not None
                and live.persisted_fix_at is not None
                and live.at - live.persisted_fix_at >= PERSIST_EVERY
            )
        )
        batch: list[m.DriverPosition] = []
        if live.buffer and (due or live.rooms is None) and not live.persisting:
            batch, live.buffer, live.persisting = live.buffer, [], True
            fix_now = (live.lat, live.lng, live.at)
            texted = frozenset(live.texted)
            route = live.route
    if batch:
        # Stored outside the driver's lock: the next ping goes out while this one is written.
        try:
            outgoing, rooms, queued, route = _persist(
                services, driver_id, batch, fix_now, now, texted, route
            )
        except ServiceUnavailable:
            # The database is away: keep the history for the next store, within a bound.
            with live.lock:
                live.buffer = (batch + live.buffer)[-MAX_BUFFERED:]
                live.persisting = False
            raise
        except Exception:
            # Anything else would fail again: a batch that cannot be stored is dropped, so
            # it never blocks the pings after it.
            with live.lock:
                live.persisting = False
            log.exception(
                "dropped %d GPS fixes of driver %s: storing failed", len(batch), driver_id
            )
            raise
        with live.lock:
            live.persisting = False
            live.persisted_at, live.persisted_fix_at, live.rooms = now, fix_now[2], rooms
            live.texted.update(queued)
            live.route = route
            if accepted and route is not None and not fleet_sent:
                _publish_fleet(services, driver_id, live)
        for room, event, payload in outgoing:
            if event != "position" or (accepted and not published):
                services.publisher.publish(room, event, payload)
    return PositionsResult(
        accepted=accepted,
        ignored=followed.ignored,
        flagged=followed.flagged,
        rejected=tuple(rejected),
    )


def _seed(services: Services, driver_id: int, live: DriverLive) -> None:
    """Start this process's hot state from the stored position."""
    with services.uow() as uow:
        driver = uow.repo.get(m.Driver, driver_id)
        if driver is None:
            raise NotFound(f"There is no driver {driver_id}.")
        live.lat, live.lng, live.at = driver.last_lat, driver.last_lng, driver.last_position_at
        last = uow.repo.last_position(driver_id)
        live.stored = (last.lat, last.lng, last.recorded_at) if last else None
        live.depot_id = driver.depot_id
    live.seeded = True


def _publish_position(services: Services, live: DriverLive) -> None:
    payload = payloads.position(live.lat, live.lng, live.at)  # type: ignore[arg-type]
    show_within = services.settings.show_driver_within_stops
    # One emit for all the rooms: the packet is encoded (and queued) once, not once a room.
    rooms = [room for room, stops_before in live.rooms or [] if stops_before <= show_within]
    services.publisher.publish_many(rooms, "position", payload)


def _publish_fleet(services: Services, driver_id: int, live: DriverLive) -> bool:
    """Send the driver's position to their depot's staff room; return whether it went out.

    One emit per batch, whether or not anyone watches (with a message queue this process
    cannot know), and never to a recipient's room: the payload names the driver.
    """
    if live.depot_id is None or live.lat is None or live.lng is None:
        return False
    payload = {"driver_id": driver_id, **payloads.position(live.lat, live.lng, live.at)}  # type: ignore[arg-type]
    services.publisher.publish(fleet_room(live.depot_id), "fleet_position", payload)
    return True


def _persist(
    services: Services,
    driver_id: int,
    batch: list[m.DriverPosition],
    fix: tuple[float | None, float | None, datetime | None],
    now: datetime,
    texted: frozenset[str] = frozenset(),
    route: RouteCache | None = None,
) -> Stored:
    """Store buffered history and the driver's newest fix, and refresh the live ETAs.

    ``texted`` holds outbox keys of "approaching" texts known to be stored already, and
    ``route`` what the last store cached of the driver's route. Return what to publish,
    the rooms now watching the driver, the keys of "approaching" texts that are in the
    outbox once this commits, and the route to cache for the next store.
    """
    lat, lng, at = fix
    with services.uow() as uow:
        if route is not None and lat is not None and lng is not None and at is not None:
            fast = live_eta.store_from_cache(
                services, uow, driver_id, batch, (lat, lng, at), now, texted, route
            )
            if fast is not None:
                uow.commit()
                return fast
        driver = uow.repo.get(m.Driver, driver_id)
        if driver is None:
            raise NotFound(f"There is no driver {driver_id}.")
        for position in batch:
            uow.repo.add(position)
        if at is not None and (driver.last_position_at is None or at > driver.last_position_at):
            driver.last_lat, driver.last_lng, driver.last_position_at = lat, lng, at
        stored: Stored = ([], [], [], None)
        if driver.last_lat is not None:
            stored = live_eta.refresh_route(services, uow, driver, now, texted)
        uow.commit()
    return stored
