"""Texts from recipients: keywords run the same use cases and rules as the web page."""

from __future__ import annotations

import pytest

from lastmile_portal.domain import model as m
from lastmile_portal.domain.sms import count_segments
from lastmile_portal.domain.status import DeliveryStatus
from lastmile_portal.services import inbound_sms, proof_of_delivery
from tests.builders import make_delivery, make_route, make_world


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


def test_choices_by_number_and_lockers_are_not_offered_by_text_yet(services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world, status=DeliveryStatus.FAILED)
    link = services.tracking_url(d.tracking_token)
    assert text(services, d.phone, "2") == (
        f"Choosing a slot or a locker by text is not available yet. "
        f"Please use your tracking link: {link}"
    )
    assert text(services, d.phone, "LOCKER").startswith("Choosing a parcel locker by text")


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
