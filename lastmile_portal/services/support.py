"""Use cases for support staff: acting for the customer, through the customer's own services.

Every action here calls the same service a recipient's page (or the carrier's API, or the
driver's tools) calls, with the same rules, and records the staff member as the actor
(``Actor.SUPPORT``, ``actor_id`` = their staff id) so the timeline names them. Actions
only a supervisor may take (overriding the cut-off, revealing an access code, a driver's
new token) check the role here as well as in the view.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..domain import model as m
from ..domain.errors import Forbidden, InvalidInput, InvalidTransition, NotFound
from ..domain.events import (
    AccessCodeRevealed,
    Actor,
    DriverTokenIssued,
    ExceptionMarked,
    TrackingLinkResent,
)
from ..domain.sms import MessageKind
from ..domain.status import DeliveryStatus, can_transition
from ..domain.text import printable
from . import Services, drivers, instructions, intake, lockers, notifications, rescheduling
from .unit_of_work import UnitOfWork

NOT_FOUND = "No parcel with that tracking number."
MAX_NOTE = 280
MIN_REASON = 5


@dataclass(frozen=True)
class Staff:
    """The staff member acting: who the timeline names, and what they may do."""

    id: int
    name: str
    role: m.StaffRole

    @property
    def actor_id(self) -> str:
        """Return the timeline's actor id for this staff member."""
        return str(self.id)


def get_staff(services: Services, staff_id: int) -> m.StaffUser | None:
    """Return the active staff member with ``staff_id``, or None."""
    with services.uow() as uow:
        staff = uow.repo.get(m.StaffUser, staff_id)
        return staff if staff is not None and staff.active else None


def staff_names(services: Services, ids: set[int]) -> dict[int, str]:
    """Return the names of the staff members with ``ids`` (gone ones are left out)."""
    with services.uow() as uow:
        found = (uow.repo.get(m.StaffUser, i) for i in sorted(ids))
        return {s.id: s.name for s in found if s is not None and s.id is not None}


def _require(staff: Staff, role: m.StaffRole, what: str) -> None:
    if not staff.role.at_least(role):
        raise Forbidden(f"Only a {role.value} may {what}.")


def _delivery(uow: UnitOfWork, tracking_number: str) -> m.Delivery:
    d = uow.repo.delivery_by_tracking_number(tracking_number.strip().upper()[:32])
    if d is None or d.id is None:
        raise NotFound(NOT_FOUND)
    return d


def token_of(services: Services, tracking_number: str) -> str:
    """Return the tracking token of a parcel (the customer's services act by it)."""
    with services.uow() as uow:
        return _delivery(uow, tracking_number).tracking_token


# ---------------------------------------------------------------- acting for the customer


def move_to_slot(
    services: Services,
    staff: Staff,
    tracking_number: str,
    slot_id: int,
    version: int | None,
    *,
    override_reason: str = "",
) -> rescheduling.SlotMoved:
    """Move the parcel to ``slot_id`` as its recipient could.

    A supervisor may override the cut-off, and must then say why (the reason goes on the
    timeline).
    """
    reason = printable(override_reason)
    if reason:
        _require(staff, m.StaffRole.SUPERVISOR, "override the cut-off")
        if len(reason) < MIN_REASON:
            raise InvalidInput("Say why the cut-off is overridden (a few words at least).")
        reason = reason[:MAX_NOTE]
    return rescheduling.move_to_slot(
        services,
        token_of(services, tracking_number),
        slot_id,
        version,
        actor=Actor.SUPPORT,
        actor_id=staff.actor_id,
        override_reason=reason or None,
    )


def send_to_locker(
    services: Services, staff: Staff, tracking_number: str, locker_id: int, version: int | None
) -> lockers.LockerChoice:
    """Send the parcel to a locker as its recipient could (same cut-off, same room check)."""
    return lockers.choose_locker(
        services,
        token_of(services, tracking_number),
        locker_id,
        version,
        form_parcel=tracking_number,
        actor=Actor.SUPPORT,
        actor_id=staff.actor_id,
    )


def edit_instructions(
    services: Services,
    staff: Staff,
    tracking_number: str,
    version: int | None,
    *,
    place: str,
    note: str,
    neighbour_name: str = "",
    neighbour_number: str = "",
) -> str:
    """Change the hand-over instructions as the recipient could (the saved code is kept)."""
    return instructions.set_instructions(
        services,
        token_of(services, tracking_number),
        version,
        place=place,
        note=note,
        neighbour_name=neighbour_name,
        neighbour_number=neighbour_number,
        actor=Actor.SUPPORT,
        actor_id=staff.actor_id,
    )


def resend_tracking_link(services: Services, staff: Staff, tracking_number: str) -> bool:
    """Text the recipient their tracking link again; return whether a text was queued.

    One per minute at most (a double click texts once); opted-out or muted recipients get
    nothing, and the outbox says why.
    """
    now = services.clock.now()
    with services.uow() as uow:
        d = _delivery(uow, tracking_number)
        queued = notifications.queue_message(
            services, uow, d, MessageKind.TRACKING_LINK, occasion=f"support:{now:%Y%m%dT%H%M}"
        )
        if queued:
            d.record(
                TrackingLinkResent(
                    occurred_at=now,
                    actor=Actor.SUPPORT,
                    actor_id=staff.actor_id,
                    delivery_id=d.id,
                    to=_masked_phone(d.phone),
                )
            )
        uow.commit()
    return queued


def cancel(
    services: Services, staff: Staff, tracking_number: str, reason: str
) -> intake.DeliveryInfo:
    """Cancel the parcel as the carrier could (only before it is out for delivery)."""
    why = printable(reason)[:MAX_NOTE]
    if len(why) < MIN_REASON:
        raise InvalidInput("Say why the parcel is cancelled (a few words at least).")
    return intake.cancel_delivery(
        services,
        tracking_number.strip().upper(),
        f"cancelled by support: {why}",
        actor=Actor.SUPPORT,
        actor_id=staff.actor_id,
    )


def mark_exception(
    services: Services, staff: Staff, tracking_number: str, note: str, *, return_to_sender: bool
) -> None:
    """Put a problem on the timeline, and with ``return_to_sender`` send the parcel back.

    Back to the sender only where the status allows it (after a failed attempt, at a
    locker, rescheduled).
    """
    text = printable(note)
    if not MIN_REASON <= len(text) <= MAX_NOTE:
        raise InvalidInput(f"Describe the problem in {MIN_REASON} to {MAX_NOTE} characters.")
    now = services.clock.now()
    with services.uow() as uow:
        d = _delivery(uow, tracking_number)
        new_status = None
        if return_to_sender:
            if not can_transition(d.status, DeliveryStatus.RETURNED):
                raise InvalidTransition(
                    f"A parcel that is {d.status.value.replace('_', ' ')} cannot go back to "
                    "the sender from here; the note alone can be saved."
                )
            new_status = DeliveryStatus.RETURNED.value
        d.record(
            ExceptionMarked(
                occurred_at=now,
                actor=Actor.SUPPORT,
                actor_id=staff.actor_id,
                delivery_id=d.id,
                note=text,
                new_status=new_status,
            )
        )
        if return_to_sender:
            d.transition_to(
                DeliveryStatus.RETURNED,
                at=now,
                actor=Actor.SUPPORT,
                actor_id=staff.actor_id,
                reason=f"support: {text}",
            )
        uow.commit()


def rotate_driver_token(
    services: Services, staff: Staff, tracking_number: str
) -> drivers.IssuedToken:
    """Give the driver of the parcel's route a new token (the old one stops now)."""
    _require(staff, m.StaffRole.SUPERVISOR, "issue a driver's token")
    with services.uow() as uow:
        d = _delivery(uow, tracking_number)
        driver = _driver_of(uow, d)
        if driver is None or driver.id is None:
            raise InvalidTransition("This parcel is on no driver's route.")
        driver_id, delivery_id = driver.id, d.id
    issued = drivers.issue_driver_token(services, str(driver_id))
    with services.uow() as uow:
        again = uow.repo.get(m.Delivery, delivery_id)  # type: ignore[arg-type]
        assert again is not None
        again.record(
            DriverTokenIssued(
                occurred_at=services.clock.now(),
                actor=Actor.SUPPORT,
                actor_id=staff.actor_id,
                delivery_id=delivery_id,
                driver_name=issued.name,
            )
        )
        uow.commit()
    return issued


def reveal_access_code(services: Services, staff: Staff, tracking_number: str) -> str:
    """Return the parcel's access code, and put who read it on the timeline."""
    _require(staff, m.StaffRole.SUPERVISOR, "reveal an access code")
    with services.uow() as uow:
        d = _delivery(uow, tracking_number)
        if not d.access_code:
            raise NotFound("This parcel has no access code.")
        code = d.access_code
        d.record(
            AccessCodeRevealed(
                occurred_at=services.clock.now(),
                actor=Actor.SUPPORT,
                actor_id=staff.actor_id,
                delivery_id=d.id,
                staff_name=staff.name,
            )
        )
        uow.commit()
    return code


def _driver_of(uow: UnitOfWork, d: m.Delivery) -> m.Driver | None:
    stop = uow.repo.get(m.Stop, d.stop_id) if d.stop_id is not None else None
    route = uow.repo.get(m.Route, stop.route_id) if stop and stop.route_id else None
    return uow.repo.get(m.Driver, route.driver_id) if route else None


def _masked_phone(phone: str) -> str:
    return phone[:3] + "…" + phone[-3:] if len(phone) > 6 else phone
