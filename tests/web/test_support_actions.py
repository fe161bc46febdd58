"""Acting for the customer: the customer's own rules, the staff member named on the timeline."""

from __future__ import annotations

import re
from typing import Any

import pytest

from lastmile_portal.domain import model as m
from lastmile_portal.domain.status import DeliveryStatus
from tests.builders import DRIVER_TOKEN, make_delivery, make_locker, make_route, make_world
from tests.services.test_rescheduling import _day
from tests.web.support_helpers import make_staff, post, sign_in


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


def as_staff(app: Any, services: Any, role: str) -> Any:
    client = app.test_client()
    make_staff(services, role)
    assert sign_in(client, role).status_code == 303
    return client


@pytest.fixture
def agent(app, services):  # type: ignore[no-untyped-def]
    return as_staff(app, services, "agent")


@pytest.fixture
def supervisor(app, services):  # type: ignore[no-untyped-def]
    return as_staff(app, services, "supervisor")


def act(client: Any, d: m.Delivery, action: str, **form: Any) -> str:
    """Post one action form; follow back to the delivery page and return its message."""
    response = post(client, f"/support/deliveries/{d.tracking_number}/{action}", **form)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert response.headers["Location"] == f"/support/deliveries/{d.tracking_number}"
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    found = re.search(r'class="sp-notice[^"]*" role="status">([^<]+)<', html)
    assert found, "the page says what happened"
    return found.group(1)


def lines(services: Any, d: m.Delivery) -> list[tuple[str, str, str | None, str]]:
    with services.uow() as uow:
        return [(e.kind, e.actor, e.actor_id, e.summary) for e in uow.repo.timeline(d.id)]


def load(services: Any, d: m.Delivery) -> m.Delivery:
    with services.uow() as uow:
        return uow.repo.get(m.Delivery, d.id)


def staff_id(services: Any, role: str) -> str:
    email = {"agent": "agent@support.test", "supervisor": "super@support.test"}[role]
    with services.uow() as uow:
        return str(uow.repo.staff_by_email(email).id)


def who(client: Any, d: m.Delivery, kind: str) -> str:
    """Return the timeline's 'who' of the last line of ``kind`` as the page shows it."""
    html = client.get(f"/support/deliveries/{d.tracking_number}").get_data(as_text=True)
    items = re.findall(
        r'data-kind="([^"]+)">.*?<div class="sp-who">([^<]+)</div>', html, flags=re.S
    )
    return [w for k, w in items if k == kind][-1]


# ---------------------------------------------------------------- move to a slot


def test_an_agent_moves_a_parcel_to_a_slot_and_the_timeline_names_them(  # type: ignore[no-untyped-def]
    agent, services, world
) -> None:
    ds, _route, slots = _day(world)
    d = ds[4]

    said = act(agent, d, "slot", slot_id=slots["later"], version=load(services, d).version)

    assert said.startswith("Moved to ")
    assert load(services, d).slot_id == slots["later"]
    moved = [line for line in lines(services, d) if line[0] == "DeliveryRescheduled"]
    assert moved and moved[-1][1:3] == ("support", staff_id(services, "agent"))
    assert who(agent, d, "DeliveryRescheduled") == "Support · Ann Agent"
    # The same rules as the recipient's: they get the same confirmation text.
    with services.uow() as uow:
        assert "change_confirmed" in {t.kind for t in uow.repo.outbox_of(d.id)}


def test_after_the_cut_off_an_agent_is_refused_with_the_customers_reason(  # type: ignore[no-untyped-def]
    agent, services, world
) -> None:
    ds, _route, slots = _day(world)
    d = ds[1]  # two stops away: closed
    page = agent.get(f"/support/deliveries/{d.tracking_number}").get_data(as_text=True)
    assert "too late to change" in page and 'data-testid="override-form"' not in page

    said = act(agent, d, "slot", slot_id=slots["later"], version=load(services, d).version)
    overriding = act(
        agent,
        d,
        "slot",
        slot_id=slots["later"],
        version=load(services, d).version,
        override="1",
        override_reason="customer called, urgent",
    )

    assert "Nothing changed" in said and "too late" in said
    assert overriding == "Nothing changed: Only a supervisor may override the cut-off."
    assert load(services, d).slot_id == slots["current"]


def test_a_supervisor_overrides_the_cut_off_only_with_a_reason(  # type: ignore[no-untyped-def]
    supervisor, services, world
) -> None:
    ds, _route, slots = _day(world)
    d = ds[1]
    page = supervisor.get(f"/support/deliveries/{d.tracking_number}").get_data(as_text=True)
    assert 'data-testid="override-form"' in page
    version = load(services, d).version

    blank = act(supervisor, d, "slot", slot_id=slots["later"], version=version, override="1")
    short = act(
        supervisor,
        d,
        "slot",
        slot_id=slots["later"],
        version=version,
        override="1",
        override_reason="ok",
    )
    assert "Nothing changed" in blank and "why" in blank
    assert "Nothing changed" in short and "why" in short
    assert load(services, d).slot_id == slots["current"]

    done = act(
        supervisor,
        d,
        "slot",
        slot_id=slots["later"],
        version=version,
        override="1",
        override_reason="Recipient in hospital until 14:00",
    )

    assert done.startswith("Moved to ")
    assert load(services, d).slot_id == slots["later"]
    overridden = [line for line in lines(services, d) if line[0] == "CutoffOverridden"]
    assert overridden[-1][3] == (
        "Cut-off overridden (moved to another slot): Recipient in hospital until 14:00"
    )
    assert who(supervisor, d, "CutoffOverridden") == "Support · Sue Supervisor"


# ---------------------------------------------------------------- the other actions


def test_an_agent_sends_a_parcel_to_a_locker(agent, services, world) -> None:  # type: ignore[no-untyped-def]
    locker_id = make_locker(world, "MMM")
    ds, _route, _slots = _day(world)
    d = ds[4]

    said = act(agent, d, "locker", locker_id=locker_id, version=load(services, d).version)

    assert said == "The parcel goes to Packstation Test."
    assert load(services, d).locker_id == locker_id
    assert who(agent, d, "LockerChosen") == "Support · Ann Agent"


def test_an_agent_edits_the_instructions(agent, services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world)

    said = act(
        agent,
        d,
        "instructions",
        place="in_person",
        note="Ring at the back door",
        version=load(services, d).version,
    )

    assert said == "Saved. The driver sees your instructions."
    assert load(services, d).instructions == "Ring at the back door"
    assert who(agent, d, "HandOverInstructionsSet") == "Support · Ann Agent"


def test_a_stale_form_changes_nothing(agent, services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world)

    said = act(agent, d, "instructions", place="in_person", note="Late", version=99)

    assert "Nothing changed" in said and "changed since this page was opened" in said
    assert load(services, d).instructions is None


def test_resending_the_tracking_link_texts_it_once_per_minute(
    agent, services, world, clock
) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world, recipient_name="Ada Lovelace")

    first = act(agent, d, "resend-link")
    again = act(agent, d, "resend-link")
    clock.advance(minutes=1)
    later = act(agent, d, "resend-link")

    assert first == later == "The tracking link is on its way by text."
    assert again == "The tracking link was already texted this minute."
    with services.uow() as uow:
        texts = [t for t in uow.repo.outbox_of(d.id) if t.kind == "tracking_link"]
    assert len(texts) == 2
    assert texts[0].body.startswith("Hi Ada, here is the link to follow your parcel")
    assert f"/t/{d.tracking_token}" in texts[0].body
    assert who(agent, d, "TrackingLinkResent") == "Support · Ann Agent"


def test_cancelling_needs_a_reason_and_a_parcel_not_yet_out(agent, services, world) -> None:  # type: ignore[no-untyped-def]
    waiting = make_delivery(world, status=DeliveryStatus.SCHEDULED)
    out = make_delivery(world)
    make_route(world, [out])

    no_reason = act(agent, waiting, "cancel", reason="")
    too_late = act(agent, out, "cancel", reason="sender asked")
    done = act(agent, waiting, "cancel", reason="sender asked")

    assert "Nothing changed" in no_reason and "why" in no_reason
    assert "Nothing changed" in too_late and "can no longer be cancelled" in too_late
    assert done == "The parcel is cancelled."
    assert load(services, waiting).status is DeliveryStatus.CANCELLED
    assert load(services, out).status is DeliveryStatus.OUT_FOR_DELIVERY
    cancelled = [line for line in lines(services, waiting) if line[0] == "DeliveryStatusChanged"]
    assert cancelled[-1][1:3] == ("support", staff_id(services, "agent"))
    assert "cancelled by support: sender asked" in cancelled[-1][3]


def test_an_exception_is_noted_and_returns_a_parcel_only_where_the_status_allows(  # type: ignore[no-untyped-def]
    agent, services, world
) -> None:
    out = make_delivery(world)
    make_route(world, [out])
    failed = make_delivery(world)
    make_route(world, [failed], driver_index=1)
    with services.uow() as uow:
        uow.repo.get(m.Delivery, failed.id).mark_failed(
            at=services.clock.now(), driver_id=world.driver_ids[1], reason="nobody in"
        )
        uow.commit()

    noted = act(agent, out, "exception", note="Box looked damaged on the photo")
    refused = act(agent, out, "exception", note="Send it back", return_to_sender="1")
    returned = act(agent, failed, "exception", note="Address does not exist", return_to_sender="1")

    assert noted == "Noted on the timeline."
    assert "Nothing changed" in refused and "cannot go back to the sender" in refused
    assert returned == "Noted; the parcel goes back to the sender."
    assert load(services, out).status is DeliveryStatus.OUT_FOR_DELIVERY
    assert load(services, failed).status is DeliveryStatus.RETURNED
    assert [line[3] for line in lines(services, out) if line[0] == "ExceptionMarked"] == [
        "Exception: Box looked damaged on the photo"
    ]
    assert who(agent, failed, "ExceptionMarked") == "Support · Ann Agent"


def test_a_supervisor_rotates_the_drivers_token_an_agent_may_not(  # type: ignore[no-untyped-def]
    app, agent, supervisor, services, world
) -> None:
    d = make_delivery(world)
    make_route(world, [d])
    api = app.test_client()
    manifest = {"Authorization": f"Bearer {DRIVER_TOKEN}"}
    assert api.get("/api/v1/driver/manifest", headers=manifest).status_code == 200

    refused = post(agent, f"/support/deliveries/{d.tracking_number}/driver-token")
    assert refused.status_code == 403
    assert api.get("/api/v1/driver/manifest", headers=manifest).status_code == 200

    shown = post(supervisor, f"/support/deliveries/{d.tracking_number}/driver-token")

    html = shown.get_data(as_text=True)
    assert shown.status_code == 200
    token = re.search(r'<code class="sp-secret">([A-Za-z0-9_-]{40,})</code>', html).group(1)  # type: ignore[union-attr]
    assert api.get("/api/v1/driver/manifest", headers=manifest).status_code == 401
    new = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/v1/driver/manifest", headers=new).status_code == 200
    page = supervisor.get(f"/support/deliveries/{d.tracking_number}").get_data(as_text=True)
    assert token not in page  # shown once
    assert who(supervisor, d, "DriverTokenIssued") == "Support · Sue Supervisor"


def test_a_form_without_its_csrf_token_does_nothing(agent, services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world)

    response = agent.post(
        f"/support/deliveries/{d.tracking_number}/instructions",
        data={"place": "in_person", "note": "forged", "version": load(services, d).version},
    )

    assert response.status_code == 400
    assert load(services, d).instructions is None
