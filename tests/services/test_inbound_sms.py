"""Texts from recipients: keywords run the same use cases and rules as the web page."""

from __future__ import annotations

import pytest

from lastmile_portal.domain import model as m
from lastmile_portal.domain.sms import count_segments
from lastmile_portal.domain.status import DeliveryStatus
from lastmile_portal.services import inbound_sms, proof_of_delivery
from tests.builders import make_delivery, make_locker, make_route, make_world


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


_sids = iter(range(10_000))


def text(services, phone: str, body: str, sid: str | None = None) -> str:  # type: ignore[no-untyped-def]
    return inbound_sms.receive_sms(
        services, provider_sid=sid or f"SMin{next(_sids)}", from_phone=phone, body=body
    )


def load(services, delivery_id: int) -> m.Delivery:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        return uow.repo.get(m.Delivery, delivery_id)


def kinds(services, delivery_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        return [e.kind for e in uow.repo.timeline(delivery_id)]


def test_eta_answers_with_the_live_window_and_the_queue(services, world) -> None:  # type: ignore[no-untyped-def]
    first, mine = make_delivery(world), make_delivery(world)
    make_route(world, [first, mine])

    reply = text(services, mine.phone, "eta")

    # make_route plans stop 2 at 10:30 with a window of 10:25-10:40 (Berlin).
    assert reply.startswith(f"Parcel {mine.tracking_number}: the driver is expected 10:25-10:40")
    assert "1 stop before yours" in reply
    assert services.tracking_url(mine.tracking_token) in reply


def test_eta_before_dispatch_answers_with_the_status_and_window(services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED)
    reply = text(services, d.phone, "When?")
    assert reply.startswith(f"Parcel {d.tracking_number}: Scheduled for delivery")
    assert "delivery window 11:00-14:00" in reply


def test_safe_sets_the_safe_place_through_the_use_case(services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED)

    reply = text(services, d.phone, "SAFE  behind the green   bin")

    assert reply == (
        f"Thanks, the driver will leave parcel {d.tracking_number} at your safe place: "
        "behind the green bin."
    )
    loaded = load(services, d.id)
    assert loaded.option is m.DeliveryOption.SAFE_PLACE
    assert loaded.safe_place == "behind the green bin"
    with services.uow() as uow:
        chosen = [e for e in uow.repo.timeline(d.id) if e.kind == "SafePlaceChosen"]
    assert len(chosen) == 1 and chosen[0].actor == "sms"
    assert chosen[0].summary == "Safe place set: 'behind the green bin'"


@pytest.mark.parametrize(
    ("status", "body", "answer"),
    [
        (DeliveryStatus.SCHEDULED, "SAFE", "3 to 200 characters"),
        (DeliveryStatus.SCHEDULED, "SAFE " + "x" * 201, "3 to 200 characters"),
        (DeliveryStatus.ARRIVING, "SAFE porch", "too late"),
        (DeliveryStatus.DELIVERED, "SAFE porch", "too late"),
    ],
)
def test_safe_is_refused_with_the_reason_when_the_rules_say_no(  # type: ignore[no-untyped-def]
    services, world, status, body, answer
) -> None:
    d = make_delivery(world, status=status)

    reply = text(services, d.phone, body)

    assert reply.startswith("Sorry, that did not work:") and answer in reply
    assert load(services, d.id).safe_place is None


def test_a_locker_parcel_has_no_safe_place(services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED, option=m.DeliveryOption.LOCKER)
    assert "goes to a locker" in text(services, d.phone, "SAFE porch")


def test_a_digit_after_delivery_rates_it_and_a_second_one_corrects_it(services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world)
    make_route(world, [d])
    stop_id = load(services, d.id).stop_id
    proof_of_delivery.mark_delivered(services, world.driver_ids[0], stop_id)

    assert text(services, d.phone, "4") == (
        f"Thank you for rating the delivery of parcel {d.tracking_number} 4/5!"
    )
    text(services, d.phone, "5")

    with services.uow() as uow:
        assert uow.repo.rating_of(d.id).score == 5
        rated = [e.summary for e in uow.repo.timeline(d.id) if e.kind == "DeliveryRated"]
    assert rated == ["Rated 4/5", "Rated 5/5 (was 4/5)"]


def test_old_deliveries_are_not_rated_by_a_stray_digit(services, world, clock) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world, status=DeliveryStatus.DELIVERED, updated_at=clock.now())
    clock.advance(days=8)
    assert text(services, d.phone, "5").startswith("Lastmile: reply ETA")
    with services.uow() as uow:
        assert uow.repo.rating_of(d.id) is None


# ---------------------------------------------------------------- numbered choices (issue 11)


def _failed_with_slots(services, world):  # type: ignore[no-untyped-def]
    """A parcel back from a failed attempt, and slots tomorrow (10:00, 12:00, 14:00, 16:00)."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    d = make_delivery(world, status=DeliveryStatus.FAILED)
    now = services.clock.now()
    ids = []
    with services.uow() as uow:
        for hours in (24, 26, 28, 30):
            start = now + timedelta(hours=hours)
            slot = m.DeliverySlot(
                depot_id=world.depot_id,
                service_date=start.astimezone(ZoneInfo("Europe/Berlin")).date(),
                starts_at=start,
                ends_at=start + timedelta(hours=2),
                capacity=5,
            )
            uow.repo.add(slot)
            uow.repo.flush()
            ids.append(slot.id)
        uow.commit()
    return d, ids


def test_a_digit_with_no_offer_open_offers_the_slots_and_the_next_digit_moves(  # type: ignore[no-untyped-def]
    services, world
) -> None:
    d, slots = _failed_with_slots(services, world)
    link = services.tracking_url(d.tracking_token)

    offer = text(services, d.phone, "2")

    assert offer == (
        f"Parcel {d.tracking_number}: reply 1 for Thu 26 Nov 10:00-12:00, "
        "2 for Thu 26 Nov 12:00-14:00, 3 for Thu 26 Nov 14:00-16:00. "
        f"More slots: {link}"
    )
    assert load(services, d.id).slot_id is None  # offering changes nothing

    reply = text(services, d.phone, "2")

    assert reply == (
        f"Thanks, parcel {d.tracking_number} now comes Thu 26 Nov 12:00-14:00. "
        "We text you the time the evening before."
    )
    loaded = load(services, d.id)
    assert loaded.slot_id == slots[1] and loaded.status is DeliveryStatus.RESCHEDULED
    assert loaded.reschedules == 1
    with services.uow() as uow:
        moved = [e for e in uow.repo.timeline(d.id) if e.kind == "DeliveryRescheduled"]
        booked = uow.repo.get(m.DeliverySlot, slots[1]).booked
    assert len(moved) == 1 and moved[0].actor == "sms" and booked == 1
    # The offer is used up: another digit offers again instead of moving twice.
    assert text(services, d.phone, "1").startswith(f"Parcel {d.tracking_number}: reply 1 for")
    assert load(services, d.id).reschedules == 1


def test_slot_asks_for_the_slots_and_an_expired_offer_chooses_nothing(  # type: ignore[no-untyped-def]
    services, world, clock
) -> None:
    d, _slots = _failed_with_slots(services, world)
    assert text(services, d.phone, "New day?").startswith(f"Parcel {d.tracking_number}: reply 1")
    clock.advance(hours=3)
    assert text(services, d.phone, "1").startswith(f"Parcel {d.tracking_number}: reply 1")
    assert load(services, d.id).slot_id is None


def test_a_slot_choice_by_text_obeys_the_same_rules_as_the_page(services, world) -> None:  # type: ignore[no-untyped-def]
    first, near = make_delivery(world), make_delivery(world)
    make_route(world, [first, near])  # second in line: past the cut-off
    reply = text(services, near.phone, "SLOT")
    assert "too late" in reply and count_segments(reply).count <= 2
    assert load(services, near.id).reschedules == 0


def test_locker_offers_the_nearest_lockers_with_room_and_a_digit_chooses(  # type: ignore[no-untyped-def]
    services, world
) -> None:
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED)
    locker_id = make_locker(world)
    with services.uow() as uow:
        for label in ("A1", "A2"):
            uow.repo.add(m.LockerCompartment(locker_id=locker_id, label=label, size=m.ParcelSize.L))
        uow.commit()

    offer = text(services, d.phone, "LOCKER")

    assert offer.startswith(f"Parcel {d.tracking_number}: reply 1 for Packstation Test (")
    assert "to have it put in that locker" in offer
    reply = text(services, d.phone, "1")
    assert reply.startswith(f"Thanks, parcel {d.tracking_number} goes to Packstation Test")
    loaded = load(services, d.id)
    assert loaded.locker_id == locker_id and loaded.option is m.DeliveryOption.LOCKER


def test_locker_without_room_says_so_with_the_link(services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED)
    make_locker(world)  # no compartments free
    reply = text(services, d.phone, "LOCKER")
    assert reply.startswith(f"Parcel {d.tracking_number}: there is no locker with room")


def test_an_open_offer_takes_the_digit_a_delivered_parcel_gets_it_otherwise(  # type: ignore[no-untyped-def]
    services, world
) -> None:
    done = make_delivery(world, n=900)
    make_route(world, [done])
    stop_id = load(services, done.id).stop_id
    proof_of_delivery.mark_delivered(services, world.driver_ids[0], stop_id)
    d, slots = _failed_with_slots(services, world)
    with services.uow() as uow:  # the same recipient, a second parcel
        uow.repo.get(m.Delivery, d.id).phone = done.phone
        uow.commit()

    assert text(services, done.phone, "3").startswith("Thank you for rating")  # no offer open
    text(services, done.phone, "SLOT")
    assert text(services, done.phone, "3").startswith(f"Thanks, parcel {d.tracking_number}")
    assert load(services, d.id).slot_id == slots[2]
    with services.uow() as uow:
        assert uow.repo.rating_of(done.id).score == 3  # the slot choice rated nothing


def test_numbered_offers_fit_two_segments(services, world) -> None:  # type: ignore[no-untyped-def]
    d, _slots = _failed_with_slots(services, world)
    assert count_segments(text(services, d.phone, "SLOT")).count <= 2


def test_help_and_unclear_texts_get_the_options_and_the_link(services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world)
    link = services.tracking_url(d.tracking_token)
    for body in ("HELP", "where is my parcel??", "7"):
        reply = text(services, d.phone, body)
        assert reply.startswith("Lastmile: reply ETA") and reply.endswith(link)


def test_unknown_senders_get_a_short_answer_and_nothing_changes(services, world) -> None:  # type: ignore[no-untyped-def]
    for body in ("ETA", "SAFE porch", "hello", "5"):
        assert "we found no parcel for this number" in text(services, "+4915199999999", body)
    assert "we found no parcel" in text(services, "not-a-number", "ETA")


def test_a_repeated_webhook_gets_the_same_reply_and_acts_once(services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED)
    first = text(services, d.phone, "SAFE garage", sid="SMdup")
    second = text(services, d.phone, "SAFE shed", sid="SMdup")  # same MessageSid

    assert first == second
    assert load(services, d.id).safe_place == "garage"
    with services.uow() as uow:
        assert uow.repo.count(m.InboundSms) == 1
        stored = uow.repo.inbound_by_provider_sid("SMdup")
        assert stored.delivery_id == d.id and stored.reply == first
    assert kinds(services, d.id).count("SmsReceived") == 1


def test_the_sender_is_matched_in_any_format_and_the_active_parcel_wins(
    services, world, clock
) -> None:  # type: ignore[no-untyped-def]
    old = make_delivery(world, status=DeliveryStatus.DELIVERED, phone="+493023125777")
    clock.advance(minutes=1)
    new = make_delivery(world, status=DeliveryStatus.SCHEDULED, phone="+493023125777")

    reply = text(services, "030 23125777", "ETA")  # as a German phone shows it

    assert new.tracking_number in reply and old.tracking_number not in reply
    assert "SmsReceived" in kinds(services, new.id)


def test_stop_and_start_are_remembered_per_number(services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world)
    text(services, d.phone, "Stop")
    with services.uow() as uow:
        assert uow.repo.opt_out_of(d.phone) is not None
    text(services, d.phone, "STOP")  # twice is fine
    text(services, d.phone, "START")
    with services.uow() as uow:
        assert uow.repo.opt_out_of(d.phone) is None


def test_replies_fit_two_segments_even_for_long_refusals(services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world, status=DeliveryStatus.REDIRECTED_TO_LOCKER)
    reply = text(services, d.phone, "SAFE porch")
    assert "too late" in reply
    assert count_segments(reply).count <= 2, reply
