"""The change cut-off: when a recipient may still move or redirect a parcel, and why not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lastmile_portal.domain.policy import ChangePolicy, change_window, reschedule_window
from lastmile_portal.domain.status import DeliveryStatus as S

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
POLICY = ChangePolicy(cutoff_stops=2, cutoff_minutes=30, max_reschedules=2)


def test_a_parcel_on_no_route_yet_can_change_with_no_countdown() -> None:
    window = change_window(POLICY, status=S.CREATED, now=NOW)
    assert window.open and window.closes_at is None and window.reason is None


def test_changes_close_thirty_minutes_before_the_live_eta_and_say_when() -> None:
    eta = NOW + timedelta(minutes=90)
    window = change_window(
        POLICY, status=S.OUT_FOR_DELIVERY, now=NOW, stops_before=6, expected_arrival=eta
    )
    assert window.open and window.closes_at == NOW + timedelta(minutes=60)

    late = change_window(
        POLICY,
        status=S.OUT_FOR_DELIVERY,
        now=NOW,
        stops_before=6,
        expected_arrival=NOW + timedelta(minutes=30),
    )
    assert late.closed and "within 30 minutes" in (late.reason or "")


@pytest.mark.parametrize(("stops_before", "words"), [(0, "the next stop"), (1, "2 stops away")])
def test_changes_close_when_the_driver_is_a_stop_or_two_away(stops_before: int, words: str) -> None:
    window = change_window(
        POLICY,
        status=S.OUT_FOR_DELIVERY,
        now=NOW,
        stops_before=stops_before,
        expected_arrival=NOW + timedelta(hours=2),
    )
    assert window.closed and words in (window.reason or "")
    assert change_window(
        POLICY,
        status=S.OUT_FOR_DELIVERY,
        now=NOW,
        stops_before=2,
        expected_arrival=NOW + timedelta(hours=2),
    ).open


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (S.ARRIVING, "arriving now"),
        (S.DELIVERED, "delivered"),
        (S.AT_LOCKER, "ready for pickup"),
        (S.CANCELLED, "cancelled"),
    ],
)
def test_a_parcel_past_changing_says_why(status: S, words: str) -> None:
    window = change_window(POLICY, status=status, now=NOW)
    assert window.closed and words in (window.reason or "").lower()


def test_a_failed_attempt_can_be_fixed_whatever_the_old_eta_said() -> None:
    window = change_window(
        POLICY,
        status=S.FAILED,
        now=NOW,
        stops_before=0,
        expected_arrival=NOW - timedelta(minutes=5),
    )
    assert window.open


def test_a_parcel_moved_twice_cannot_be_moved_again_but_may_still_change() -> None:
    open_window = change_window(POLICY, status=S.SCHEDULED, now=NOW)
    assert reschedule_window(POLICY, open_window, 1).open
    third = reschedule_window(POLICY, open_window, 2)
    assert third.closed and "moved 2 times" in (third.reason or "")
    closed = change_window(POLICY, status=S.DELIVERED, now=NOW)
    assert reschedule_window(POLICY, closed, 0) is closed


def test_before_dispatch_nothing_is_close_yet() -> None:
    window = change_window(
        POLICY,
        status=S.SCHEDULED,
        now=NOW,
        stops_before=0,
        expected_arrival=NOW + timedelta(minutes=20),
    )
    assert window.open
