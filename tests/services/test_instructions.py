"""Hand-over instructions, the access code's life, car boot delivery, texts and rating.

Each change commits with its timeline event (and, for instructions and the car, the
``change_confirmed`` text); a stale form or a refused change leaves everything as it was.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from lastmile_portal.domain import model as m
from lastmile_portal.domain.errors import ConcurrentUpdate, InvalidInput, InvalidTransition
from lastmile_portal.domain.events import Actor
from lastmile_portal.domain.status import DeliveryStatus
from lastmile_portal.services import drivers, inbound_sms, instructions, proof_of_delivery
from lastmile_portal.services import tracking as tracking_service
from tests.builders import make_delivery, make_route, make_world


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


def load(services, delivery_id: int) -> m.Delivery:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        d = uow.repo.get(m.Delivery, delivery_id)
        assert d is not None
        return d


def kinds(services, delivery_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        return [e.kind for e in uow.repo.timeline(delivery_id)]


def texts(services, delivery_id: int) -> dict[str, m.OutboundSms]:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        return {s.kind: s for s in uow.repo.outbox_of(delivery_id)}


def offer_trunk(services, world) -> None:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        depot = uow.repo.get(m.Depot, world.depot_id)
        depot.trunk_delivery = True  # type: ignore[union-attr]
        uow.commit()


# ---------------------------------------------------------------- hand-over instructions


def test_instructions_are_saved_with_an_event_and_one_confirmation_text(services, world) -> None:
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED)

    said = instructions.set_instructions(
        services,
        d.tracking_token,
        d.version,
        place="porch",
        note="Behind the\x00 blue bench",
        code_kind="gate",
        code="12 34 42",
    )

    saved = load(services, d.id)
    assert said.startswith("Saved")
    assert saved.option is m.DeliveryOption.SAFE_PLACE
    assert saved.safe_place == "Porch"
    assert saved.instructions == "Behind the blue bench"
    assert saved.access_code == "Gate code: 123442"
    assert "HandOverInstructionsSet" in kinds(services, d.id)
    confirmation = texts(services, d.id)["change_confirmed"]
    assert "new hand-over instructions" in confirmation.body
    assert "123442" not in confirmation.body


def test_the_page_shows_the_code_only_masked_and_no_payload_carries_it(services, world) -> None:
    d = make_delivery(world, status=DeliveryStatus.OUT_FOR_DELIVERY)
    make_route(world, [d])
    d = load(services, d.id)
    instructions.set_instructions(
        services, d.tracking_token, d.version, place="in_person", code_kind="door", code="987642"
    )

    view = tracking_service.get_tracking(services, d.tracking_token)
    snapshot = tracking_service.live_snapshot(services, d.id)

    assert view.handover is not None
    assert view.handover.code_masked == "••••42"
    assert view.handover.code_label == "Door code"
    assert "987642" not in repr(view)
    assert "987642" not in repr(snapshot) and "access" not in repr(snapshot)
    with services.uow() as uow:
        timeline = " ".join(f"{e.summary} {e.data}" for e in uow.repo.timeline(d.id))
    assert "987642" not in timeline


def test_an_empty_code_keeps_the_saved_one_and_remove_deletes_it(services, world) -> None:
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED, access_code="Gate code: 4711")

    instructions.set_instructions(
        services, d.tracking_token, d.version, place="garage", code_kind="gate", code=""
    )
    assert load(services, d.id).access_code == "Gate code: 4711"

    d = load(services, d.id)
    instructions.set_instructions(
        services, d.tracking_token, d.version, place="garage", remove_code=True
    )
    assert load(services, d.id).access_code is None


def test_a_neighbour_needs_a_name_and_a_house_number(services, world) -> None:
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED)

    with pytest.raises(InvalidInput, match="house number"):
        instructions.set_instructions(
            services, d.tracking_token, d.version, place="neighbour", neighbour_name="Kaya"
        )
    instructions.set_instructions(
        services,
        d.tracking_token,
        d.version,
        place="neighbour",
        neighbour_name="Mrs Kaya",
        neighbour_number="12a",
    )

    saved = load(services, d.id)
    assert saved.option is m.DeliveryOption.NEIGHBOUR
    assert saved.neighbour == "Mrs Kaya, no. 12a"
    assert saved.safe_place is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("note", "x" * 281, "keep it to 280"),
        ("code", "1" * 17, "2 to 16 characters"),
        ("code", "12<script>", "digits, letters"),
        ("place", "roof", "Choose where"),
    ],
)
def test_bad_instructions_are_refused_and_change_nothing(
    services, world, field, value, message
) -> None:
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED, instructions="old note")
    form = {"place": "porch", "code_kind": "gate", field: value}

    with pytest.raises(InvalidInput, match=message):
        instructions.set_instructions(services, d.tracking_token, d.version, **form)

    after = load(services, d.id)
    assert (after.instructions, after.option, after.version) == ("old note", d.option, d.version)
    assert texts(services, d.id) == {}


def test_a_stale_form_gets_409_and_the_newer_change_stands(services, world) -> None:
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED)
    instructions.set_instructions(services, d.tracking_token, d.version, place="porch")

    with pytest.raises(ConcurrentUpdate):
        instructions.set_instructions(services, d.tracking_token, d.version, place="garage")

    assert load(services, d.id).safe_place == "Porch"


def test_instructions_stay_open_past_the_replan_cutoff_until_the_driver_arrives(
    services, world
) -> None:
    d = make_delivery(world, status=DeliveryStatus.OUT_FOR_DELIVERY)
    make_route(world, [d])  # the next stop: the re-plan cut-off is closed
    d = load(services, d.id)
    view = tracking_service.get_tracking(services, d.tracking_token)
    assert view.handover.open and not view.handover.trunk_open  # type: ignore[union-attr]

    instructions.set_instructions(services, d.tracking_token, d.version, place="back_door")
    assert load(services, d.id).safe_place == "Back door"

    with services.uow() as uow:
        x = uow.repo.get(m.Delivery, d.id)
        x.transition_to(DeliveryStatus.ARRIVING, at=services.clock.now(), actor=Actor.DRIVER)  # type: ignore[union-attr]
        uow.commit()
        version = x.version  # type: ignore[union-attr]
    with pytest.raises(InvalidTransition, match="at your door"):
        instructions.set_instructions(services, d.tracking_token, version, place="porch")


def test_sms_safe_follows_the_same_rule(services, world) -> None:
    d = make_delivery(world, status=DeliveryStatus.ARRIVING)

    with pytest.raises(InvalidTransition, match="at your door"):
        instructions.set_safe_place(services, d.id, "behind the bins", actor=Actor.SMS)

    ok = make_delivery(world, status=DeliveryStatus.SCHEDULED, phone="+493023125999")
    reply = inbound_sms.receive_sms(
        services, provider_sid="SM" + "1" * 32, from_phone=ok.phone, body="SAFE behind the bins"
    )
    assert "safe place" in reply
    assert load(services, ok.id).safe_place == "behind the bins"


# ---------------------------------------------------------------- the code ends with the delivery


def test_the_access_code_is_deleted_with_the_hand_over_and_a_rating_is_asked(
    app, services, world, clock
) -> None:
    d = make_delivery(world, status=DeliveryStatus.OUT_FOR_DELIVERY, access_code="Door code: 42")
    make_route(world, [d])
    d = load(services, d.id)
    stop_id = load(services, d.id).stop_id

    proof_of_delivery.mark_delivered(services, world.driver_ids[0], stop_id)

    done = load(services, d.id)
    assert done.status is DeliveryStatus.DELIVERED and done.access_code is None
    assert "AccessCodePurged" in kinds(services, d.id)
    outbox = texts(services, d.id)
    assert outbox["rating_request"].status is m.SmsStatus.DEFERRED
    assert outbox["rating_request"].next_attempt_at >= clock.now() + timedelta(minutes=59)  # type: ignore[operator]
    engine = sa.create_engine(app.config["SETTINGS"].database_url)
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT access_code FROM deliveries WHERE id = :id"), {"id": d.id}
        ).scalar()
    engine.dispose()
    assert stored is None


@pytest.mark.parametrize("final", [DeliveryStatus.RETURNED, DeliveryStatus.CANCELLED])
def test_every_end_of_a_delivery_deletes_the_code(services, world, final) -> None:
    start = DeliveryStatus.FAILED if final is DeliveryStatus.RETURNED else DeliveryStatus.SCHEDULED
    d = make_delivery(world, status=start, access_code="Gate code: 4711")

    with services.uow() as uow:
        x = uow.repo.get(m.Delivery, d.id)
        x.transition_to(final, at=services.clock.now(), actor=Actor.SUPPORT)  # type: ignore[union-attr]
        uow.commit()

    assert load(services, d.id).access_code is None


# ---------------------------------------------------------------- car boot


def trunk_form(**overrides: str) -> dict[str, str]:
    form = {
        "make": "VW Golf",
        "colour": "dark blue",
        "plate": "b-lm 2026",
        "spot": "in front of no. 14",
        "opens": "11:00",
        "closes": "12:00",
    }
    form.update(overrides)
    return form


def test_trunk_delivery_needs_the_depot_to_offer_it(services, world) -> None:
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED)
    with pytest.raises(InvalidTransition, match="does not deliver to car boots"):
        instructions.set_trunk(services, d.tracking_token, d.version, **trunk_form())
    assert load(services, d.id).option is m.DeliveryOption.DOOR


def test_trunk_delivery_moves_the_stop_to_the_car_and_the_manifest_shows_it(
    services, world
) -> None:
    offer_trunk(services, world)
    # 10:00 now; window 11:00-14:00. Two stops ahead, so changes are open.
    first, second = (make_delivery(world, status=DeliveryStatus.OUT_FOR_DELIVERY) for _ in "ab")
    d = make_delivery(world, status=DeliveryStatus.OUT_FOR_DELIVERY)
    make_route(world, [first, second, d])
    d = load(services, d.id)

    instructions.set_trunk(
        services,
        d.tracking_token,
        d.version,
        **trunk_form(lat=str(d.lat + 0.001), lng=str(d.lng)),
    )

    saved = load(services, d.id)
    assert saved.option is m.DeliveryOption.VEHICLE_TRUNK
    # 11:00-12:00 Berlin (UTC+1 in winter), inside the window 11:00-14:00 local
    assert (saved.trunk_from.hour, saved.trunk_until.hour) == (10, 11)  # type: ignore[union-attr]
    assert (saved.trunk_plate, saved.trunk_make, saved.trunk_colour) == (
        "B-LM 2026",
        "VW Golf",
        "dark blue",
    )
    with services.uow() as uow:
        stop = uow.repo.get(m.Stop, saved.stop_id)  # type: ignore[arg-type]
        assert stop.lat == pytest.approx(d.lat + 0.001)  # type: ignore[union-attr]
    assert "TrunkDeliveryChosen" in kinds(services, d.id)
    assert "delivery to your car" in texts(services, d.id)["change_confirmed"].body
    parcel = next(
        p
        for s in drivers.manifest(services, world.driver_ids[0]).stops
        for p in s.parcels
        if p.tracking_number == d.tracking_number
    )
    assert parcel.trunk is not None and parcel.trunk.plate == "B-LM 2026"
    assert parcel.trunk.spot == "in front of no. 14"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"plate": "!!"}, "number plate"),
        ({"plate": "ABCDEFGHIJKLMN1"}, "number plate"),
        ({"opens": "09:00"}, "inside your delivery window"),
        ({"closes": "15:30"}, "inside your delivery window"),
        ({"opens": "12:00", "closes": "11:00"}, "end after it starts"),
        ({"opens": "11:00", "closes": "11:10"}, "at least 30 minutes"),
        ({"opens": "11 o'clock"}, "HH:MM"),
        ({"spot": "x"}, "where the car is parked"),
        ({"make": "x" * 41}, "make"),
        ({"lat": "52.6", "lng": "13.4"}, "within 2 km"),
        ({"lat": "52.6"}, "both latitude and longitude"),
        ({"lat": "nan", "lng": "13.4"}, "not a number"),
    ],
)
def test_bad_trunk_requests_are_refused_and_change_nothing(
    services, world, overrides, message
) -> None:
    offer_trunk(services, world)
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED)

    with pytest.raises(InvalidInput, match=message):
        instructions.set_trunk(services, d.tracking_token, d.version, **trunk_form(**overrides))

    after = load(services, d.id)
    assert after.option is m.DeliveryOption.DOOR and after.trunk_plate is None
    assert after.version == d.version


def test_trunk_delivery_closes_with_the_replan_cutoff(services, world) -> None:
    offer_trunk(services, world)
    d = make_delivery(world, status=DeliveryStatus.OUT_FOR_DELIVERY)
    make_route(world, [d])  # the next stop
    d = load(services, d.id)

    with pytest.raises(InvalidTransition, match="too late"):
        instructions.set_trunk(services, d.tracking_token, d.version, **trunk_form())


def test_going_back_to_the_door_moves_the_stop_back(services, world) -> None:
    offer_trunk(services, world)
    first, second = (make_delivery(world, status=DeliveryStatus.OUT_FOR_DELIVERY) for _ in "ab")
    d = make_delivery(world, status=DeliveryStatus.OUT_FOR_DELIVERY)
    make_route(world, [first, second, d])
    d = load(services, d.id)
    instructions.set_trunk(
        services, d.tracking_token, d.version, **trunk_form(lat=str(d.lat + 0.001), lng=str(d.lng))
    )

    now = load(services, d.id)
    instructions.cancel_trunk(services, d.tracking_token, now.version)

    back = load(services, d.id)
    assert back.option is m.DeliveryOption.DOOR and back.trunk_plate is None
    with services.uow() as uow:
        stop = uow.repo.get(m.Stop, back.stop_id)  # type: ignore[arg-type]
        assert (stop.lat, stop.lng) == (d.lat, d.lng)  # type: ignore[union-attr]
    assert "TrunkDeliveryCancelled" in kinds(services, d.id)


# ---------------------------------------------------------------- texts


def test_a_muted_text_is_stored_cancelled_with_the_reason(services, world) -> None:
    d = make_delivery(world, status=DeliveryStatus.OUT_FOR_DELIVERY)
    make_route(world, [d])
    d = load(services, d.id)
    instructions.set_preferences(
        services,
        d.tracking_token,
        d.version,
        wanted={"dispatched", "approaching"},
        quiet_from="22:00",
        quiet_until="07:30",
    )
    saved = load(services, d.id)
    assert saved.sms_muted == "arrived,delivered,rating_request"
    assert saved.quiet_hours == "22:00-07:30"
    assert "TextPreferencesChanged" in kinds(services, d.id)

    proof_of_delivery.mark_delivered(services, world.driver_ids[0], saved.stop_id)

    outbox = texts(services, d.id)
    assert outbox["delivered"].status is m.SmsStatus.CANCELLED
    assert "turned 'delivered' texts off" in (outbox["delivered"].error or "")
    assert outbox["rating_request"].status is m.SmsStatus.CANCELLED


def test_texts_that_must_go_out_cannot_be_turned_off(services, world) -> None:
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED)
    with pytest.raises(InvalidInput, match="not a text we send"):
        instructions.set_preferences(
            services, d.tracking_token, d.version, wanted={"failed_attempt"}
        )
    assert load(services, d.id).sms_muted is None


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("22:00", "", "both times"),
        ("25:00", "07:00", "does not exist"),
        ("22:00", "22:00", "different"),
    ],
)
def test_bad_quiet_hours_are_refused(services, world, start, end, message) -> None:
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED)
    with pytest.raises(InvalidInput, match=message):
        instructions.set_preferences(
            services, d.tracking_token, d.version, wanted=set(), quiet_from=start, quiet_until=end
        )
    assert load(services, d.id).quiet_hours is None


# ---------------------------------------------------------------- rating


def test_a_rating_is_given_once_and_a_second_one_edits_it(services, world) -> None:
    d = make_delivery(world, status=DeliveryStatus.DELIVERED)

    instructions.rate(services, d.tracking_token, "4", "Friendly driver")
    instructions.rate(services, d.tracking_token, "5", "Friendly and fast")

    with services.uow() as uow:
        rating = uow.repo.rating_of(d.id)
        assert (rating.score, rating.comment) == (5, "Friendly and fast")  # type: ignore[union-attr]
        assert uow.repo.count(m.Rating) == 1
    assert kinds(services, d.id).count("RatingCommented") == 2


@pytest.mark.parametrize(
    ("status", "score", "comment", "error"),
    [
        (DeliveryStatus.OUT_FOR_DELIVERY, "5", "", InvalidTransition),
        (DeliveryStatus.DELIVERED, "6", "", InvalidInput),
        (DeliveryStatus.DELIVERED, "five", "", InvalidInput),
        (DeliveryStatus.DELIVERED, "3", "y" * 501, InvalidInput),
    ],
)
def test_bad_ratings_are_refused(services, world, status, score, comment, error) -> None:
    d = make_delivery(world, status=status)
    with pytest.raises(error):
        instructions.rate(services, d.tracking_token, score, comment)
    with services.uow() as uow:
        assert uow.repo.rating_of(d.id) is None
