"""Send a parcel to a parcel locker or pickup point instead, and undo it until the cut-off.

The use cases behind the tracking page's locker section and the ``LOCKER`` SMS keyword:

- ``nearby`` / ``locker_section``: the depot's lockers nearest the parcel first, with their
  hours and live free compartments of the parcel's size;
- ``preview_locker``: "In locker Kottbusser Tor by 14:30", from the planning pipeline's dry
  run (the pure-Python repair; OR-Tools never runs in a request), commits nothing;
- ``choose_locker``: reserves a compartment with one conditional UPDATE (never overbooked,
  also under concurrent requests) and, in the same transaction, makes the parcel a locker
  parcel on the right stop, records the timeline event and queues the ``change_confirmed``
  text; after the commit the route is re-planned (coalesced);
- ``undo_locker``: back to the door, the compartment freed, same transaction shape.

Which stop the parcel ends up on: a route that already goes to the chosen locker takes the
parcel on that stop (the driver loads a locker once, as the day's planning groups them);
otherwise a parcel alone at its stop moves the stop, and one sharing a stop gets a new one.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from ..domain import locker_pickup as pickup_rules
from ..domain import lockers as rules
from ..domain import model as m
from ..domain import planning
from ..domain.errors import (
    ConcurrentUpdate,
    Forbidden,
    InvalidInput,
    InvalidTransition,
    NotFound,
    Unauthorized,
)
from ..domain.events import Actor, TimelineEntry
from ..domain.policy import ChangeWindow, change_window
from ..domain.routing import Point
from ..domain.sms import MessageKind, gsm_safe
from ..domain.status import DeliveryStatus
from . import Services, changes, notifications
from .routing import preview_replan
from .unit_of_work import UnitOfWork

OFFERED = 5  # lockers listed on the page
RETURN_JOB = "return_uncollected"
RETURN_BATCH = 200  # parcels looked at per page of the return job
LOCKER_KEY_MIN = 32  # characters; keys are 43 (token_urlsafe(32))
# A code stays with its parcel this long after it left the locker, so a late repeat of the
# operator's report finds that parcel again, never a new one under the same code.
CODE_REUSE_AFTER = timedelta(days=30)

log = logging.getLogger("lastmile.lockers")


class LockerFull(InvalidTransition):
    """Raise when the chosen locker has no free compartment for the parcel any more."""

    def __init__(self, name: str, alternatives: list[rules.NearbyLocker]) -> None:
        room = [a for a in alternatives if a.free > 0]
        if room:
            names = ", ".join(f"{a.name} ({a.distance_text})" for a in room[:3])
            hint = f" These still have room: {names}."
        else:
            hint = " No other locker near you has room right now."
        super().__init__(f"Sorry, {name} is full for a parcel of this size.{hint}")
        self.alternatives = room


@dataclass(frozen=True)
class LockerSection:
    """What the page's locker section shows for one parcel."""

    delivery_id: int
    version: int
    size: str
    options: list[rules.NearbyLocker]
    window: ChangeWindow  # for choosing a locker (another one, when it already goes to one)
    current: rules.NearbyLocker | None  # the locker it goes to now, if any
    can_undo: bool
    too_big: bool  # no locker of the depot has a compartment this big
    shown: bool  # False once the parcel's journey is over (delivered, in the locker, ...)


@dataclass(frozen=True)
class LockerPreview:
    """What choosing one locker would do, before anything is saved."""

    locker: rules.NearbyLocker
    by: datetime | None  # when the parcel is expected in the locker (dry run or promise)
    promised_by: datetime | None  # the parcel's promised window end
    replanned: bool  # ``by`` comes from a dry run of the parcel's route
    late: bool  # the dry run could not have it there by the promised time


@dataclass(frozen=True)
class LockerChoice:
    """The saved outcome of choosing (or undoing) a locker."""

    locker_name: str
    compartment: str | None
    by: datetime | None


# ---------------------------------------------------------------- reads


def nearby(services: Services, delivery_id: int, limit: int = 3) -> list[rules.NearbyLocker]:
    """Return up to ``limit`` lockers near the parcel with room for it now, nearest first."""
    with services.uow() as uow:
        d = uow.repo.get(m.Delivery, delivery_id)
        if d is None:
            raise NotFound("There is no such parcel.")
        return [o for o in _options(services, uow, d) if o.free > 0][:limit]


def locker_section(services: Services, token: str) -> LockerSection:
    """Return the locker section of the tracking page behind ``token``."""
    with services.uow() as uow:
        opened = changes.open_change(services, uow, token)
        d = opened.delivery
        options = _options(services, uow, d)
        window = _window(services, uow, d, opened.window)
        current = None
        if d.option in m.LOCKER_OPTIONS and d.locker_id is not None:
            current = next((o for o in options if o.locker_id == d.locker_id), None)
            if current is None:
                locker = uow.repo.get(m.Locker, d.locker_id)
                current = _offer(services, uow, d, locker) if locker else None
        depot_lockers = uow.repo.lockers_of(d.depot_id)
        return LockerSection(
            delivery_id=d.id,  # type: ignore[arg-type]
            version=d.version,
            size=str(d.parcel_size),
            options=[o for o in options if o.locker_id != d.locker_id][:OFFERED],
            window=window,
            current=current,
            can_undo=current is not None and window.open and _undo_status(uow, d) is not None,
            too_big=bool(depot_lockers)
            and not any(rules.can_ever_take(lk, d.parcel_size) for lk in depot_lockers),
            shown=rules.offers_lockers(d.status),
        )


def preview_locker(services: Services, token: str, locker_id: int) -> LockerPreview:
    """Return what sending the parcel to ``locker_id`` would do; commit nothing.

    On a route: the dry run of that route with the parcel's stop changed (moved to the
    locker, joined to the route's stop there, or a new stop), and its arrival is the "by".
    On no route yet: the locker and the promised time, without a re-plan.
    """
    with services.uow() as uow:
        opened = changes.open_change(services, uow, token)
        d = opened.delivery
        _require_open(_window(services, uow, d, opened.window))
        locker = _locker_for(uow, d, locker_id)
        offer = _offer(services, uow, d, locker)
        plan = _stop_plan(uow, d, locker)
    promised = _promise(services, d)
    if plan is None:
        return LockerPreview(offer, promised, promised, replanned=False, late=False)
    route_id, change, watched = plan
    outcome = preview_replan(services, [route_id], change)
    where = outcome.stop(watched)
    if where is None:  # the route closed meanwhile: say what was promised
        return LockerPreview(offer, promised, promised, replanned=False, late=False)
    by = where.eta[1]
    late = where.dropped or (promised is not None and where.arrival > promised)
    return LockerPreview(offer, by, promised, replanned=True, late=late)


# ---------------------------------------------------------------- changes


def choose_locker(
    services: Services,
    token: str,
    locker_id: int,
    version: int | None = None,
    *,
    form_parcel: str | None = None,
    actor: Actor = Actor.CUSTOMER,
    actor_id: str | None = None,
) -> LockerChoice:
    """Send the parcel behind ``token`` to ``locker_id``: reserve, re-stop, record, text.

    ``version`` is the parcel version the form showed (None from SMS), ``form_parcel`` the
    tracking number it was rendered for (a form of one parcel posted to another's link is
    refused). A full locker raises
    LockerFull naming the lockers that still have room; choosing another locker frees the
    first one's compartment in the same transaction.
    """
    now = services.clock.now()
    with services.uow() as uow:
        opened = changes.open_change(services, uow, token, version)
        d = opened.delivery
        assert d.id is not None
        _require_same_parcel(d, form_parcel)
        _require_open(_window(services, uow, d, opened.window))
        locker = _locker_for(uow, d, locker_id)
        if d.option in m.LOCKER_OPTIONS and d.locker_id == locker.id:
            raise InvalidTransition(f"Your parcel already goes to {locker.name}.")
        if not rules.can_ever_take(locker, d.parcel_size):
            raise InvalidInput(f"Your parcel is too big for the compartments of {locker.name}.")
        before = _undo_status(uow, d)
        uow.repo.release_compartment(d.id)  # a second choice gives the first door back
        compartment = uow.repo.reserve_compartment(locker.id, d.id, d.parcel_size, now)  # type: ignore[arg-type]
        if compartment is None:
            alternatives = [o for o in _options(services, uow, d) if o.locker_id != locker.id]
            raise LockerFull(locker.name, alternatives)  # the rollback keeps the first door
        status = rules.status_after_choice(before or d.status)
        d.send_to_locker(
            locker,
            status=status,
            compartment=compartment.label,
            pickup_code=rules.new_pickup_code(),
            at=now,
            actor=actor,
            actor_id=actor_id,
        )
        _move_to_locker(uow, d, locker)
        by = _promise(services, d)
        changes.confirm_change(
            services, uow, d, f"your parcel goes to {locker.name}", _by_text(services, by)
        )
        uow.commit()
        result = LockerChoice(locker.name, compartment.label, by)
    changes.replan_after(services, opened.route_id, f"parcel sent to {locker.name}")
    return result


def undo_locker(
    services: Services, token: str, version: int | None = None, *, form_parcel: str | None = None
) -> LockerChoice:
    """Take back the locker choice until the cut-off: to the door, the compartment freed."""
    now = services.clock.now()
    with services.uow() as uow:
        opened = changes.open_change(services, uow, token, version)
        d = opened.delivery
        assert d.id is not None
        _require_same_parcel(d, form_parcel)
        if d.option not in m.LOCKER_OPTIONS or d.locker_id is None:
            raise InvalidTransition("Your parcel is not going to a locker: nothing to undo.")
        _require_open(_window(services, uow, d, opened.window))
        back = _undo_status(uow, d)
        if back is None:
            raise InvalidTransition(
                "This parcel cannot go back to your door from here: please pick a new slot."
            )
        locker = uow.repo.get(m.Locker, d.locker_id)
        assert locker is not None
        uow.repo.release_compartment(d.id)
        d.back_to_door(locker, status=back, at=now, actor=Actor.CUSTOMER)
        _move_to_door(uow, d)
        changes.confirm_change(
            services,
            uow,
            d,
            "your parcel comes to your door again",
            _window_text(services, d.window_start, d.window_end),
        )
        uow.commit()
        result = LockerChoice(locker.name, None, d.window_end)
    changes.replan_after(services, opened.route_id, "locker choice undone")
    return result


# ---------------------------------------------------------------- helpers


def _options(services: Services, uow: UnitOfWork, d: m.Delivery) -> list[rules.NearbyLocker]:
    return rules.nearby(
        uow.repo.lockers_of(d.depot_id),
        Point(d.lat, d.lng),
        d.parcel_size,
        _local_now(services, uow, d),
        d.depot_id,
    )


def _offer(
    services: Services, uow: UnitOfWork, d: m.Delivery, locker: m.Locker
) -> rules.NearbyLocker:
    found = rules.nearby(
        [locker], Point(d.lat, d.lng), d.parcel_size, _local_now(services, uow, d), d.depot_id
    )
    if not found:
        raise InvalidInput(f"Your parcel is too big for the compartments of {locker.name}.")
    return found[0]


def _local_now(services: Services, uow: UnitOfWork, d: m.Delivery) -> datetime:
    depot = uow.repo.get(m.Depot, d.depot_id)
    zone = depot.timezone if depot is not None else services.settings.timezone
    return services.clock.now().astimezone(ZoneInfo(zone))


def _locker_for(uow: UnitOfWork, d: m.Delivery, locker_id: int) -> m.Locker:
    """Return the locker the form named, if this parcel may go there at all."""
    locker = uow.repo.get(m.Locker, locker_id)
    if locker is None or not locker.active or locker.depot_id != d.depot_id:
        # Same words for unknown, closed and other depots' lockers: nothing to probe.
        raise InvalidInput("That locker is not available for your parcel. Please pick one below.")
    return locker


def _require_same_parcel(d: m.Delivery, form_parcel: str | None) -> None:
    if form_parcel is not None and form_parcel != d.tracking_number:
        raise InvalidInput(
            "This form was for another parcel: nothing was changed. Please use the page of "
            "the parcel you want to change."
        )


def _require_open(window: ChangeWindow) -> None:
    if window.closed:
        raise InvalidTransition(window.reason or "It is too late to change this delivery.")


def _status_before_redirect(uow: UnitOfWork, d: m.Delivery) -> DeliveryStatus | None:
    """Return the status the parcel had before it was redirected to a locker, if it was."""
    for entry in reversed(uow.repo.timeline(d.id)):  # type: ignore[arg-type]
        if entry.kind == "DeliveryStatusChanged" and entry.data.get("new") == str(
            DeliveryStatus.REDIRECTED_TO_LOCKER
        ):
            return DeliveryStatus(entry.data["old"])
    return None


def _undo_status(uow: UnitOfWork, d: m.Delivery) -> DeliveryStatus | None:
    """Return the status an undo restores (None: no honest way back)."""
    if d.status is not DeliveryStatus.REDIRECTED_TO_LOCKER:
        return d.status
    return _status_before_redirect(uow, d)


def _window(
    services: Services, uow: UnitOfWork, d: m.Delivery, window: ChangeWindow
) -> ChangeWindow:
    """Return the cut-off for a locker change: a redirected parcel counts as it was before."""
    status = rules.changeable_as(d.status, _undo_status(uow, d))
    if status is d.status:
        return window
    stop = uow.repo.get(m.Stop, d.stop_id) if d.stop_id is not None else None
    route = uow.repo.get(m.Route, stop.route_id) if stop and stop.route_id is not None else None
    return change_window(
        services.settings.change_policy,
        status=status,
        now=services.clock.now(),
        stops_before=route.stops_before(stop) if route and stop else None,
        expected_arrival=(stop.expected_arrival or stop.planned_arrival) if stop else None,
    )


def _open_stop(uow: UnitOfWork, d: m.Delivery) -> tuple[m.Stop, m.Route] | None:
    stop = uow.repo.get(m.Stop, d.stop_id) if d.stop_id is not None else None
    if stop is None or not stop.is_open or stop.route_id is None:
        return None
    route = uow.repo.get(m.Route, stop.route_id)
    if route is None or route.status not in (m.RouteStatus.PLANNED, m.RouteStatus.IN_PROGRESS):
        return None
    return stop, route


def _locker_stop(route: m.Route, locker_id: int, but: m.Stop) -> m.Stop | None:
    return next(
        (
            s
            for s in route.ordered_stops()
            if s.is_open
            and s.kind is m.StopKind.LOCKER
            and s.locker_id == locker_id
            and s is not but
        ),
        None,
    )


def _stop_plan(
    uow: UnitOfWork, d: m.Delivery, locker: m.Locker
) -> tuple[int, planning.Change, int] | None:
    """Return the dry run's change for sending ``d`` to ``locker``: route, change, watched stop.

    Joining the route's stop at that locker is previewed as removing the parcel's own stop
    (when it leaves it empty) and watching the locker stop: the locker stop's window can
    only get earlier by the parcel's own promise, which the preview compares against.
    """
    placed = _open_stop(uow, d)
    if placed is None:
        return None
    stop, route = placed
    assert stop.id is not None and route.id is not None
    members = uow.repo.deliveries_at_stop(stop.id)
    target = _locker_stop(route, locker.id, stop)  # type: ignore[arg-type]
    move = rules.stop_move(
        on_open_stop=True, alone=len(members) <= 1, existing_target=target is not None
    )
    window = rules.locker_window(d.window_end)
    point = Point(locker.lat, locker.lng)
    if move is rules.StopMove.JOIN:
        assert target is not None and target.id is not None
        if len(members) <= 1:
            return route.id, planning.StopChange(stop_id=stop.id, remove=True), target.id
        at_target = uow.repo.deliveries_at_stop(target.id)
        windows = tuple(rules.locker_window(p.window_end) for p in at_target) + (window,)
        change: planning.Change = planning.StopChange(
            stop_id=target.id,
            windows=windows,
            service_s=m.stop_service_seconds(m.StopKind.LOCKER, len(windows)),
        )
        return route.id, change, target.id
    if move is rules.StopMove.RELOCATE:
        change = planning.StopChange(
            stop_id=stop.id,
            location=point,
            windows=(window,),
            service_s=m.stop_service_seconds(m.StopKind.LOCKER, 1),
        )
        return route.id, change, stop.id
    new = planning.OpenStop(
        id=-1,  # not saved yet: the dry run only needs to find it again
        kind=m.StopKind.LOCKER,
        location=point,
        windows=(window,),
        service_s=m.stop_service_seconds(m.StopKind.LOCKER, 1),
        size=m.SIZE_ORDER[d.parcel_size],
    )
    return route.id, planning.AddStop(route_id=route.id, stop=new), -1


def _move_to_locker(uow: UnitOfWork, d: m.Delivery, locker: m.Locker) -> None:
    """Put ``d`` on its route's stop at ``locker`` (see the module's doc for which)."""
    placed = _open_stop(uow, d)
    if placed is None:
        return  # on no route yet: the day's planning groups it with the locker's parcels
    stop, route = placed
    members = [p for p in uow.repo.deliveries_at_stop(stop.id) if p.id != d.id]  # type: ignore[arg-type]
    target = _locker_stop(route, locker.id, stop)  # type: ignore[arg-type]
    move = rules.stop_move(on_open_stop=True, alone=not members, existing_target=bool(target))
    if move is rules.StopMove.JOIN:
        assert target is not None
        d.stop_id = target.id
        target.resize(len(uow.repo.deliveries_at_stop(target.id)) + 1)  # type: ignore[arg-type]
        if not members:
            route.stops.remove(stop)  # empty now: the driver has nothing to do there
        else:
            stop.resize(len(members))
    elif move is rules.StopMove.RELOCATE:
        stop.move_to(
            kind=m.StopKind.LOCKER, lat=locker.lat, lng=locker.lng, locker_id=locker.id, parcels=1
        )
    else:
        stop.resize(len(members))
        d.stop_id = _new_stop(uow, route, stop, m.StopKind.LOCKER, locker).id


def _move_to_door(uow: UnitOfWork, d: m.Delivery) -> None:
    """Put ``d`` on a stop at its own door again (its locker stop moves back, or a new one)."""
    placed = _open_stop(uow, d)
    if placed is None:
        return
    stop, route = placed
    members = [p for p in uow.repo.deliveries_at_stop(stop.id) if p.id != d.id]  # type: ignore[arg-type]
    if not members:
        stop.move_to(kind=m.StopKind.ADDRESS, lat=d.lat, lng=d.lng, locker_id=None, parcels=1)
        return
    stop.resize(len(members))
    d.stop_id = _new_stop(uow, route, stop, m.StopKind.ADDRESS, None, Point(d.lat, d.lng)).id


def _new_stop(
    uow: UnitOfWork,
    route: m.Route,
    near: m.Stop,
    kind: m.StopKind,
    locker: m.Locker | None,
    point: Point | None = None,
) -> m.Stop:
    """Add a stop to ``route`` right after ``near``'s place in line; the re-plan orders it."""
    where = point or Point(locker.lat, locker.lng)  # type: ignore[union-attr]
    new = m.Stop(
        route_id=route.id,
        sequence=max(s.sequence for s in route.stops) + 1,
        kind=kind,
        lat=where.lat,
        lng=where.lng,
        service_seconds=m.stop_service_seconds(kind, 1),
        planned_arrival=near.planned_arrival,
        expected_arrival=near.expected_arrival,
        eta_earliest=near.eta_earliest,
        eta_latest=near.eta_latest,
        locker_id=locker.id if locker else None,
    )
    route.stops.append(new)
    uow.repo.flush()
    return new


def _promise(services: Services, d: m.Delivery) -> datetime | None:
    """Return the time the parcel is promised in the locker by.

    None for a past window (a failed attempt's): it promises nothing, the next round does.
    """
    end = d.window_end
    return end if end is not None and end > services.clock.now() else None


def _by_text(services: Services, at: datetime | None) -> str | None:
    if at is None:
        return None
    local = at.astimezone(ZoneInfo(services.settings.timezone))
    return f"in the locker by {local:%a %d %b}, {local:%H:%M}"


def _window_text(services: Services, start: datetime | None, end: datetime | None) -> str | None:
    if start is None or end is None:
        return None
    zone = ZoneInfo(services.settings.timezone)
    a, b = start.astimezone(zone), end.astimezone(zone)
    return f"{a:%a %d %b}, {a:%H:%M}–{b:%H:%M}"


# ---------------------------------------------------------------- after the driver (issue 12)
# The deposit (inside the driver's mark_delivered), what the recipient's page says, the
# operator's report of the collection, and the return of what nobody collected. The pickup
# code is shown only on the recipient's own page and in their text: never in an event, a
# socket payload or an answer to the operator.

WAITING, COLLECTED, RETURNED = "waiting", "collected", "returned"


class NoCompartment(InvalidTransition):
    """Raise when a locker has no compartment left for the parcel the driver is putting in."""

    def __init__(self, locker: m.Locker, size: m.ParcelSize) -> None:
        super().__init__(
            f"{locker.name} ({locker.code}) has no free compartment for a parcel of size "
            f"{size}: nothing was marked delivered. Mark this parcel failed and take it back."
        )


@dataclass(frozen=True)
class LockerPickup:
    """What the recipient's page says about their parcel in (or once in) a locker."""

    state: str  # WAITING, COLLECTED or RETURNED
    locker_name: str
    address: str
    hours: str
    compartment: str | None
    pickup_code: str | None  # only while it waits
    last_day: date | None  # the last local day to collect it
    collected_at: datetime | None = None
    returned_at: datetime | None = None

    @property
    def last_day_text(self) -> str:
        """Return the last day as the recipient reads it ("Tue 8 Dec")."""
        return pickup_rules.day_text(self.last_day) if self.last_day else ""


@dataclass(frozen=True)
class Collection:
    """The answer to the locker's operator: the parcel, its status, the door it left."""

    tracking_number: str
    status: str
    compartment: str | None
    collected_at: datetime | None


@dataclass(frozen=True)
class ReturnRun:
    """What one run of the return job did."""

    checked: int
    returned: int
    failed: int


def deposit_at_locker(
    services: Services, uow: UnitOfWork, delivery: m.Delivery, *, at: datetime
) -> None:
    """Put ``delivery``, just marked "ready for pickup", into its locker (caller's transaction).

    Occupies the compartment reserved for it, else the smallest free one that takes it (a
    parcel addressed to the locker from the start), with a conditional UPDATE: concurrent
    deposits never share a door. Makes sure it has a pickup code no other parcel waiting
    there has, records the deposit and queues the ``locker_ready`` text. No room raises
    NoCompartment (409) and the caller's whole transaction is refused: the driver fails
    that parcel instead.
    """
    d = delivery
    assert d.id is not None
    locker = uow.repo.get(m.Locker, d.locker_id) if d.locker_id is not None else None
    if locker is None or locker.id is None:
        raise InvalidTransition(f"Parcel {d.tracking_number} names no locker to be put into.")
    compartment = uow.repo.occupy_compartment(locker.id, d.id, d.parcel_size)
    if compartment is None:
        raise NoCompartment(locker, d.parcel_size)
    code = d.pickup_code
    since = at - CODE_REUSE_AFTER
    if (
        code is None
        or not pickup_rules.is_pickup_code(code)
        or uow.repo.pickup_code_in_use(locker.id, code, d.id, since)
    ):
        code = _fresh_code(uow, locker.id, d.id, since)
    last = pickup_rules.last_day(at, services.settings.locker_hold_days, _zone(services, uow, d))
    d.put_in_locker(
        locker,
        compartment=compartment.label,
        pickup_code=code,
        last_day=last,
        at=at,
        actor_id=_driver_of(uow, d),
    )
    notifications.queue_message(
        services,
        uow,
        d,
        MessageKind.LOCKER_READY,
        values={
            "locker": gsm_safe(locker.name, 40) or locker.code,
            "address": gsm_safe(locker.address, 60) or locker.postcode,
            "code": code,
            "deadline": pickup_rules.day_text(last),
        },
    )


def pickup_view(services: Services, uow: UnitOfWork, d: m.Delivery) -> LockerPickup | None:
    """Return the pickup section of the page of ``d`` (opened with its own tracking token).

    None unless the parcel is, or was, in a locker.
    """
    if d.locker_id is None or d.status not in (
        DeliveryStatus.AT_LOCKER,
        DeliveryStatus.COLLECTED,
        DeliveryStatus.RETURNED,
    ):
        return None
    locker = uow.repo.get(m.Locker, d.locker_id)
    if locker is None:
        return None
    timeline = uow.repo.timeline(d.id)  # type: ignore[arg-type]
    deposited = _last(timeline, "ParcelDeposited")
    told = deposited.data.get("compartment") if deposited else None
    view = LockerPickup(
        state=WAITING,
        locker_name=locker.name,
        address=locker.address,
        hours=rules.hours_text(locker.opening_hours),
        compartment=told,
        pickup_code=None,
        last_day=None,
    )
    if d.status is DeliveryStatus.COLLECTED:
        collected = _last(timeline, "ParcelCollected")
        at = collected.occurred_at if collected else d.updated_at
        return replace(view, state=COLLECTED, collected_at=at)
    if d.status is DeliveryStatus.RETURNED:
        returned = _last(timeline, "ParcelReturned")
        if returned is None:
            return None  # sent back for another reason, never waiting in the locker
        last = date.fromisoformat(returned.data["last_day"])
        return replace(view, state=RETURNED, last_day=last, returned_at=returned.occurred_at)
    put_in = _put_in_at(timeline) or d.updated_at or d.created_at
    hold = services.settings.locker_hold_days
    return replace(
        view,
        pickup_code=d.pickup_code,
        compartment=told or _compartment_label(uow, d),
        last_day=pickup_rules.last_day(put_in, hold, _zone(services, uow, d)),
    )


def authenticate_locker(services: Services, key: str | None) -> int:
    """Return the id of the active locker whose API key this is, or raise Unauthorized."""
    refused = "A valid locker API key is required (Authorization: Bearer <key>)."
    if not key or not LOCKER_KEY_MIN <= len(key) <= 200:
        raise Unauthorized(refused)
    with services.uow() as uow:
        locker = uow.repo.locker_by_key_hash(m.hash_api_token(key))
        if locker is None or locker.id is None:
            raise Unauthorized(refused)
        return locker.id


def collect_parcel(
    services: Services,
    locker_id: int,
    locker_code: str,
    *,
    tracking_number: str | None = None,
    pickup_code: str | None = None,
) -> Collection:
    """Record that a parcel was taken out of locker ``locker_code``, named one of two ways.

    ``locker_id`` is the locker whose key the operator used: another locker's is Forbidden.
    In one transaction: collected, its compartment freed, the timeline line, and the
    ``rating_request`` text queued. A repeat answers the same; a parcel already returned to
    the sender is a conflict (409); one that was never put into that locker NotFound.
    """
    ref = _parcel_ref(tracking_number, pickup_code)
    try:
        return _collect(services, locker_id, locker_code, ref)
    except ConcurrentUpdate:
        # The return job or a second report changed the parcel first: answer as it is now.
        return _collect(services, locker_id, locker_code, ref)


def issue_locker_key(services: Services, locker_code: str) -> str:
    """Give locker ``locker_code`` a new API key and return it (only its hash is stored).

    The previous key, if any, stops working at once.
    """
    key = secrets.token_urlsafe(32)
    with services.uow() as uow:
        locker = uow.repo.locker_by_code(locker_code.strip())
        if locker is None:
            raise NotFound(f"There is no locker with the code {locker_code.strip()!r}.")
        locker.api_key_hash = m.hash_api_token(key)
        uow.commit()
    return key


def return_uncollected(services: Services) -> ReturnRun:
    """Send back every parcel left in a locker past its last day, each in its own transaction.

    Pages through the candidates by id, so the run is bounded however many there are; one
    that fails (a broken row, a collection racing the job) is logged and counted, and the
    rest are still returned. Running again changes nothing more.
    """
    now = services.clock.now()
    hold = services.settings.locker_hold_days
    # Every deadline lies at least ``hold`` days after the deposit: the query's first cut.
    put_in_before = now - timedelta(days=hold)
    checked = returned = failed = 0
    after = 0
    while True:
        with services.uow() as uow:
            page = uow.repo.waiting_in_lockers(put_in_before, after, RETURN_BATCH)
        for delivery_id, put_in in page:
            checked += 1
            try:
                returned += _return_one(services, delivery_id, put_in, now)
            except ConcurrentUpdate:
                continue  # collected (or changed) meanwhile: the next run looks again
            except Exception:  # one bad row must not keep the others in their lockers
                failed += 1
                log.exception("could not return parcel %s from its locker", delivery_id)
        if len(page) < RETURN_BATCH:
            return ReturnRun(checked=checked, returned=returned, failed=failed)
        after = page[-1][0]


def _return_one(services: Services, delivery_id: int, put_in: datetime, now: datetime) -> int:
    """Return one parcel if it is still waiting and overdue; say how many were returned."""
    hold = services.settings.locker_hold_days
    with services.uow() as uow:
        d = uow.repo.get(m.Delivery, delivery_id)
        if d is None or d.status is not DeliveryStatus.AT_LOCKER:
            return 0  # collected meanwhile
        zone = _zone(services, uow, d)
        if not pickup_rules.is_overdue(put_in, hold, zone, now):
            return 0
        locker = uow.repo.get(m.Locker, d.locker_id) if d.locker_id is not None else None
        if locker is None:
            raise InvalidTransition(f"Parcel {d.tracking_number} is in no known locker.")
        compartment = uow.repo.empty_compartment(delivery_id)
        d.return_from_locker(
            locker,
            compartment=compartment,
            hold_days=hold,
            last_day=pickup_rules.last_day(put_in, hold, zone),
            at=now,
        )
        uow.commit()
        return 1


def _collect(
    services: Services, locker_id: int, locker_code: str, ref: tuple[str, str]
) -> Collection:
    what, value = ref
    now = services.clock.now()
    with services.uow() as uow:
        locker = uow.repo.get(m.Locker, locker_id)
        if locker is None or locker.code != locker_code:
            raise Forbidden(f"This key is not the key of locker {locker_code}.")
        d = uow.repo.locker_parcel(
            locker_id,
            tracking_number=value if what == "tracking_number" else None,
            pickup_code=value if what == "pickup_code" else None,
        )
        if d is None or d.id is None:
            words = "tracking number" if what == "tracking_number" else "pickup code"
            raise NotFound(f"No parcel with that {words} was put into {locker.code}.")
        if d.status is DeliveryStatus.RETURNED:
            raise InvalidTransition(
                f"Parcel {d.tracking_number} was not collected in time and went back to the "
                f"sender: it is no longer in {locker.code}."
            )
        if d.status is DeliveryStatus.COLLECTED:
            collected = _last(uow.repo.timeline(d.id), "ParcelCollected")
            return Collection(
                d.tracking_number,
                str(d.status),
                collected.data.get("compartment") if collected else None,
                collected.occurred_at if collected else d.updated_at,
            )
        compartment = uow.repo.empty_compartment(d.id)
        d.collect_from_locker(
            locker, compartment=compartment, at=now, actor_id=f"locker:{locker.code}"
        )
        notifications.queue_rating_request(services, uow, d)
        answer = Collection(d.tracking_number, str(d.status), compartment, now)
        uow.commit()
    return answer


def _parcel_ref(tracking_number: str | None, pickup_code: str | None) -> tuple[str, str]:
    """Return which way the operator named the parcel, and the value; refuse bad input."""
    tn = (tracking_number or "").strip()
    code = (pickup_code or "").strip()
    if bool(tn) == bool(code):
        raise InvalidInput("Send either tracking_number or pickup_code (one of them).")
    if tn:
        if len(tn) > 32:
            raise InvalidInput("tracking_number is at most 32 characters.")
        return "tracking_number", tn
    if not pickup_rules.is_pickup_code(code):
        raise InvalidInput("pickup_code is six digits.")
    return "pickup_code", code


def _fresh_code(uow: UnitOfWork, locker_id: int, delivery_id: int, since: datetime) -> str:
    """Return a pickup code no other parcel in the locker (or recently out of it) has."""
    code = rules.new_pickup_code()
    for _ in range(20):  # a million codes, a few hundred doors: a clash is rare
        if not uow.repo.pickup_code_in_use(locker_id, code, delivery_id, since):
            break
        code = rules.new_pickup_code()
    return code


def _zone(services: Services, uow: UnitOfWork, d: m.Delivery) -> str:
    depot = uow.repo.get(m.Depot, d.depot_id)
    return depot.timezone if depot is not None else services.settings.timezone


def _driver_of(uow: UnitOfWork, d: m.Delivery) -> str | None:
    stop = uow.repo.get(m.Stop, d.stop_id) if d.stop_id is not None else None
    route = uow.repo.get(m.Route, stop.route_id) if stop and stop.route_id is not None else None
    return str(route.driver_id) if route and route.driver_id is not None else None


def _last(timeline: list[TimelineEntry], kind: str) -> TimelineEntry | None:
    return next((e for e in reversed(timeline) if e.kind == kind), None)


def _put_in_at(timeline: list[TimelineEntry]) -> datetime | None:
    """Return when the parcel was last put in (the deposit, else the driver's hand-over)."""
    entry = _last(timeline, "ParcelDeposited") or _last(timeline, "ParcelDelivered")
    return entry.occurred_at if entry else None


def _compartment_label(uow: UnitOfWork, d: m.Delivery) -> str | None:
    compartment = uow.repo.compartment_of(d.id)  # type: ignore[arg-type]
    return compartment.label if compartment else None
