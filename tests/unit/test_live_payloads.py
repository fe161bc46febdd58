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


def test_a_snapshot_carries_every_part_in_the_same_shapes_as_the_live_events() -> None:
    earliest, latest = AT - timedelta(minutes=5), AT + timedelta(minutes=10)

    snap = payloads.snapshot(
        generated_at=AT,
        plan_version=3,
        status="out_for_delivery",
        label="Out for delivery",
        window=(AT, AT + timedelta(hours=3)),
        eta_window=(AT, earliest, latest),
        stops_before=2,
        destination=(52.52, 13.40),
        driver=(52.5, 13.4, AT, True),
        driver_hidden_until_stops=None,
        history=[("out_for_delivery", "Out for delivery", AT)],
        finished=False,
    )

    assert snap == {
        "version": int(AT.timestamp() * 1000),
        "plan_version": 3,
        "status": "out_for_delivery",
        "label": "Out for delivery",
        "window": {"start": "2026-11-25T09:00:00+00:00", "end": "2026-11-25T12:00:00+00:00"},
        "eta": payloads.eta(
            expected=AT, earliest=earliest, latest=latest, stops_before=2, plan_version=3
        ),
        "stops_before": 2,
        "destination": {"lat": 52.52, "lng": 13.40},
        "position": payloads.position(52.5, 13.4, AT, stale=True),
        "driver_hidden_until_stops": None,
        "history": [
            {
                "status": "out_for_delivery",
                "label": "Out for delivery",
                "at": "2026-11-25T09:00:00+00:00",
            }
        ],
        "finished": False,
        "proof": None,  # a proof payload once the driver's photos show (tests/web/test_proof_page)
    }


def test_a_snapshot_without_both_bounds_or_a_visible_driver_has_no_eta_and_no_position() -> None:
    snap = payloads.snapshot(
        generated_at=AT,
        plan_version=None,
        status="created",
        label="Order received",
        window=(None, None),
        eta_window=(None, AT, None),
        stops_before=None,
        destination=(52.52, 13.40),
        driver=None,
        driver_hidden_until_stops=5,
        history=[],
        finished=False,
    )

    assert snap["eta"] is None and snap["position"] is None
    assert snap["window"] == {"start": None, "end": None}
    assert snap["driver_hidden_until_stops"] == 5
