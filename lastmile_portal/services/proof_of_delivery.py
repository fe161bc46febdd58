"""A driver's progress at a stop: arrived, delivered, or failed with a reason."""

from __future__ import annotations

from datetime import datetime

from ..domain import model as m
from ..domain.errors import InvalidInput, NotFound
from ..domain.sms import MessageKind, attempt_occasion
from ..domain.status import EN_ROUTE, DeliveryStatus
from . import Services, notifications
from .routing import request_reoptimization
from .unit_of_work import UnitOfWork


def _own_stop(uow: UnitOfWork, driver_id: int, stop_id: int) -> m.Stop:
    stop = uow.repo.get(m.Stop, stop_id)
    route = uow.repo.get(m.Route, stop.route_id) if stop and stop.route_id else None
    # Another driver's stop answers exactly like a missing one.
    if stop is None or route is None or route.driver_id != driver_id:
        raise NotFound(f"Stop {stop_id} is not on your route.")
    return stop


def _complete_route_if_done(uow: UnitOfWork, stop: m.Stop, now: datetime) -> None:
    """Close the route when its last open stop is dealt with."""
    route = uow.repo.get(m.Route, stop.route_id) if stop.route_id else None
    if route is not None and not any(s.is_open for s in route.stops):
        route.complete(at=now)


def mark_arrived(services: Services, driver_id: int, stop_id: int) -> None:
    """Record that the driver has reached a stop; its recipients see 'arriving'."""
    with services.uow() as uow:
        stop = _own_stop(uow, driver_id, stop_id)
        now = services.clock.now()
        stop.arrive(at=now)
        for d in uow.repo.deliveries_at_stop(stop_id):
            if d.status in EN_ROUTE:
                d.mark_arrived(at=now, driver_id=driver_id, stop_id=stop_id)
                notifications.queue_message(
                    services, uow, d, MessageKind.ARRIVED, occasion=attempt_occasion(d.attempts + 1)
                )
        uow.commit()


def mark_delivered(services: Services, driver_id: int, stop_id: int, note: str = "") -> int:
    """Record the hand-over of every parcel still open at a stop; return how many."""
    with services.uow() as uow:
        stop = _own_stop(uow, driver_id, stop_id)
        now = services.clock.now()
        stop.complete(at=now)  # first: a stop already failed refuses before any parcel changes
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


def mark_failed(services: Services, driver_id: int, stop_id: int, reason: str) -> int:
    """Record a failed attempt at a stop with the driver's reason; return how many parcels."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Say why the delivery failed (e.g. 'nobody home').")
    with services.uow() as uow:
        stop = _own_stop(uow, driver_id, stop_id)
        now = services.clock.now()
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
