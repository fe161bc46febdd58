"""The live events' payloads: one shape each, whatever produced the values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lastmile_portal.domain import live_payloads as payloads
from lastmile_portal.domain.eta import ETA_CONFIDENCE

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def test_an_eta_reads_the_same_from_times_and_from_stored_text() -> None:
    from_times = payloads.eta(
        expected=AT, earliest=AT - timedelta(minutes=5), latest=AT + timedelta(minutes=10),
        stops_before=3, plan_version=2,
    )  # fmt: skip
    from_text = payloads.eta(
        expected=AT.isoformat(),
        earliest=(AT - timedelta(minutes=5)).isoformat(),
        latest=(AT + timedelta(minutes=10)).isoformat(),
        stops_before=3,
        plan_version=2,
    )

    assert (
        from_times
        == from_text
        == {
            "expected": "2026-11-25T09:00:00+00:00",
            "earliest": "2026-11-25T08:55:00+00:00",
            "latest": "2026-11-25T09:10:00+00:00",
            "confidence": ETA_CONFIDENCE,
            "stops_before": 3,
            "plan_version": 2,
        }
    )


def test_a_live_position_is_fresh_and_a_stored_one_says_whether_it_is() -> None:
    assert payloads.position(52.5, 13.4, AT) == {
        "lat": 52.5,
        "lng": 13.4,
        "at": "2026-11-25T09:00:00+00:00",
        "stale": False,
    }
    assert payloads.position(52.5, 13.4, AT, stale=True)["stale"] is True


def test_a_status_carries_its_words() -> None:
    assert payloads.status("delivered", "Delivered", AT) == {
        "status": "delivered",
        "label": "Delivered",
        "at": "2026-11-25T09:00:00+00:00",
    }
