"""A driver's progress at a stop: arrived, delivered (with photos), or failed with a reason."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from ..domain import model as m
from ..domain.errors import ConcurrentUpdate, Forbidden, InvalidInput, InvalidTransition, NotFound
from ..domain.proof import PhotoUpload, photo_required
from ..domain.sms import MessageKind, attempt_occasion
from ..domain.status import EN_ROUTE, DeliveryStatus
from . import Services, lockers, notifications
from .proof_photos import StoredProofs, discard, store_proof_photos
from .routing import request_reoptimization
from .unit_of_work import UnitOfWork


class StopClosed(InvalidTransition):
    """Raise when a driver acts on a stop that is already closed; carries its status."""

    def __init__(self, stop: m.Stop, action: str) -> None:
        super().__init__(f"Stop {stop.id} is already {stop.status.value}: it cannot be {action}.")
        self.stop_status = stop.status.value


class AlreadyAnswered(ConcurrentUpdate):
    """Raise when a concurrent request with the same Idempotency-Key committed first."""

    def __init__(self) -> None:
        super().__init__("This request was already handled; its first answer stands.")


@dataclass(frozen=True)
class StopOutcome:
    """What one driver action did: the stop's status after it and the parcels it closed."""

    stop_id: int
    stop_status: str
    parcels: int  # how many parcels this action changed
    tracking_numbers: list[str]
    photos: int = 0  # photos stored per parcel
    open_parcels: int = 0  # parcels still to hand over at this stop (after a partial delivery)


@dataclass(frozen=True)
class Idempotency:
    """A driver's Idempotency-Key for one action on one stop; the answer is kept with it."""

    driver_id: int
    key: str
    request: str  # e.g. "delivered:12"


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


def _close_stop_if_done(
    uow: UnitOfWork, stop: m.Stop, parcels: list[m.Delivery], now: datetime, *, delivering: bool
) -> None:
    """Close the stop once none of its parcels is left to hand over, then maybe the route.

    A stop where anything was handed over is done; one where every parcel failed, failed;
    one with no parcel left on it closes as the driver's action says.
    """
    if any(d.status in EN_ROUTE for d in parcels):
        return
    handed_over = any(
        d.status in (DeliveryStatus.DELIVERED, DeliveryStatus.AT_LOCKER) for d in parcels
    )
    failed = any(d.status is DeliveryStatus.FAILED for d in parcels)
    if handed_over or (delivering and not failed):
        stop.complete(at=now)
    else:
        stop.fail(at=now)
    route = uow.repo.get(m.Route, stop.route_id) if stop.route_id else None
    if route is not None and not any(s.is_open for s in route.stops):
        route.complete(at=now)


def _keep_answer(
    uow: UnitOfWork, idempotency: Idempotency | None, outcome: StopOutcome, now: datetime
) -> None:
    """Store the answer in the action's own transaction: a racing retry cannot act twice.

    On a conflict the other request has committed the same action first (PostgreSQL made
    this insert wait for it): roll this one back and let the caller replay that answer.
    """
    if idempotency is None:
        return
    added = uow.repo.add_idempotent_answer(
        m.IdempotentAnswer(
            driver_id=idempotency.driver_id,
            key=idempotency.key,
            request=idempotency.request,
            status_code=200,
            body=json.dumps(asdict(outcome)),
            created_at=now,
        )
    )
    if not added:
        raise AlreadyAnswered()


def _commit_or_discard(services: Services, uow: UnitOfWork, proofs: StoredProofs | None) -> None:
    """Commit; if that fails, delete the photo files whose rows were never saved."""
    try:
        uow.commit()
    except BaseException:
        if proofs is not None:
            discard(services, proofs.keys)
        raise


def mark_arrived(
    services: Services,
    driver_id: int,
    stop_id: int,
    *,
    idempotency: Idempotency | None = None,
) -> StopOutcome:
    """Record that the driver has reached a stop (recipients see 'arriving')."""
    with services.uow() as uow:
        stop = _own_stop(uow, driver_id, stop_id)
        now = services.clock.now()
        _require_open(stop, "marked arrived")
        stop.arrive(at=now)
        changed = []
        for d in uow.repo.deliveries_at_stop(stop_id):
            if d.status in EN_ROUTE:
                d.mark_arrived(at=now, driver_id=driver_id, stop_id=stop_id)
                notifications.queue_message(
                    services, uow, d, MessageKind.ARRIVED, occasion=attempt_occasion(d.attempts + 1)
                )
                changed.append(d.tracking_number)
        outcome = StopOutcome(
            stop_id=stop_id,
            stop_status=stop.status.value,
            parcels=len(changed),
            tracking_numbers=changed,
            open_parcels=len(changed),
        )
        _keep_answer(uow, idempotency, outcome, now)
        uow.commit()
    return outcome


def _chosen(parcels: list[m.Delivery], tracking_numbers: Sequence[str] | None) -> list[m.Delivery]:
    """Return the stop's open parcels the driver names (all of them when none are named)."""
    open_ = [d for d in parcels if d.status in EN_ROUTE]
    if tracking_numbers is None:
        return open_
    wanted = list(dict.fromkeys(t.strip() for t in tracking_numbers if t.strip()))
    if not wanted:
        raise InvalidInput("deliveries names no parcel: leave it out to hand over all of them.")
    by_number = {d.tracking_number: d for d in parcels}
    unknown = [t for t in wanted if t not in by_number]
    if unknown:
        raise InvalidInput("Not at this stop: " + ", ".join(unknown) + ".")
    closed = [t for t in wanted if by_number[t].status not in EN_ROUTE]
    if closed:
        raise InvalidTransition("Already dealt with: " + ", ".join(closed) + ".")
    return [by_number[t] for t in wanted]


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
    tracking_numbers: Sequence[str] | None = None,
    received_by: str = "",
    strict: bool = False,
    idempotency: Idempotency | None = None,
) -> StopOutcome:
    """Record the hand-over of the stop's open parcels (or the ``tracking_numbers`` among them).

    ``photos`` are checked and stored in the same unit of work: a refused one (InvalidInput)
    changes nothing, and a failed commit deletes the files again. A photo is required as
    PROOF_PHOTO_REQUIRED says. The stop stays open while parcels are left at it.
    ``strict`` refuses a stop already closed (StopClosed) instead of treating the repeat as
    done (the services' callers rely on the latter).
    """
    if received_by:
        note = f"Received by {received_by}" + (f"; {note}" if note else "")
    proofs: StoredProofs | None = None
    with services.uow() as uow:
        stop = _own_stop(uow, driver_id, stop_id)
        now = services.clock.now()
        if strict or tracking_numbers is not None:
            _require_open(stop, "marked done")
        elif stop.status is m.StopStatus.FAILED:
            stop.complete(at=now)  # refuses: a failed stop is not done by a repeated tap
        at_stop = uow.repo.deliveries_at_stop(stop_id)
        chosen = _chosen(at_stop, tracking_numbers)
        rule = services.settings.proof_photo_required
        if (
            not photos
            and chosen
            and photo_required(rule, [str(d.option) for d in chosen], bool(received_by))
        ):
            raise InvalidInput(_photo_needed(rule))
        if photos and chosen:
            proofs = store_proof_photos(
                services, uow, chosen, photos, taken_at, lat, lng, stop=stop, driver_id=driver_id
            )
        try:
            for d in chosen:
                d.mark_delivered(at=now, driver_id=driver_id, note=note)
                if d.status is DeliveryStatus.AT_LOCKER:
                    # A door, a pickup code and the locker_ready text (the rating waits
                    # until it is collected); a full locker refuses the whole action.
                    lockers.deposit_at_locker(services, uow, d, at=now)
                else:
                    _tell_delivered(services, uow, d, with_photo=proofs is not None)
            _close_stop_if_done(uow, stop, at_stop, now, delivering=True)
            outcome = StopOutcome(
                stop_id=stop_id,
                stop_status=stop.status.value,
                parcels=len(chosen),
                tracking_numbers=[d.tracking_number for d in chosen],
                photos=len(photos) if chosen else 0,
                open_parcels=sum(1 for d in at_stop if d.status in EN_ROUTE),
            )
            _keep_answer(uow, idempotency, outcome, now)
        except BaseException:
            if proofs is not None:
                discard(services, proofs.keys)
            raise
        _commit_or_discard(services, uow, proofs)
    if not stop.is_open:
        # Those recipients are served: stop sending them the driver's position.
        services.live.forget_rooms([driver_id])
    return outcome


def _tell_delivered(
    services: Services, uow: UnitOfWork, d: m.Delivery, *, with_photo: bool
) -> None:
    """Queue the delivered text (with the proof link when there is a photo), then the rating."""
    if with_photo:
        link = services.tracking_url(d.tracking_token) + "#proof"
        notifications.queue_message(
            services, uow, d, MessageKind.DELIVERED_WITH_PROOF, values={"proof_link": link}
        )
    else:
        notifications.queue_message(services, uow, d, MessageKind.DELIVERED)
    # In the recipient's hands: ask how it went (a locker parcel is asked when collected).
    notifications.queue_rating_request(services, uow, d)


def _photo_needed(rule: str) -> str:
    if rule == "always":
        return "A photo of the hand-over is required: take one and send it with the parcel."
    return (
        "A photo is required when nobody takes the parcel (safe place, car boot): take one, "
        "or say who received it."
    )


def mark_failed(
    services: Services,
    driver_id: int,
    stop_id: int,
    reason: str,
    *,
    photos: Sequence[PhotoUpload] = (),
    taken_at: datetime | None = None,
    lat: float | None = None,
    lng: float | None = None,
    strict: bool = False,
    idempotency: Idempotency | None = None,
) -> StopOutcome:
    """Record a failed attempt for the stop's open parcels with the driver's reason.

    An optional photo (the closed gate, the damaged box) is stored for support. The rest of
    the route is re-planned. ``strict`` refuses a stop already closed (StopClosed) instead of
    ignoring the repeat.
    """
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Say why the delivery failed (e.g. 'nobody home').")
    proofs: StoredProofs | None = None
    with services.uow() as uow:
        stop = _own_stop(uow, driver_id, stop_id)
        now = services.clock.now()
        if strict:
            _require_open(stop, "marked failed")
        elif stop.status is m.StopStatus.DONE:
            stop.fail(at=now)  # refuses: a done stop cannot fail afterwards
        at_stop = uow.repo.deliveries_at_stop(stop_id)
        chosen = [d for d in at_stop if d.status in EN_ROUTE]
        if photos and chosen:
            proofs = store_proof_photos(
                services,
                uow,
                chosen,
                photos,
                taken_at,
                lat,
                lng,
                stop=stop,
                driver_id=driver_id,
                failed_attempt=True,
            )
        try:
            for d in chosen:
                d.mark_failed(at=now, driver_id=driver_id, reason=reason[:200])
                notifications.queue_message(
                    services,
                    uow,
                    d,
                    MessageKind.FAILED_ATTEMPT,
                    occasion=attempt_occasion(d.attempts),
                )
            if stop.is_open:
                _close_stop_if_done(uow, stop, at_stop, now, delivering=False)
            outcome = StopOutcome(
                stop_id=stop_id,
                stop_status=stop.status.value,
                parcels=len(chosen),
                tracking_numbers=[d.tracking_number for d in chosen],
                photos=len(photos) if chosen else 0,
            )
            _keep_answer(uow, idempotency, outcome, now)
        except BaseException:
            if proofs is not None:
                discard(services, proofs.keys)
            raise
        route_id = stop.route_id
        _commit_or_discard(services, uow, proofs)
    services.live.forget_rooms([driver_id])
    # The failed stop frees time: the rest of the route gets new, honest ETAs.
    if route_id is not None and chosen:
        request_reoptimization(services, route_id, f"attempt failed at a previous stop ({reason})")
    return outcome
