"""A driver's progress at a stop: arrived, delivered, or failed with a reason."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ..domain import model as m
from ..domain.errors import Forbidden, InvalidInput, InvalidTransition, NotFound
from ..domain.proof import PhotoUpload
from ..domain.sms import MessageKind, attempt_occasion
from ..domain.status import EN_ROUTE, DeliveryStatus
from . import Services, notifications
from .proof_photos import store_proof_photos
from .routing import request_reoptimization
from .unit_of_work import UnitOfWork


class StopClosed(InvalidTransition):
    """Raise when a driver acts on a stop that is already closed; carries its status."""

    def __init__(self, stop: m.Stop, action: str) -> None:
        super().__init__(f"Stop {stop.id} is already {stop.status.value}: it cannot be {action}.")
        self.stop_status = stop.status.value


MAX_ID = 2**31 - 1


def _own_stop(uow: UnitOfWork, driver_id: int, stop_id: int) -> m.Stop:
    # An id past the column's range is no stop (and overflows the database driver).
    stop = uow.repo.get(m.Stop, stop_id) if 0 < stop_id <= MAX_ID else None
    route = uow.repo.get(m.Route, stop.route_id) if stop and stop.route_id else None
    if stop is None or route is None:
        raise NotFound(f"Stop {stop_id} does not exist.")
    # The phone shows only its own route, so a real stop id of another driver is a bug or
    # a probe: say so (403) rather than pretend it is missing.
    if route.driver_id != driver_id:
        raise Forbidden(f"Stop {stop_id} is on another driver's route.")
    return stop


def _require_open(stop: m.Stop, action: str) -> None:
    """Refuse (409 with the stop's status) an action on a closed stop."""
    if not stop.is_open:
        raise StopClosed(stop, action)


def _complete_route_if_done(uow: UnitOfWork, stop: m.Stop, now: datetime) -> None:
    """Close the route when its last open stop is dealt with."""
    route = uow.repo.get(m.Route, stop.route_id) if stop.route_id else None
    if route is not None and not any(s.is_open for s in route.stops):
        route.complete(at=now)


def mark_arrived(services: Services, driver_id: int, stop_id: int) -> str:
    """Record that the driver has reached a stop (recipients see 'arriving'); return its status."""
    with services.uow() as uow:
        stop = _own_stop(uow, driver_id, stop_id)
        now = services.clock.now()
        _require_open(stop, "marked arrived")
        stop.arrive(at=now)
        for d in uow.repo.deliveries_at_stop(stop_id):
            if d.status in EN_ROUTE:
                d.mark_arrived(at=now, driver_id=driver_id, stop_id=stop_id)
                notifications.queue_message(
                    services, uow, d, MessageKind.ARRIVED, occasion=attempt_occasion(d.attempts + 1)
                )
        status = stop.status.value
        uow.commit()
    return status


def mark_delivered(
    services: Services,
    driver_id: int,
    stop_id: int,
    note: str = "",
    *,
    photos: Sequence[PhotoUpload] = (),
    taken_at: datetime | None = None,
    lat: float | None = None,
    lng: float | None = None,
    strict: bool = False,
) -> int:
    """Record the hand-over of every parcel still open at a stop; return how many.

    ``photos`` are checked and stored in the same unit of work: a refused one (InvalidInput)
    changes nothing. ``strict`` refuses a stop already closed (StopClosed) instead of
    treating the repeat as done (the demo and the services' callers rely on the latter).
    """
    with services.uow() as uow:
        stop = _own_stop(uow, driver_id, stop_id)
        now = services.clock.now()
        if strict:
            _require_open(stop, "marked done")
        stop.complete(at=now)  # first: a stop already failed refuses before any parcel changes
        if photos:
            store_proof_photos(services, uow, stop, photos, taken_at, lat, lng)
        count = 0
        for d in uow.repo.deliveries_at_stop(stop_id):
            if d.status in EN_ROUTE:
                d.mark_delivered(at=now, driver_id=driver_id, note=note)
                if d.status is DeliveryStatus.DELIVERED:
                    # Into a locker, the text waits for the locker feature's pickup code.
                    notifications.queue_message(services, uow, d, MessageKind.DELIVERED)
                    # In the recipient's hands: ask how it went (a locker parcel is asked
                    # when collected). The access code was deleted by the transition.
                    notifications.queue_rating_request(services, uow, d)
                count += 1
        _complete_route_if_done(uow, stop, now)
        uow.commit()
    # Those recipients are served: stop sending them the driver's position.
    services.live.forget_rooms([driver_id])
    return count


def mark_failed(
    services: Services, driver_id: int, stop_id: int, reason: str, *, strict: bool = False
) -> int:
    """Record a failed attempt at a stop with the driver's reason; return how many parcels.

    ``strict`` refuses a stop already closed (StopClosed) instead of ignoring the repeat.
    """
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Say why the delivery failed (e.g. 'nobody home').")
    with services.uow() as uow:
        stop = _own_stop(uow, driver_id, stop_id)
        now = services.clock.now()
        if strict:
            _require_open(stop, "marked failed")
        stop.fail(at=now)
        count = 0
        for d in uow.repo.deliveries_at_stop(stop_id):
            if d.status in EN_ROUTE:
                d.mark_failed(at=now, driver_id=driver_id, reason=reason[:200])
                notifications.queue_message(
                    services,
                    uow,
                    d,
                    MessageKind.FAILED_ATTEMPT,
                    occasion=attempt_occasion(d.attempts),
                )
                count += 1
        _complete_route_if_done(uow, stop, now)
        route_id = stop.route_id
        uow.commit()
    services.live.forget_rooms([driver_id])
    # The failed stop frees time: the rest of the route gets new, honest ETAs.
    if route_id is not None:
        request_reoptimization(services, route_id, f"attempt failed at a previous stop ({reason})")
    return count
