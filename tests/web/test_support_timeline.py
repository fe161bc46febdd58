"""One timeline per delivery: everything that happened, merged in order, as support reads it."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest

from lastmile_portal.domain import model as m
from lastmile_portal.services import inbound_sms, notifications
from tests.builders import load_stop_id, make_delivery, make_route, make_world
from tests.services.test_rescheduling import _day
from tests.web.support_helpers import make_staff, post, sign_in
from tests.web.test_proof_page import DOOR, deliver, jpeg


class Timeline(HTMLParser):
    """Read the timeline's lines: kind, who and the words, in page order."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[dict[str, Any]] = []
        self._field: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "li" and "sp-item" in classes:
            self.items.append(
                {"kind": a.get("data-kind"), "flagged": "sp-flagged" in classes, "text": ""}
                | {"who": "", "imgs": [], "at": ""}
            )
        elif self.items and tag == "img":
            self.items[-1]["imgs"].append(a.get("src"))
        elif self.items and tag == "time":
            self.items[-1]["at"] = a.get("datetime")
        elif self.items and "sp-who" in classes:
            self._field = "who"
        elif self.items and tag == "div" and ("sp-summary" in classes or "sp-small" in classes):
            self._field = "text"

    def handle_endtag(self, tag: str) -> None:
        if tag == "div":
            self._field = None

    def handle_data(self, data: str) -> None:
        if self._field and self.items:
            self.items[-1][self._field] += data.strip() + " "


def timeline(client: Any, tracking_number: str) -> list[dict[str, Any]]:
    response = client.get(f"/support/deliveries/{tracking_number}")
    assert response.status_code == 200
    parsed = Timeline()
    parsed.feed(response.get_data(as_text=True))
    return parsed.items


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


@pytest.fixture
def staff_client(client, services):  # type: ignore[no-untyped-def]
    make_staff(services, "supervisor")
    sign_in(client, "supervisor")
    return client


def test_the_timeline_merges_changes_replans_texts_in_and_out_in_order(  # type: ignore[no-untyped-def]
    staff_client, services, world, clock
) -> None:
    ds, _route, slots = _day(world)
    watched = ds[4]
    # The recipient moves their parcel (a change, a re-plan, a confirmation text) ...
    from lastmile_portal.services import rescheduling

    rescheduling.move_to_slot(services, watched.tracking_token, slots["later"])
    clock.advance(minutes=2)
    # ... the text goes out and the provider reports it delivered ...
    notifications.send_due(services)
    with services.uow() as uow:
        text = next(t for t in uow.repo.outbox_of(watched.id) if t.kind == "change_confirmed")
        sid = text.provider_sid
    notifications.record_status(services, provider_sid=sid, status="delivered")
    clock.advance(minutes=2)
    # ... and the recipient texts us.
    inbound_sms.receive_sms(services, provider_sid="SM-in-1", from_phone=watched.phone, body="ETA?")

    items = timeline(staff_client, watched.tracking_number)

    kinds = [i["kind"] for i in items]
    assert "DeliveryRescheduled" in kinds
    assert kinds.index("DeliveryRescheduled") < kinds.index("change_confirmed")
    assert kinds.index("change_confirmed") < kinds.index("text_in")
    moved = items[kinds.index("DeliveryRescheduled")]
    assert moved["who"].strip() == "Recipient"
    confirmation = items[kinds.index("change_confirmed")]
    assert "change confirmed · delivered" in confirmation["text"]
    asked = items[kinds.index("text_in")]
    assert "ETA?" in asked["text"] and "our answer:" in asked["text"]
    # In order, and no SMS bookkeeping lines repeating the texts.
    stamps = [i["at"] for i in items]
    assert stamps == sorted(stamps)
    assert not {"SmsQueued", "SmsSent", "SmsStatusReported", "SmsReceived"} & set(kinds)


def test_a_replan_says_why_each_other_parcels_eta_moved(  # type: ignore[no-untyped-def]
    staff_client, services, world
) -> None:
    ds, _route, slots = _day(world)
    from lastmile_portal.services import rescheduling

    rescheduling.move_to_slot(services, ds[2].tracking_token, slots["tomorrow"])

    lines = [i["text"] for i in timeline(staff_client, ds[4].tracking_number)]
    eta_lines = [t for t in lines if "ETA" in t]
    assert any(
        "a recipient moved their parcel to another slot" in t and "min" in t for t in eta_lines
    ), lines


def test_a_proof_far_from_the_door_is_flagged_with_its_distance_and_photo(  # type: ignore[no-untyped-def]
    staff_client, services, world
) -> None:
    d = make_delivery(world, lat=DOOR[0], lng=DOOR[1])
    make_route(world, [d])
    far = (DOOR[0] + 0.003, DOOR[1])  # about 330 m north
    deliver(staff_client, load_stop_id(services, d), [jpeg()], far)

    items = timeline(staff_client, d.tracking_number)

    proof = next(i for i in items if i["kind"] == "ProofRecorded")
    assert proof["flagged"]
    assert re.search(r"taken 3\d\d m from the address — too far, check it", proof["text"])
    assert proof["who"].startswith("Driver")
    (thumb,) = proof["imgs"]
    assert thumb.startswith(f"/support/deliveries/{d.tracking_number}/photos/")
    image = staff_client.get(thumb.replace("&amp;", "&"))
    assert image.status_code == 200 and image.mimetype == "image/jpeg"


def test_a_staff_photo_link_opens_nothing_on_the_tracking_page_nor_signed_out(  # type: ignore[no-untyped-def]
    staff_client, app, services, world
) -> None:
    d = make_delivery(world, lat=DOOR[0], lng=DOOR[1])
    make_route(world, [d])
    deliver(staff_client, load_stop_id(services, d), [jpeg()], DOOR)
    thumb = next(i for i in timeline(staff_client, d.tracking_number) if i["imgs"])["imgs"][0]
    query = thumb.replace("&amp;", "&").split("?", 1)[1]
    photo_id = re.search(r"/photos/(\d+)", thumb).group(1)  # type: ignore[union-attr]

    as_recipient = staff_client.get(f"/t/{d.tracking_token}/proof/{photo_id}?{query}")
    signed_out = app.test_client().get(thumb.replace("&amp;", "&"))
    forged = staff_client.get(thumb.replace("&amp;", "&").replace("sig=", "sig=0"))

    assert as_recipient.status_code == 403  # another audience's signature
    assert signed_out.status_code == 303
    assert forged.status_code == 403


def test_the_access_code_is_masked_and_revealing_it_is_on_the_timeline(  # type: ignore[no-untyped-def]
    staff_client, services, world
) -> None:
    d = make_delivery(world, access_code="4711#B")
    page = staff_client.get(f"/support/deliveries/{d.tracking_number}").get_data(as_text=True)
    assert "4711#B" not in page and "Reveal" in page

    shown = post(staff_client, f"/support/deliveries/{d.tracking_number}/access-code")

    assert shown.status_code == 200
    assert 'data-testid="revealed-code">4711#B<' in shown.get_data(as_text=True)
    again = staff_client.get(f"/support/deliveries/{d.tracking_number}").get_data(as_text=True)
    assert "4711#B" not in again  # shown once
    revealed = next(
        i for i in timeline(staff_client, d.tracking_number) if i["kind"] == "AccessCodeRevealed"
    )
    assert "Sue Supervisor" in revealed["text"] and "Sue Supervisor" in revealed["who"]


def test_an_agent_cannot_reveal_an_access_code(client, services, world) -> None:  # type: ignore[no-untyped-def]
    make_staff(services, "agent")
    sign_in(client, "agent")
    d = make_delivery(world, access_code="4711#B")

    page = client.get(f"/support/deliveries/{d.tracking_number}").get_data(as_text=True)
    refused = post(client, f"/support/deliveries/{d.tracking_number}/access-code")

    assert "a supervisor can reveal it" in page
    assert refused.status_code == 403 and "4711#B" not in refused.get_data(as_text=True)
    with services.uow() as uow:
        assert "AccessCodeRevealed" not in {e.kind for e in uow.repo.timeline(d.id)}


def test_the_details_show_window_driver_and_instructions(staff_client, services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world, instructions="Ring twice", reference="ORD-7")
    make_route(world, [d])

    html = staff_client.get(f"/support/deliveries/{d.tracking_number}").get_data(as_text=True)

    assert "Driver0 Test" in html and "Ring twice" in html and "ORD-7" in html
    assert re.search(r'data-testid="window">\w{3} \d+ \w{3} \d\d:\d\d–\d\d:\d\d<', html)
    assert 'data-testid="status">Out for delivery<' in html


def test_an_unknown_parcel_is_a_404(staff_client) -> None:  # type: ignore[no-untyped-def]
    assert staff_client.get("/support/deliveries/LM9999999999").status_code == 404


def test_texts_that_did_not_arrive_are_flagged(staff_client, services, world) -> None:  # type: ignore[no-untyped-def]
    ds, _route, _slots = _day(world)
    from lastmile_portal.services import support

    staff = support.Staff(id=1, name="Sue Supervisor", role=m.StaffRole.SUPERVISOR)
    support.resend_tracking_link(services, staff, ds[2].tracking_number)
    notifications.send_due(services)
    with services.uow() as uow:
        sid = next(
            t.provider_sid for t in uow.repo.outbox_of(ds[2].id) if t.kind == "tracking_link"
        )
    notifications.record_status(
        services, provider_sid=sid, status="undelivered", error_code="30005"
    )

    text = next(
        i for i in timeline(staff_client, ds[2].tracking_number) if i["kind"] == "tracking_link"
    )

    assert text["flagged"] and "undelivered" in text["text"]
