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

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from ..domain import lockers as rules
from ..domain import model as m
from ..domain import planning
from ..domain.errors import InvalidInput, InvalidTransition, NotFound
from ..domain.events import Actor
from ..domain.policy import ChangeWindow, change_window
from ..domain.routing import Point
from ..domain.status import DeliveryStatus
from . import Services, changes
from .routing import preview_replan
from .unit_of_work import UnitOfWork

OFFERED = 5  # lockers listed on the page


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
            actor=Actor.CUSTOMER,
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
