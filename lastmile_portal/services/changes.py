"""What every recipient change does around its own rule, written once.

A change from the tracking page (instructions, a locker, a slot) or from an SMS keyword:

1. ``open_change`` finds the parcel by its token, refuses a stale form (the page showed an
   older ``version``: another change or the driver got there first) with a 409 that says
   so, and works out the cut-off from the live plan (``domain/policy.change_window``);
2. the feature's own rule changes the delivery (a method of ``Delivery`` or its domain
   module) inside the caller's unit of work;
3. ``confirm_change`` queues the ``change_confirmed`` text in the same transaction;
4. after the commit, ``replan_after`` asks for the coalesced re-plan of the parcel's route,
   which gives every affected customer an honest new ETA, live.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..domain import model as m
from ..domain.errors import ConcurrentUpdate, NotFound
from ..domain.policy import ChangeWindow, change_window
from ..domain.sms import MessageKind
from . import Services, notifications
from .routing import request_reoptimization
from .unit_of_work import UnitOfWork


@dataclass(frozen=True)
class OpenChange:
    """A parcel about to change, and what the cut-off says about it now."""

    delivery: m.Delivery
    window: ChangeWindow
    route_id: int | None
    stops_before: int | None


def open_change(
    services: Services, uow: UnitOfWork, token: str, version: int | None = None
) -> OpenChange:
    """Return the parcel behind ``token`` with its change window; refuse a stale form.

    ``version`` is the delivery version the form was rendered with (None from SMS, which
    always acts on the current state).
    """
    d = uow.repo.delivery_by_token(token)
    if d is None:
        raise NotFound("This tracking link is not valid.")
    if version is not None and d.version != version:
        raise ConcurrentUpdate(
            "Your parcel changed since this page was opened (the driver moved on, or another "
            "change was saved). Here is how it stands now: please check and try again."
        )
    return live_window(services, uow, d)


def live_window(
    services: Services, uow: UnitOfWork, d: m.Delivery, *, override_cutoff: bool = False
) -> OpenChange:
    """Return ``d`` with its change window now (for the page's controls and countdown)."""
    stop = uow.repo.get(m.Stop, d.stop_id) if d.stop_id is not None else None
    if stop is not None and not stop.is_open:
        stop = None  # after a failed attempt the stop is history: its arrival closes nothing
    route = uow.repo.get(m.Route, stop.route_id) if stop and stop.route_id is not None else None
    stops_before = route.stops_before(stop) if route and stop else None
    expected = (stop.expected_arrival or stop.planned_arrival) if stop else None
    window = change_window(
        services.settings.change_policy,
        status=d.status,
        now=services.clock.now(),
        stops_before=stops_before,
        expected_arrival=expected,
        override_cutoff=override_cutoff,
    )
    return OpenChange(
        delivery=d,
        window=window,
        route_id=route.id if route else None,
        stops_before=stops_before,
    )


def confirm_change(
    services: Services, uow: UnitOfWork, d: m.Delivery, change: str, window: str | None = None
) -> None:
    """Queue the ``change_confirmed`` text ("Done: <change>…") in the caller's transaction.

    One text per saved version of the delivery, so a retried request texts once.
    """
    notifications.queue_message(
        services,
        uow,
        d,
        MessageKind.CHANGE_CONFIRMED,
        occasion=f"change:v{d.version}",
        values={"change": change, "window": window},
    )


def replan_after(services: Services, route_id: int | None, reason: str) -> None:
    """Ask for the re-plan of ``route_id`` once the change is committed (coalesced)."""
    if route_id is not None:
        request_reoptimization(services, route_id, reason)
