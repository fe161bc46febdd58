"""A recipient's socket hears about their parcel, never about support's work on it."""

from __future__ import annotations

import json

from lastmile_portal.domain import model as m
from lastmile_portal.services import gps_intake, support
from tests.builders import ping
from tests.services.test_rescheduling import _day

# live: the fleet socket tests' app on a real server, with one staff member per role.
from tests.web.test_fleet_socket import Everything, cookie_for, live  # noqa: F401

# Every event the tracking page's script listens to; anything else is not meant for it.
CUSTOMER_EVENTS = {"snapshot", "position", "eta", "status", "proof", "window"}


def test_support_acting_on_a_parcel_sends_its_recipient_only_customer_events(  # type: ignore[no-untyped-def]
    request, clock
) -> None:
    app, url, services, world, staff = request.getfixturevalue("live")
    ds, _route, slots = _day(world)
    d = ds[4]
    with services.uow() as uow:
        uow.repo.get(m.Delivery, d.id).access_code = "4711#B"
        uow.commit()
    sue = support.Staff(
        id=staff[m.StaffRole.SUPERVISOR], name="Sue Secret", role=m.StaffRole.SUPERVISOR
    )
    customer = Everything(url, {"token": d.tracking_token})
    supervisor = Everything(
        url,
        {"fleet": world.depot_id},
        cookie_for(app, staff[m.StaffRole.SUPERVISOR], clock.now().timestamp()),
    )
    try:
        customer.wait_for("snapshot")
        support.reveal_access_code(services, sue, d.tracking_number)
        support.mark_exception(
            services, sue, d.tracking_number, "Caller sounded unsure", return_to_sender=False
        )
        support.move_to_slot(
            services, sue, d.tracking_number, slots["later"], None, override_reason=""
        )
        gps_intake.record_positions(services, world.driver_ids[0], [ping(52.53, 13.41)])
        customer.wait_for("window")
        supervisor.wait_for("fleet_position")
        customer.wait_for("position")

        names = set(customer.names())
        payloads = json.dumps([p for _, p in customer.events], default=str)
    finally:
        customer.close()
        supervisor.close()

    assert names <= CUSTOMER_EVENTS, names - CUSTOMER_EVENTS
    for secret in ("Sue Secret", "4711#B", "Caller sounded unsure", "AccessCodeRevealed"):
        assert secret not in payloads
