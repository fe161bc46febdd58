"""ETA windows: honest and wide early on, ±5 minutes when the driver is next door."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lastmile_portal.domain.eta import MAX_HALF_WIDTH, MIN_HALF_WIDTH, eta_window

ARRIVAL = datetime(2026, 11, 25, 11, 30, tzinfo=UTC)


def width(stops_before: int) -> timedelta:
    earliest, latest = eta_window(ARRIVAL, stops_before)
    return latest - earliest


@pytest.mark.parametrize("stops_before", [0, 1, 2, 5, 10, 19, 20, 21, 50, 500])
def test_window_contains_the_planned_arrival(stops_before: int) -> None:
    earliest, latest = eta_window(ARRIVAL, stops_before)
    assert earliest < ARRIVAL < latest
    assert earliest.tzinfo is not None and latest.tzinfo is not None


def test_window_narrows_as_the_driver_gets_closer() -> None:
    widths = [width(n) for n in range(30, -1, -1)]
    for farther, closer in zip(widths, widths[1:], strict=False):
        assert closer <= farther
    assert widths[-1] < widths[0]
    # Strictly narrower with each stop while below the cap.
    assert width(3) < width(4) < width(5)


def test_next_stop_gets_the_tightest_window_of_ten_minutes() -> None:
    earliest, latest = eta_window(ARRIVAL, 0)
    assert latest - earliest == 2 * MIN_HALF_WIDTH == timedelta(minutes=10)


def test_window_is_capped_however_many_stops_remain() -> None:
    cap = width(10_000)
    assert cap == 2 * MAX_HALF_WIDTH == timedelta(minutes=90)
    assert width(100) == cap
    assert all(width(n) <= cap for n in range(0, 200))


def test_window_leans_late_because_drivers_run_late_more_than_early() -> None:
    for n in (0, 5, 50):
        earliest, latest = eta_window(ARRIVAL, n)
        assert latest - ARRIVAL > ARRIVAL - earliest


def test_negative_stops_before_is_treated_as_next() -> None:
    assert eta_window(ARRIVAL, -3) == eta_window(ARRIVAL, 0)
