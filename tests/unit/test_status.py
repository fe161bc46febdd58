"""The delivery status state machine, checked against an independent list of allowed moves.

The expected table below is written out by hand from the product rules (created → scheduled →
out for delivery → arriving → delivered / failed; rescheduled; redirected to a locker → at
locker → collected; returned; cancelled; a parcel addressed to a locker goes out for delivery
straight to it). It deliberately does not import TRANSITIONS, so a
careless edit of the table in status.py makes these tests fail.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from lastmile_portal.domain.errors import InvalidTransition
from lastmile_portal.domain.events import Actor, DeliveryStatusChanged
from lastmile_portal.domain.model import Delivery
from lastmile_portal.domain.status import (
    LABELS,
    TERMINAL,
    DeliveryStatus,
    can_transition,
)
from tests.builders import a_delivery

S = DeliveryStatus
AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

EXPECTED_ALLOWED: set[tuple[DeliveryStatus, DeliveryStatus]] = {
    (S.CREATED, S.SCHEDULED),
    (S.CREATED, S.CANCELLED),
    (S.SCHEDULED, S.OUT_FOR_DELIVERY),
    (S.SCHEDULED, S.RESCHEDULED),
    (S.SCHEDULED, S.REDIRECTED_TO_LOCKER),
    (S.SCHEDULED, S.CANCELLED),
    (S.OUT_FOR_DELIVERY, S.ARRIVING),
    (S.OUT_FOR_DELIVERY, S.DELIVERED),
    (S.OUT_FOR_DELIVERY, S.AT_LOCKER),  # addressed to a locker from the start: dropped off there
    (S.OUT_FOR_DELIVERY, S.FAILED),
    (S.OUT_FOR_DELIVERY, S.RESCHEDULED),
    (S.OUT_FOR_DELIVERY, S.REDIRECTED_TO_LOCKER),
    (S.ARRIVING, S.DELIVERED),
    (S.ARRIVING, S.AT_LOCKER),
    (S.ARRIVING, S.FAILED),
    (S.ARRIVING, S.OUT_FOR_DELIVERY),
    (S.FAILED, S.RESCHEDULED),
    (S.FAILED, S.REDIRECTED_TO_LOCKER),
    (S.FAILED, S.RETURNED),
    (S.RESCHEDULED, S.SCHEDULED),
    (S.RESCHEDULED, S.OUT_FOR_DELIVERY),
    (S.RESCHEDULED, S.REDIRECTED_TO_LOCKER),
    (S.RESCHEDULED, S.RETURNED),
    (S.RESCHEDULED, S.CANCELLED),
    (S.REDIRECTED_TO_LOCKER, S.OUT_FOR_DELIVERY),
    (S.REDIRECTED_TO_LOCKER, S.AT_LOCKER),
    (S.REDIRECTED_TO_LOCKER, S.FAILED),
    (S.REDIRECTED_TO_LOCKER, S.RETURNED),
    (S.AT_LOCKER, S.COLLECTED),
    (S.AT_LOCKER, S.RETURNED),
}

EXPECTED_TERMINAL = {S.DELIVERED, S.COLLECTED, S.RETURNED, S.CANCELLED}

ALL_PAIRS = [(a, b) for a, b in itertools.product(DeliveryStatus, DeliveryStatus) if a != b]
ALLOWED_PAIRS = [p for p in ALL_PAIRS if p in EXPECTED_ALLOWED]
FORBIDDEN_PAIRS = [p for p in ALL_PAIRS if p not in EXPECTED_ALLOWED]


def _delivery(status: DeliveryStatus) -> Delivery:
    return a_delivery(status, id=42)


def _pair_id(pair: tuple[DeliveryStatus, DeliveryStatus]) -> str:
    return f"{pair[0].value}->{pair[1].value}"


def test_expected_list_names_only_real_statuses_and_every_non_terminal_has_an_exit() -> None:
    # Guard the test's own table: every status either has a way out or is a known end.
    sources = {a for a, _ in EXPECTED_ALLOWED}
    assert sources | EXPECTED_TERMINAL == set(DeliveryStatus)
    assert not sources & EXPECTED_TERMINAL


@pytest.mark.parametrize("pair", ALLOWED_PAIRS, ids=_pair_id)
def test_allowed_transition_changes_status_and_records_event(
    pair: tuple[DeliveryStatus, DeliveryStatus],
) -> None:
    old, new = pair
    d = _delivery(old)

    d.transition_to(new, at=AT, actor=Actor.SUPPORT, actor_id="7", reason="because")

    assert d.status is new
    assert d.updated_at == AT
    assert can_transition(old, new)
    assert len(d.events) == 1
    event = d.events[0]
    assert isinstance(event, DeliveryStatusChanged)
    assert (event.old, event.new) == (old.value, new.value)
    assert event.delivery_id == 42
    assert event.actor is Actor.SUPPORT and event.actor_id == "7"
    assert event.reason == "because"
    assert event.occurred_at == AT


@pytest.mark.parametrize("pair", FORBIDDEN_PAIRS, ids=_pair_id)
def test_forbidden_transition_raises_and_leaves_delivery_untouched(
    pair: tuple[DeliveryStatus, DeliveryStatus],
) -> None:
    old, new = pair
    d = _delivery(old)

    with pytest.raises(InvalidTransition) as excinfo:
        d.transition_to(new, at=AT, actor=Actor.CUSTOMER)

    assert d.status is old
    assert d.updated_at is None
    assert d.events == []
    assert not can_transition(old, new)
    # The message speaks the recipient's language, not enum values.
    assert LABELS[old].lower() in excinfo.value.message
    assert LABELS[new].lower() in excinfo.value.message
    assert excinfo.value.status_code == 409


@pytest.mark.parametrize("status", sorted(EXPECTED_TERMINAL), ids=str)
def test_terminal_statuses_have_no_exits(status: DeliveryStatus) -> None:
    assert status in TERMINAL
    for target in DeliveryStatus:
        if target is not status:
            assert not can_transition(status, target), f"{status} -> {target} must be impossible"


def test_terminal_set_is_exactly_the_four_ends() -> None:
    assert set(TERMINAL) == EXPECTED_TERMINAL


@pytest.mark.parametrize("status", list(DeliveryStatus), ids=str)
def test_moving_to_the_same_status_is_a_quiet_no_op(status: DeliveryStatus) -> None:
    d = _delivery(status)

    d.transition_to(status, at=AT, actor=Actor.SYSTEM)

    assert d.status is status
    assert d.events == []
    assert d.updated_at is None


def test_a_parcel_can_travel_the_whole_happy_path() -> None:
    d = _delivery(S.CREATED)
    path = [S.SCHEDULED, S.OUT_FOR_DELIVERY, S.ARRIVING, S.DELIVERED]
    for status in path:
        d.transition_to(status, at=AT, actor=Actor.SYSTEM)
    assert [e.new for e in d.events] == [s.value for s in path]  # type: ignore[attr-defined]


def test_a_parcel_can_travel_the_locker_path() -> None:
    d = _delivery(S.CREATED)
    path = [S.SCHEDULED, S.REDIRECTED_TO_LOCKER, S.AT_LOCKER, S.COLLECTED]
    for status in path:
        d.transition_to(status, at=AT, actor=Actor.SYSTEM)
    assert d.status is S.COLLECTED
    assert len(d.events) == len(path)


def test_every_status_has_a_label() -> None:
    assert set(LABELS) == set(DeliveryStatus)
    assert all(label.strip() for label in LABELS.values())
