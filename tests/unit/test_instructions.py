"""The hand-over rules on their own: places, neighbours, codes and their mask, cars, texts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lastmile_portal.domain import instructions as rules
from lastmile_portal.domain import model as m
from lastmile_portal.domain.errors import InvalidInput, InvalidTransition
from lastmile_portal.domain.events import Actor
from lastmile_portal.domain.status import CHANGEABLE, DeliveryStatus
from tests.builders import a_delivery

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("stored", "masked"),
    [("Gate code: 123442", "••••42"), ("Door code: 4711", "••••1"), ("12", "••••"), (None, None)],
)
def test_a_code_is_shown_back_masked_short_ones_show_less(stored, masked) -> None:
    assert rules.mask_code(stored) == masked


def test_a_code_keeps_its_kind_for_the_driver() -> None:
    stored, keep = rules.access_code_text("building", " 47 11#B ")
    assert (stored, keep) == ("Building code: 4711#B", False)
    assert rules.split_access_code(stored) == ("building", "4711#B")
    assert rules.split_access_code("0000") == (None, "0000")  # saved before kinds existed
    assert rules.access_code_text("gate", "") == (None, True)
    assert rules.access_code_text("gate", "1234", remove=True) == (None, False)


@pytest.mark.parametrize("number", ["12", "12a", "12/3", "12-14", "3 B"])
def test_house_numbers_people_write(number) -> None:
    assert rules.neighbour_text("Mrs Kaya", number).endswith(f", no. {number}")
    assert rules.split_neighbour(rules.neighbour_text("Mrs Kaya", number)) == ("Mrs Kaya", number)


@pytest.mark.parametrize("number", ["", "twelve", "12345", "1; DROP"])
def test_house_numbers_that_are_not(number) -> None:
    with pytest.raises(InvalidInput):
        rules.neighbour_text("Mrs Kaya", number)


@pytest.mark.parametrize(
    ("plate", "clean"), [("b-lm 2026", "B-LM 2026"), ("M  AB 123", "M AB 123"), ("HH-X1", "HH-X1")]
)
def test_plates_are_written_as_on_the_car(plate, clean) -> None:
    assert rules.plate_text(plate) == clean


@pytest.mark.parametrize("plate", ["ABCDEF", "123456", "B_LM_1", "B--LM 1", "AB", "ÆØ 12"])
def test_plates_that_are_not(plate) -> None:
    with pytest.raises(InvalidInput):
        rules.plate_text(plate)


def test_instructions_and_sms_safe_close_in_the_same_statuses() -> None:
    for status in DeliveryStatus:
        d = a_delivery(status)
        web = rules.handover_refusal(status, at_locker=False)
        try:
            d.choose_safe_place("behind the bins", at=AT, actor=Actor.SMS)
            sms = None
        except InvalidTransition as error:
            sms = error.message
        assert (web is None) == (sms is None) == (status in CHANGEABLE), status


def test_giving_the_same_instructions_twice_records_once() -> None:
    d = a_delivery(DeliveryStatus.SCHEDULED)
    handover = rules.hand_over("front_door", note="Knock", code_kind="gate", code="4242")
    assert d.give_instructions(handover, at=AT, actor=Actor.CUSTOMER) is True
    assert d.give_instructions(handover, at=AT, actor=Actor.CUSTOMER) is False
    assert [type(e).__name__ for e in d.events] == ["HandOverInstructionsSet"]
    assert "4242" not in repr(d.events)


def test_reaching_an_end_purges_the_code_and_says_so() -> None:
    d = a_delivery(DeliveryStatus.ARRIVING, access_code="Gate code: 4242")
    d.mark_delivered(at=AT, driver_id=1)
    assert d.access_code is None
    assert "AccessCodePurged" in [type(e).__name__ for e in d.events]


def test_a_locker_parcel_at_the_locker_keeps_nothing_to_purge_until_collected() -> None:
    d = a_delivery(DeliveryStatus.AT_LOCKER, option=m.DeliveryOption.LOCKER, access_code="x: 1")
    d.transition_to(DeliveryStatus.COLLECTED, at=AT, actor=Actor.SYSTEM)
    assert d.access_code is None


def test_the_texts_that_must_go_out_cannot_be_muted() -> None:
    assert not set(rules.ALWAYS_SENT) & set(rules.OPTIONAL_TEXTS)
    with pytest.raises(InvalidInput):
        rules.muted_text({"failed_attempt"})
    muted = rules.muted_text({"approaching"})
    assert rules.is_muted(muted, "delivered_with_proof")  # the photo version of "delivered"
    assert not rules.is_muted(muted, "approaching")
    assert not rules.is_muted(muted, "failed_attempt")
    assert rules.muted_text(set(rules.OPTIONAL_TEXTS)) is None
