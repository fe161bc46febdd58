"""Domain model rules: unguessable tokens, driver auth, locker capacity, route order, attempts."""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from lastmile_portal.domain import model as m
from lastmile_portal.domain.errors import InvalidTransition
from lastmile_portal.domain.events import (
    Actor,
    DeliveryAttemptFailed,
    DeliveryStatusChanged,
    DriverArrived,
    ParcelDelivered,
)
from lastmile_portal.domain.status import DeliveryStatus
from tests.builders import a_delivery

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
URLSAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


_delivery = a_delivery


# ---------------------------------------------------------------- tracking tokens


def test_tracking_token_carries_at_least_128_bits_in_a_url_safe_alphabet() -> None:
    for _ in range(200):
        token = m.new_tracking_token()
        assert set(token) <= URLSAFE, token
        # Each character of a base64url alphabet carries at most 6 bits.
        assert len(token) * math.log2(len(URLSAFE)) >= 128
        assert len(token) <= 64  # fits the column and the well-formedness check


def test_tracking_tokens_are_unique_and_share_no_structure() -> None:
    tokens = [m.new_tracking_token() for _ in range(5000)]
    assert len(set(tokens)) == len(tokens)
    # Sequential or id-derived tokens share long prefixes or suffixes; random ones do not.
    ordered = sorted(tokens)
    longest_prefix = max(
        len(_common_prefix(a, b)) for a, b in zip(ordered, ordered[1:], strict=False)
    )
    assert longest_prefix < 8
    suffixes = sorted(t[::-1] for t in tokens)
    longest_suffix = max(
        len(_common_prefix(a, b)) for a, b in zip(suffixes, suffixes[1:], strict=False)
    )
    assert longest_suffix < 8


def test_tracking_token_characters_are_spread_over_the_whole_alphabet() -> None:
    chars = Counter("".join(m.new_tracking_token()[:-1] for _ in range(2000)))
    # Every one of the 64 symbols appears and none dominates (a hex or digit token fails).
    assert set(chars) == URLSAFE
    expected = sum(chars.values()) / 64
    assert max(chars.values()) < 1.5 * expected
    assert min(chars.values()) > 0.5 * expected


def test_tracking_token_does_not_depend_on_the_delivery() -> None:
    # Two deliveries with the same id and content still get different tokens.
    assert _delivery(id=1).tracking_token != _delivery(id=1).tracking_token
    # Nor does the token leak the id or tracking number it belongs to.
    d = _delivery(id=123456, tracking_number="LM0000123456")
    assert "123456" not in d.tracking_token


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


# ---------------------------------------------------------------- tracking numbers


def test_tracking_numbers_look_right_and_are_not_sequential() -> None:
    numbers = [m.new_tracking_number() for _ in range(2000)]
    assert all(re.fullmatch(r"LM\d{10}", n) for n in numbers)
    assert len(set(numbers)) >= 1999  # 10^10 space: a collision here is (almost) impossible
    values = [int(n[2:]) for n in numbers]
    steps = {b - a for a, b in zip(values, values[1:], strict=False)}
    assert len(steps) > 1000  # not a counter with a fixed stride
    # The leading digit varies too (not zero-padded small counters).
    assert len({n[2] for n in numbers}) == 10


# ---------------------------------------------------------------- driver API tokens


def test_hash_api_token_is_sha256_hex_and_never_the_token() -> None:
    token = "driver-token-abcdef0123456789"
    stored = m.hash_api_token(token)
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", stored)
    assert token not in stored
    assert m.hash_api_token(token) == stored  # stable across calls
    assert m.hash_api_token(token + "x") != stored


def test_driver_token_matches_only_its_own_token() -> None:
    driver = m.Driver(
        name="Dana Driver",
        phone="+493023125900",
        employment=m.Employment.STAFF,
        api_token_hash=m.hash_api_token("the-right-token-0123456789"),
    )
    assert driver.token_matches("the-right-token-0123456789")
    assert not driver.token_matches("the-wrong-token-0123456789")
    assert not driver.token_matches("")
    assert not driver.token_matches(driver.api_token_hash)  # the hash itself is no password
    assert driver.first_name == "Dana"


# ---------------------------------------------------------------- lockers


def _locker(*compartments: tuple[m.ParcelSize, m.CompartmentStatus]) -> m.Locker:
    locker = m.Locker(
        code="LK1",
        name="Packstation 1",
        kind=m.LockerKind.LOCKER,
        address="Somewhere 1",
        postcode="10115",
        lat=52.5,
        lng=13.4,
        depot_id=1,
    )
    for i, (size, status) in enumerate(compartments):
        locker.compartments.append(
            m.LockerCompartment(locker_id=1, label=f"{i:02d}", size=size, status=status)
        )
    return locker


def test_locker_free_count_lets_small_parcels_use_bigger_doors() -> None:
    F = m.CompartmentStatus.FREE
    locker = _locker(
        (m.ParcelSize.S, F),
        (m.ParcelSize.S, F),
        (m.ParcelSize.M, F),
        (m.ParcelSize.L, F),
    )
    assert locker.free_count(m.ParcelSize.S) == 4
    assert locker.free_count(m.ParcelSize.M) == 2
    assert locker.free_count(m.ParcelSize.L) == 1


def test_locker_free_count_ignores_doors_that_are_not_free() -> None:
    locker = _locker(
        (m.ParcelSize.L, m.CompartmentStatus.RESERVED),
        (m.ParcelSize.L, m.CompartmentStatus.OCCUPIED),
        (m.ParcelSize.L, m.CompartmentStatus.OUT_OF_SERVICE),
        (m.ParcelSize.M, m.CompartmentStatus.FREE),
    )
    assert locker.free_count(m.ParcelSize.L) == 0
    assert locker.free_count(m.ParcelSize.M) == 1
    assert locker.free_count(m.ParcelSize.S) == 1
    assert _locker().free_count(m.ParcelSize.S) == 0


def test_slot_remaining_never_goes_negative() -> None:
    slot = m.DeliverySlot(
        depot_id=1,
        service_date=date(2026, 11, 25),
        starts_at=AT,
        ends_at=AT + timedelta(hours=2),
        capacity=3,
        booked=5,
    )
    assert slot.remaining == 0
    slot.booked = 1
    assert slot.remaining == 2


def test_service_area_covers_its_postcode_prefixes_only() -> None:
    area = m.ServiceArea(depot_id=1, name="North", postcode_prefixes="101, 103,")
    assert area.covers("10115")
    assert area.covers("10315")
    assert not area.covers("12043")


# ---------------------------------------------------------------- routes


def _stop(seq: int, status: m.StopStatus = m.StopStatus.PENDING) -> m.Stop:
    return m.Stop(
        route_id=1,
        sequence=seq,
        kind=m.StopKind.ADDRESS,
        lat=52.5,
        lng=13.4,
        service_seconds=180,
        status=status,
        id=seq * 10,
    )


def test_stops_before_counts_only_open_stops_ahead_in_sequence() -> None:
    stops = {
        1: _stop(1, m.StopStatus.DONE),
        2: _stop(2, m.StopStatus.FAILED),
        3: _stop(3, m.StopStatus.SKIPPED),
        4: _stop(4, m.StopStatus.ARRIVED),  # the driver is there now: still ahead of us
        5: _stop(5),
        6: _stop(6),
        7: _stop(7),
    }
    # Stored order must not matter: only sequence does.
    route = m.Route(
        driver_id=1,
        vehicle_id=1,
        depot_id=1,
        service_date=date(2026, 11, 25),
        stops=[stops[k] for k in (7, 3, 5, 1, 6, 2, 4)],
    )
    assert route.stops_before(stops[1]) == 0
    assert route.stops_before(stops[4]) == 0
    assert route.stops_before(stops[5]) == 1
    assert route.stops_before(stops[6]) == 2
    assert route.stops_before(stops[7]) == 3
    assert [s.sequence for s in route.ordered_stops()] == [1, 2, 3, 4, 5, 6, 7]

    stops[5].status = m.StopStatus.DONE
    assert route.stops_before(stops[7]) == 2


def _route(*stops: m.Stop, status: m.RouteStatus = m.RouteStatus.PLANNED) -> m.Route:
    return m.Route(
        driver_id=1,
        vehicle_id=1,
        depot_id=1,
        service_date=date(2026, 11, 25),
        status=status,
        stops=list(stops),
        id=1,
    )


def test_arriving_opens_the_visit_and_a_second_tap_moves_the_time_on() -> None:
    stop = _stop(1)

    stop.arrive(at=AT)
    assert (stop.status, stop.arrived_at, stop.departed_at) == (m.StopStatus.ARRIVED, AT, None)
    assert stop.is_open

    stop.arrive(at=AT + timedelta(minutes=1))
    assert stop.arrived_at == AT + timedelta(minutes=1)


@pytest.mark.parametrize(
    ("close", "status"),
    [(m.Stop.complete, m.StopStatus.DONE), (m.Stop.fail, m.StopStatus.FAILED)],
    ids=["complete", "fail"],
)
def test_closing_a_stop_keeps_an_earlier_arrival_and_a_repeat_changes_nothing(
    close, status
) -> None:  # type: ignore[no-untyped-def]
    arrived = _stop(1)
    arrived.arrive(at=AT)
    close(arrived, at=AT + timedelta(minutes=3))
    assert arrived.status is status and not arrived.is_open
    assert arrived.arrived_at == AT
    assert arrived.departed_at == AT + timedelta(minutes=3)

    # A retried tap: the first one's times stand.
    close(arrived, at=AT + timedelta(minutes=9))
    assert arrived.status is status
    assert arrived.departed_at == AT + timedelta(minutes=3)

    # Without an "arrived" tap first, being done there means having been there.
    direct = _stop(2)
    close(direct, at=AT)
    assert (direct.status, direct.arrived_at, direct.departed_at) == (status, AT, AT)


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (m.StopStatus.DONE, lambda s: s.fail(at=AT)),
        (m.StopStatus.FAILED, lambda s: s.complete(at=AT)),
        (m.StopStatus.SKIPPED, lambda s: s.complete(at=AT)),
        (m.StopStatus.SKIPPED, lambda s: s.fail(at=AT)),
        (m.StopStatus.DONE, lambda s: s.arrive(at=AT)),
        (m.StopStatus.FAILED, lambda s: s.arrive(at=AT)),
    ],
    ids=["done-fail", "failed-complete", "skipped-complete", "skipped-fail", "done-arrive",
         "failed-arrive"],
)  # fmt: skip
def test_a_closed_stop_refuses_another_outcome_without_side_effects(status, action) -> None:  # type: ignore[no-untyped-def]
    stop = _stop(1, status)

    with pytest.raises(InvalidTransition, match="already"):
        action(stop)

    assert stop.status is status
    assert (stop.arrived_at, stop.departed_at) == (None, None)


def test_replan_puts_an_open_stop_where_the_new_plan_has_it() -> None:
    stop = _stop(1, m.StopStatus.ARRIVED)
    window = (AT - timedelta(minutes=6), AT + timedelta(minutes=14))

    stop.replan(route_id=7, sequence=4, arrival=AT, travel_s=420, eta=window)

    assert (stop.route_id, stop.sequence) == (7, 4)
    assert (stop.planned_arrival, stop.expected_arrival) == (AT, AT)
    assert stop.planned_travel_s == 420
    assert (stop.eta_earliest, stop.eta_latest) == window
    assert stop.status is m.StopStatus.ARRIVED  # where the driver is does not change


@pytest.mark.parametrize("status", [m.StopStatus.DONE, m.StopStatus.FAILED, m.StopStatus.SKIPPED])
def test_replan_leaves_a_closed_stop_as_it_was(status) -> None:  # type: ignore[no-untyped-def]
    stop = _stop(1, status)

    with pytest.raises(InvalidTransition):
        stop.replan(route_id=7, sequence=4, arrival=AT, travel_s=420, eta=(AT, AT))

    assert (stop.route_id, stop.sequence, stop.planned_arrival) == (1, 1, None)
    assert (stop.planned_travel_s, stop.expected_arrival, stop.eta_earliest) == (0, None, None)


def test_dispatch_starts_the_day_once_and_may_be_run_again() -> None:
    route = _route(_stop(1))

    route.dispatch(at=AT)
    assert (route.status, route.started_at) == (m.RouteStatus.IN_PROGRESS, AT)

    route.dispatch(at=AT + timedelta(hours=1))
    assert (route.status, route.started_at) == (m.RouteStatus.IN_PROGRESS, AT)

    # A route stored as under way without a start time gets one.
    unstamped = _route(status=m.RouteStatus.IN_PROGRESS)
    unstamped.dispatch(at=AT)
    assert unstamped.started_at == AT


@pytest.mark.parametrize("status", [m.RouteStatus.COMPLETED, m.RouteStatus.CANCELLED])
def test_a_finished_route_cannot_be_dispatched_again(status) -> None:  # type: ignore[no-untyped-def]
    route = _route(status=status)

    with pytest.raises(InvalidTransition, match="dispatched"):
        route.dispatch(at=AT)

    assert (route.status, route.started_at) == (status, None)


def test_a_route_completes_once_no_stop_is_open() -> None:
    done, open_ = _stop(1, m.StopStatus.DONE), _stop(2, m.StopStatus.ARRIVED)
    route = _route(done, open_, status=m.RouteStatus.IN_PROGRESS)

    with pytest.raises(InvalidTransition, match="stops to visit"):
        route.complete(at=AT)
    assert (route.status, route.completed_at) == (m.RouteStatus.IN_PROGRESS, None)

    open_.fail(at=AT)
    route.complete(at=AT)
    assert (route.status, route.completed_at) == (m.RouteStatus.COMPLETED, AT)

    route.complete(at=AT + timedelta(hours=1))  # a repeat changes nothing
    assert route.completed_at == AT


def test_a_cancelled_route_cannot_be_completed() -> None:
    route = _route(_stop(1, m.StopStatus.DONE), status=m.RouteStatus.CANCELLED)

    with pytest.raises(InvalidTransition, match="cancelled"):
        route.complete(at=AT)

    assert (route.status, route.completed_at) == (m.RouteStatus.CANCELLED, None)


# ---------------------------------------------------------------- driver events on a delivery


def test_mark_arrived_moves_to_arriving_and_records_the_stop() -> None:
    d = _delivery(DeliveryStatus.OUT_FOR_DELIVERY)

    d.mark_arrived(at=AT, driver_id=3, stop_id=30)

    assert d.status is DeliveryStatus.ARRIVING
    assert d.attempts == 0  # arriving is not an attempt
    changed, arrived = d.events
    assert isinstance(changed, DeliveryStatusChanged)
    assert (changed.old, changed.new) == ("out_for_delivery", "arriving")
    assert isinstance(arrived, DriverArrived)
    assert arrived.stop_id == 30
    assert arrived.actor is Actor.DRIVER and arrived.actor_id == "3"
    assert arrived.delivery_id == 5


def test_mark_delivered_counts_the_attempt_and_records_how() -> None:
    d = _delivery(DeliveryStatus.ARRIVING, option=m.DeliveryOption.SAFE_PLACE)

    d.mark_delivered(at=AT, driver_id=3, note="behind the bins")

    assert d.status is DeliveryStatus.DELIVERED
    assert d.attempts == 1
    changed, delivered = d.events
    assert isinstance(changed, DeliveryStatusChanged) and changed.new == "delivered"
    assert isinstance(delivered, ParcelDelivered)
    assert delivered.option == "safe_place"
    assert delivered.note == "behind the bins"
    assert delivered.actor is Actor.DRIVER and delivered.actor_id == "3"
    assert "behind the bins" in delivered.summary()


@pytest.mark.parametrize("option", [m.DeliveryOption.LOCKER, m.DeliveryOption.PICKUP_POINT])
def test_dropping_a_parcel_at_a_locker_makes_it_ready_for_pickup(option) -> None:  # type: ignore[no-untyped-def]
    d = _delivery(DeliveryStatus.ARRIVING, option=option, locker_id=9)

    d.mark_delivered(at=AT, driver_id=3)

    # Not "delivered": the recipient still has to collect it.
    assert d.status is DeliveryStatus.AT_LOCKER
    assert d.status_label == "Ready for pickup"
    assert d.attempts == 1
    changed, delivered = d.events
    assert isinstance(changed, DeliveryStatusChanged) and changed.new == "at_locker"
    assert isinstance(delivered, ParcelDelivered) and delivered.option == option.value


def test_mark_failed_records_reason_and_numbers_each_attempt() -> None:
    d = _delivery(DeliveryStatus.OUT_FOR_DELIVERY)

    d.mark_failed(at=AT, driver_id=3, reason="Nobody home")

    assert d.status is DeliveryStatus.FAILED
    assert d.attempts == 1
    changed, failed = d.events
    assert isinstance(changed, DeliveryStatusChanged)
    assert changed.reason == "Nobody home"
    assert isinstance(failed, DeliveryAttemptFailed)
    assert (failed.reason, failed.attempt) == ("Nobody home", 1)

    # Second day: rescheduled, out again, fails again → attempt 2.
    d.transition_to(DeliveryStatus.RESCHEDULED, at=AT, actor=Actor.CUSTOMER)
    d.transition_to(DeliveryStatus.OUT_FOR_DELIVERY, at=AT, actor=Actor.SYSTEM)
    d.mark_failed(at=AT + timedelta(days=1), driver_id=3, reason="Shop closed")
    assert d.attempts == 2
    assert isinstance(d.events[-1], DeliveryAttemptFailed)
    assert d.events[-1].attempt == 2


@pytest.mark.parametrize(
    "action",
    [
        lambda d: d.mark_delivered(at=AT, driver_id=3),
        lambda d: d.mark_failed(at=AT, driver_id=3, reason="Nobody home"),
        lambda d: d.mark_arrived(at=AT, driver_id=3, stop_id=30),
    ],
    ids=["delivered", "failed", "arrived"],
)
def test_driver_action_on_a_finished_parcel_is_refused_without_side_effects(action) -> None:  # type: ignore[no-untyped-def]
    d = _delivery(DeliveryStatus.DELIVERED, attempts=1)

    with pytest.raises(InvalidTransition):
        action(d)

    # A refused action must not count an attempt nor leave events behind.
    assert d.status is DeliveryStatus.DELIVERED
    assert d.attempts == 1
    assert d.events == []


def test_recipient_first_name_is_all_a_greeting_uses() -> None:
    assert _delivery(recipient_name="Grace Brewster Hopper").recipient_first_name == "Grace"
    assert _delivery(recipient_name="   ").recipient_first_name == ""
    assert _delivery(status=DeliveryStatus.AT_LOCKER).status_label == "Ready for pickup"


def test_a_door_is_served_inside_every_window_a_locker_before_the_earliest_end() -> None:
    nine, eleven, one, three = (datetime(2026, 11, 25, h, tzinfo=UTC) for h in (9, 11, 13, 15))
    windows = [(nine, one), (eleven, three)]
    assert m.stop_window(m.StopKind.ADDRESS, windows) == (eleven, one)
    assert m.stop_window(m.StopKind.LOCKER, windows) == (None, one)
    assert m.stop_window(m.StopKind.ADDRESS, [(None, None)]) == (None, None)


# ---------------------------------------------------------------- texts in the outbox

S = m.SmsStatus
LEASE = AT + timedelta(minutes=2)


def _text(status: m.SmsStatus = S.PENDING, **kw) -> m.OutboundSms:  # type: ignore[no-untyped-def]
    values = {
        "idempotency_key": "d5:dispatched:a1",
        "kind": "dispatched",
        "to": "+4915112345678",
        "body": "Your parcel is on its way",
        "created_at": AT,
        "delivery_id": 5,
        "status": status,
        "id": 12,
        **kw,
    }
    return m.OutboundSms(**values)


def _claimed(**kw) -> m.OutboundSms:  # type: ignore[no-untyped-def]
    """Return a text a sender holds until LEASE (the repository's claim sets exactly this)."""
    return _text(S.SENDING, next_attempt_at=LEASE, **kw)


def test_a_new_text_can_be_deferred_cancelled_or_failed_before_it_goes_out() -> None:
    held = _text()
    held.defer(AT + timedelta(hours=10))
    assert (held.status, held.next_attempt_at) == (S.DEFERRED, AT + timedelta(hours=10))

    for text, give_up, status in [
        (_text(), m.OutboundSms.cancel, S.CANCELLED),
        (_claimed(), m.OutboundSms.cancel, S.CANCELLED),
        (_text(), m.OutboundSms.fail, S.FAILED),
        (_claimed(), m.OutboundSms.fail, S.FAILED),
        (_text(S.DEFERRED, next_attempt_at=AT), m.OutboundSms.cancel, S.CANCELLED),
    ]:
        give_up(text, "the recipient texted STOP", at=AT)
        assert text.status is status
        assert text.error == "the recipient texted STOP"
        assert text.next_attempt_at is None  # never due again
        assert text.status_updated_at == AT


@pytest.mark.parametrize("status", [S.QUEUED, S.SENT, S.DELIVERED, S.UNDELIVERED, S.FAILED])
@pytest.mark.parametrize(
    "action",
    [
        lambda t: t.defer(AT),
        lambda t: t.cancel("too late to be useful", at=AT),
        lambda t: t.fail("gave up", at=AT),
    ],
    ids=["defer", "cancel", "fail"],
)
def test_a_text_the_provider_has_is_not_held_back_by_us(status, action) -> None:  # type: ignore[no-untyped-def]
    text = _text(status, provider_sid="SM1", sent_at=AT, error=None)

    with pytest.raises(InvalidTransition):
        action(text)

    assert (text.status, text.error, text.next_attempt_at) == (status, None, None)


def test_a_text_claimed_by_a_sender_counts_its_attempts_and_retries() -> None:
    text = _claimed()
    assert text.is_claimed_until(LEASE)
    assert not text.is_claimed_until(LEASE + timedelta(seconds=1))  # someone else's claim

    text.attempt()
    assert text.attempts == 1

    text.retry_at(AT + timedelta(seconds=30), error="503 from the provider")
    assert (text.status, text.next_attempt_at) == (S.PENDING, AT + timedelta(seconds=30))
    assert text.error == "503 from the provider"
    assert not text.is_claimed_until(LEASE)

    # Not claimed any more: no sender may count a try or retry it.
    with pytest.raises(InvalidTransition, match="not claimed"):
        text.attempt()
    with pytest.raises(InvalidTransition, match="not claimed"):
        text.retry_at(AT)
    assert (text.attempts, text.status) == (1, S.PENDING)


def test_a_try_that_may_have_gone_out_stays_claimed_until_someone_looks() -> None:
    text = _claimed(attempts=1)

    text.retry_at(AT + timedelta(minutes=1), error="timed out", in_doubt=True)

    assert text.status is S.SENDING  # not PENDING: it must not be resent blindly
    assert text.is_claimed_until(AT + timedelta(minutes=1))
    assert text.error == "timed out"

    # The provider never saw it: back in line now, the error kept for support.
    text.retry_at(AT + timedelta(minutes=1))
    assert (text.status, text.next_attempt_at) == (S.PENDING, AT + timedelta(minutes=1))
    assert text.error == "timed out"


def test_accepted_queues_the_text_once_and_keeps_the_first_send_time() -> None:
    text = _claimed(attempts=1, error="timed out")

    assert text.accepted("SM1", at=AT) is True

    assert (text.status, text.provider_sid, text.sent_at) == (S.QUEUED, "SM1", AT)
    assert (text.error, text.next_attempt_at, text.status_updated_at) == (None, None, AT)
    assert text.accepted("SM1", at=AT + timedelta(minutes=1)) is False
    assert text.sent_at == AT


def test_accepted_never_moves_a_text_backwards_nor_changes_its_provider_id() -> None:
    # The provider's "delivered" report beat the sender's own record of the send.
    text = _claimed()
    text.identify("SM1")
    assert text.apply_status(S.DELIVERED, at=AT) is True

    text.accepted("SM1", at=AT + timedelta(seconds=1))
    assert (text.status, text.sent_at) == (S.DELIVERED, AT + timedelta(seconds=1))

    with pytest.raises(InvalidTransition):
        text.accepted("SM2", at=AT)
    with pytest.raises(InvalidTransition):
        text.identify("SM2")
    assert text.provider_sid == "SM1"


def test_provider_reports_only_move_a_text_forward() -> None:
    text = _text(S.QUEUED, provider_sid="SM1")

    assert text.apply_status(S.SENT, at=AT) is True
    assert (text.status, text.status_updated_at) == (S.SENT, AT)
    assert text.apply_status(S.SENT, at=AT + timedelta(seconds=5)) is False  # duplicate
    assert text.apply_status(S.UNDELIVERED, at=AT + timedelta(seconds=9), error_code="30003")
    assert (text.status, text.error) == (S.UNDELIVERED, "provider error 30003")

    # A delivered text does not go back to sent, nor become undelivered after all.
    delivered = _text(S.DELIVERED, provider_sid="SM2", status_updated_at=AT)
    for late in (S.SENT, S.QUEUED, S.UNDELIVERED, S.FAILED):
        assert delivered.apply_status(late, at=AT + timedelta(hours=1), error_code="1") is False
    assert (delivered.status, delivered.status_updated_at, delivered.error) == (
        S.DELIVERED,
        AT,
        None,
    )
