"""Move a parcel to another delivery slot: which slots really fit, a preview, the move.

The slots offered are the depot's from now on with a place left; on the day of the parcel's
current route each one is tried by a dry run of the planning pipeline
(``routing.preview_replan``: pure Python, commits nothing), and only the slots the plan can
keep are offered (``domain/rescheduling.offer``). A move claims the new slot's place with one
conditional UPDATE (never over capacity), gives the old one back, changes the delivery, records
the event and queues the ``change_confirmed`` text in one transaction; the re-plan of the route
is asked for after the commit (``changes.replan_after``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from ..domain import model as m
from ..domain import planning
from ..domain import rescheduling as rules
from ..domain.errors import InvalidInput, InvalidTransition, NotFound, RoutingError
from ..domain.events import Actor, CutoffOverridden
from ..domain.policy import ChangeWindow, reschedule_window
from ..domain.routing import Point
from ..domain.status import EN_ROUTE, DeliveryStatus
from . import Services, changes, notifications
from .routing import REPLANNABLE, preview_replans
from .unit_of_work import UnitOfWork

# How far ahead slots are offered: today and the next few days.
SLOT_DAYS = 4
# A what-if inside a request gets this long for the pure-Python repair.
PREVIEW_BUDGET_S = 0.05
# Statuses in which the parcel is not yet out with a driver: a slot later today can still
# be planned for it (a parcel back from a failed attempt waits for another day).
NOT_OUT = frozenset({DeliveryStatus.CREATED, DeliveryStatus.SCHEDULED, DeliveryStatus.RESCHEDULED})
LOCKER_OPTIONS = (m.DeliveryOption.LOCKER, m.DeliveryOption.PICKUP_POINT)


FULL = "That slot has just filled up: please pick another one."


class SlotFull(InvalidTransition):
    """The last place of a slot went to someone else (409: pick another)."""


@dataclass(frozen=True)
class RescheduleSummary:
    """What the tracking page says about moving the parcel, without any dry run."""

    version: int  # the delivery version the page's forms carry
    open: bool
    reason: str | None  # why moving is closed, in the recipient's words
    closes_at: datetime | None  # the cut-off from the live ETA: the page counts down to it
    failed: bool  # after a failed attempt the page opens these controls first
    moves_left: int
    en_route: bool  # the live ETA can close the window: the page's script watches it
    cutoff_minutes: int  # the policy, so the page's live countdown reads it like the server
    cutoff_stops: int


@dataclass(frozen=True)
class SlotsPage:
    """The slot page: the parcel now, whether it may move, and the slots that really fit."""

    token: str
    tracking_number: str
    status: str
    window_start: datetime | None
    window_end: datetime | None
    summary: RescheduleSummary
    offered: tuple[rules.OfferedSlot, ...]
    timezone: str  # the depot's


@dataclass(frozen=True)
class SlotPreview:
    """What moving to one slot would do: the new window and, on the route's day, the ETA."""

    slot: rules.OfferedSlot
    page: SlotsPage


@dataclass(frozen=True)
class SlotMoved:
    """A committed move."""

    delivery_id: int
    slot_id: int
    window_start: datetime
    window_end: datetime
    same_day: bool
    version: int


@dataclass(frozen=True)
class _Parcel:
    """What the dry runs need to know about the parcel, read once."""

    delivery_id: int
    token: str
    tracking_number: str
    status: DeliveryStatus
    window: tuple[datetime | None, datetime | None]
    slot_id: int | None
    stop_id: int | None
    route_id: int | None  # an open route the stop is still on (the dry runs' route)
    route_day: date | None
    summary: RescheduleSummary
    facts: tuple[rules.SlotFacts, ...]  # the depot's slots, not yet tried by a dry run
    timezone: str
    now: datetime  # when it was read: what "ahead" means for these slots


# ---------------------------------------------------------------- reads


def summary(
    services: Services, uow: UnitOfWork, d: m.Delivery, *, override_cutoff: bool = False
) -> RescheduleSummary:
    """Return whether ``d`` may move to another slot now and until when (cheap: no dry run)."""
    window = _window(services, uow, d, override_cutoff)
    policy = services.settings.change_policy
    return RescheduleSummary(
        version=d.version,
        open=window.open,
        reason=window.reason,
        closes_at=window.closes_at,
        failed=d.status is DeliveryStatus.FAILED,
        moves_left=max(0, policy.max_reschedules - d.reschedules),
        en_route=d.status in EN_ROUTE,
        cutoff_minutes=policy.cutoff_minutes,
        cutoff_stops=policy.cutoff_stops,
    )


def offered_slots(services: Services, token: str, *, override_cutoff: bool = False) -> SlotsPage:
    """Return the slots the parcel behind ``token`` may move to, each tried for real.

    On the day of its route each slot is a dry run of the pipeline; the greenest (least
    extra distance) is marked. Nothing is saved. ``override_cutoff``: as a supervisor
    overriding the cut-off would see them.
    """
    parcel = _load(services, token, override_cutoff=override_cutoff)
    return _page(parcel, _try_all(services, parcel))


def preview_slot(services: Services, token: str, slot_id: int) -> SlotPreview:
    """Return what moving to ``slot_id`` would do (new window, expected time); save nothing."""
    parcel = _load(services, token)
    _require_open(parcel.summary)
    facts = next((f for f in parcel.facts if f.slot_id == slot_id), None)
    if facts is None:
        raise InvalidInput("That slot is not one we offer for your parcel: please pick another.")
    _require_choosable(facts, parcel)
    (tried,) = _tried(services, parcel, [facts])
    offered = rules.offer([tried], now=parcel.now, current_slot_id=parcel.slot_id)
    if not offered:
        raise InvalidTransition("The driver's plan cannot keep that slot: please pick another.")
    # Alone in its list it would always be "the greenest": the page's full list says.
    return SlotPreview(slot=replace(offered[0], greenest=False), page=_page(parcel, (tried,)))


def sms_offer(services: Services, delivery_id: int) -> tuple[rules.OfferedSlot, ...]:
    """Return the first slots a text offers ("reply 1-3"), tried like the page's."""
    with services.uow() as uow:
        d = uow.repo.get(m.Delivery, delivery_id)
        if d is None:
            raise NotFound(f"There is no delivery {delivery_id}.")
        token = d.tracking_token
    page = offered_slots(services, token)
    _require_open(page.summary)
    return page.offered[: rules.SMS_CHOICES]


# ---------------------------------------------------------------- the move


def move_to_slot(
    services: Services,
    token: str,
    slot_id: int,
    version: int | None = None,
    *,
    actor: Actor = Actor.CUSTOMER,
    actor_id: str | None = None,
    override_reason: str | None = None,
) -> SlotMoved:
    """Move the parcel behind ``token`` to ``slot_id``, in one transaction; re-plan after.

    ``version`` is the delivery version the form showed (None from SMS): a stale form gets
    a 409 with the fresh state. The slot must still be offered: ahead, a place left, and on
    the route's day a dry run that keeps the promise. A parcel moved to another day leaves
    today's route in the same transaction, so no driver's list and no other recipient's ETA
    counts a stop that is not served today. ``override_reason`` (support's supervisors)
    lifts the cut-off, never the other rules, and goes on the timeline.
    """
    override = bool(override_reason and override_reason.strip())
    with services.uow() as uow:
        changes.open_change(services, uow, token, version)  # a stale form hears so first
    parcel = _load(services, token, override_cutoff=override)
    facts = next((f for f in parcel.facts if f.slot_id == slot_id), None)
    if facts is None:
        raise InvalidInput("That slot is not one we offer for your parcel: please pick another.")
    if parcel.summary.open:
        # The cheap refusals first: no dry run for a slot that cannot be chosen anyway.
        _require_choosable(facts, parcel)
    if parcel.summary.open and facts.on_route_day:
        # The dry run runs before the transaction writes anything (it reads on its own).
        (tried,) = _tried(services, parcel, [facts])
        if not tried.fits:
            raise InvalidTransition(
                "The driver's plan cannot keep that slot any more: please pick another."
            )
    now = services.clock.now()
    with services.uow() as uow:
        opened = changes.open_change(services, uow, token, version)
        d = opened.delivery
        _require_open(summary(services, uow, d, override_cutoff=override))
        slot = uow.repo.get(m.DeliverySlot, slot_id)
        if slot is None or slot.depot_id != d.depot_id:
            raise InvalidInput(
                "That slot is not one we offer for your parcel: please pick another."
            )
        if slot.id == d.slot_id:
            raise InvalidInput("Your parcel is already in that slot.")
        if not rules.is_ahead(slot.starts_at, now):
            raise InvalidInput("That slot has already begun: please pick a later one.")
        claimed = uow.repo.claim_slot_place(slot_id)
        if claimed is None:
            raise SlotFull(FULL)
        if d.slot_id is not None:
            uow.repo.release_slot_place(d.slot_id)
        same_day = parcel.route_day == claimed.service_date and parcel.route_id is not None
        if override and override_reason:
            d.record(
                CutoffOverridden(
                    occurred_at=now,
                    actor=actor,
                    actor_id=actor_id,
                    delivery_id=d.id,
                    change="moved to another slot",
                    reason=override_reason.strip()[:280],
                )
            )
        d.move_to_slot(claimed, same_day=same_day, at=now, actor=actor, actor_id=actor_id)
        if not same_day:
            _leave_route(uow, d)
        tz = ZoneInfo(parcel.timezone)
        new_window = (
            f"{claimed.starts_at.astimezone(tz):%a %-d %b} "
            f"{notifications.time_span(services, claimed.starts_at, claimed.ends_at)}"
        )
        changes.confirm_change(services, uow, d, "your delivery moved", new_window)
        uow.commit()
        moved = SlotMoved(
            delivery_id=d.id,  # type: ignore[arg-type]
            slot_id=slot_id,
            window_start=claimed.starts_at,
            window_end=claimed.ends_at,
            same_day=same_day,
            version=d.version,
        )
    why = (
        "support moved a parcel to another slot"
        if actor is Actor.SUPPORT
        else "a recipient moved their parcel to another slot"
    )
    changes.replan_after(services, parcel.route_id, why)
    return moved


def _leave_route(uow: UnitOfWork, d: m.Delivery) -> None:
    """Take the parcel off today's route: its door stop goes, a shared stop stays for the rest."""
    if d.stop_id is None:
        return
    stop = uow.repo.get(m.Stop, d.stop_id)
    d.stop_id = None
    uow.repo.flush()  # the delivery lets go of the stop before the stop goes
    if stop is None or not stop.is_open or stop.route_id is None or stop.id is None:
        return  # a closed stop (the failed attempt) is history: it stays on the route
    if uow.repo.deliveries_at_stop(stop.id):
        return
    route = uow.repo.get(m.Route, stop.route_id)
    if route is not None:
        route.stops.remove(stop)


# ---------------------------------------------------------------- helpers


def _window(
    services: Services, uow: UnitOfWork, d: m.Delivery, override_cutoff: bool = False
) -> ChangeWindow:
    """Return the cut-off narrowed by the reschedule count and the parcel's kind."""
    opened = changes.live_window(services, uow, d, override_cutoff=override_cutoff)
    window = reschedule_window(services.settings.change_policy, opened.window, d.reschedules)
    if window.open and d.option in LOCKER_OPTIONS:
        return ChangeWindow(
            open=False,
            reason="Your parcel goes to a locker, open all day: undo that choice to pick a slot.",
        )
    return window


def _require_choosable(facts: rules.SlotFacts, parcel: _Parcel) -> None:
    if facts.slot_id == parcel.slot_id:
        raise InvalidInput("Your parcel is already in that slot.")
    if not rules.is_ahead(facts.starts_at, parcel.now):
        raise InvalidInput("That slot has already begun: please pick a later one.")
    if facts.remaining <= 0:
        raise SlotFull(FULL)


def _require_open(summary: RescheduleSummary) -> None:
    if not summary.open:
        raise InvalidTransition(summary.reason or "Your parcel can no longer be moved.")


def _load(services: Services, token: str, *, override_cutoff: bool = False) -> _Parcel:
    """Read the parcel, its open route and the depot's slots ahead, in one short transaction."""
    now = services.clock.now()
    with services.uow() as uow:
        d = uow.repo.delivery_by_token(token)
        if d is None or d.id is None:
            raise NotFound("This tracking link is not valid.")
        depot = uow.repo.get(m.Depot, d.depot_id)
        if depot is None:
            raise NotFound("This tracking link is not valid.")
        tz = ZoneInfo(depot.timezone)
        stop = uow.repo.get(m.Stop, d.stop_id) if d.stop_id is not None else None
        route = uow.repo.get(m.Route, stop.route_id) if stop and stop.route_id else None
        on_route = route is not None and route.status in REPLANNABLE and stop is not None
        route_day = route.service_date if on_route and stop and stop.is_open and route else None
        today = now.astimezone(tz).date()
        # A parcel out with a driver (or back from a failed attempt) can only take a slot
        # later today through its own route's dry run. A parcel on no route can take one
        # only while today's plan is still to be made: once a van has left, nothing would
        # put it on a route today, and the page must not promise it.
        vans_out = any(
            r.status is not m.RouteStatus.PLANNED for r in uow.repo.routes_on(today, d.depot_id)
        )
        today_ok = route_day == today or (
            d.status in NOT_OUT and d.stop_id is None and not vans_out
        )
        slots = [
            s
            for s in uow.repo.slots_from(d.depot_id, today, SLOT_DAYS)
            if s.service_date != today or today_ok
        ]
        here = Point(d.lat, d.lng)
        home = Point(depot.lat, depot.lng)
        neighbours = _neighbours(uow, d, slots, route_day)
        facts = tuple(
            rules.SlotFacts(
                slot_id=s.id,  # type: ignore[arg-type]
                service_date=s.service_date,
                starts_at=s.starts_at,
                ends_at=s.ends_at,
                remaining=s.remaining,
                on_route_day=s.service_date == route_day,
                extra_m=None
                if s.service_date == route_day
                else rules.detour_m(here, home, neighbours.get(s.id, [])),  # type: ignore[arg-type]
            )
            for s in slots
        )
        return _Parcel(
            delivery_id=d.id,
            token=token,
            tracking_number=d.tracking_number,
            status=d.status,
            window=(d.window_start, d.window_end),
            slot_id=d.slot_id,
            stop_id=stop.id if stop else None,
            route_id=route.id if route and route_day else None,
            route_day=route_day,
            summary=summary(services, uow, d, override_cutoff=override_cutoff),
            facts=facts,
            timezone=depot.timezone,
            now=now,
        )


def _neighbours(
    uow: UnitOfWork, d: m.Delivery, slots: list[m.DeliverySlot], route_day: date | None
) -> dict[int, list[Point]]:
    """Return, per slot not on the route's day, where the other parcels booked in it go."""
    out: dict[int, list[Point]] = {}
    for day in sorted({s.service_date for s in slots if s.service_date != route_day}):
        for other in uow.repo.deliveries_on(d.depot_id, day):
            if other.slot_id is not None and other.id != d.id:
                out.setdefault(other.slot_id, []).append(Point(other.lat, other.lng))
    return out


def _try_all(services: Services, parcel: _Parcel) -> tuple[rules.SlotFacts, ...]:
    """Try every slot that could be offered; a closed window tries none."""
    if not parcel.summary.open:
        return ()
    now = parcel.now
    worth = [
        f
        for f in parcel.facts
        if f.remaining > 0 and rules.is_ahead(f.starts_at, now) and f.slot_id != parcel.slot_id
    ]
    return _tried(services, parcel, worth)


def _tried(
    services: Services, parcel: _Parcel, worth: list[rules.SlotFacts]
) -> tuple[rules.SlotFacts, ...]:
    """Return ``worth`` with the dry runs' answers for the slots on the route's day.

    They are dry runs of one day, loaded once: the plan as it is (the baseline for the
    extra distance) and one per slot with the stop's window moved.
    """
    on_day = [f for f in worth if f.on_route_day]
    if not on_day or parcel.route_id is None or parcel.stop_id is None:
        return tuple(worth)
    stop_id = parcel.stop_id
    changes: list[planning.Change | None] = [None]
    changes += [
        planning.StopChange(stop_id=stop_id, windows=((f.starts_at, f.ends_at),)) for f in on_day
    ]
    baseline, *tries = preview_replans(services, [parcel.route_id], changes, PREVIEW_BUDGET_S)
    base_m = baseline.total_distance_m if isinstance(baseline, planning.ReplanOutcome) else 0.0
    answers = {
        f.slot_id: _judge(f, outcome, stop_id, base_m)
        for f, outcome in zip(on_day, tries, strict=True)
    }
    return tuple(answers.get(f.slot_id, f) for f in worth)


def _judge(
    facts: rules.SlotFacts,
    outcome: planning.ReplanOutcome | RoutingError,
    stop_id: int,
    baseline: float,
) -> rules.SlotFacts:
    """Return ``facts`` with what the dry run of moving the stop into the slot says."""
    if isinstance(outcome, RoutingError):
        return replace(facts, fits=False)
    replanned = outcome.stop(stop_id)
    fits = replanned is not None and rules.fits(
        replanned.arrival, replanned.dropped, facts.starts_at, facts.ends_at
    )
    return replace(
        facts,
        fits=fits,
        expected=rules.expected_within(replanned.eta, facts.starts_at, facts.ends_at)
        if replanned is not None
        else None,
        extra_m=outcome.total_distance_m - baseline,
    )


def _page(parcel: _Parcel, tried: tuple[rules.SlotFacts, ...]) -> SlotsPage:
    return SlotsPage(
        token=parcel.token,
        tracking_number=parcel.tracking_number,
        status=str(parcel.status),
        window_start=parcel.window[0],
        window_end=parcel.window[1],
        summary=parcel.summary,
        offered=rules.offer(tried, now=parcel.now, current_slot_id=parcel.slot_id),
        timezone=parcel.timezone,
    )
