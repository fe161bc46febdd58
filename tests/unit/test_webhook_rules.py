"""Webhook rules without a database: event names, URLs, the ETA threshold, backoff."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lastmile_portal.config import ConfigError, load_settings
from lastmile_portal.domain import webhooks as wh
from lastmile_portal.domain.errors import InvalidInput


def test_event_types_are_the_documented_four_and_unknown_ones_are_named() -> None:
    assert set(wh.EVENT_TYPES) == {
        "delivery.status_changed",
        "delivery.eta_changed",
        "delivery.proof_added",
        "delivery.attempt_failed",
    }
    assert wh.parse_event_types(" delivery.proof_added,delivery.status_changed ,") == {
        "delivery.proof_added",
        "delivery.status_changed",
    }
    with pytest.raises(InvalidInput, match="delivery.deleted"):
        wh.parse_event_types("delivery.status_changed,delivery.deleted")
    with pytest.raises(InvalidInput, match="at least one"):
        wh.parse_event_types(" , ")


@pytest.mark.parametrize(
    "url",
    ["ftp://carrier.example/hook", "javascript:alert(1)", "carrier.example/hook", "file:///etc"],
)
def test_only_http_and_https_urls_are_taken(url: str) -> None:
    with pytest.raises(InvalidInput, match="http:// or https://"):
        wh.check_url(url)


def test_a_url_needs_a_host_and_no_credentials() -> None:
    assert (
        wh.check_url(" https://carrier.example/hooks?x=1 ") == "https://carrier.example/hooks?x=1"
    )
    with pytest.raises(InvalidInput, match="host"):
        wh.check_url("https:///hook")
    with pytest.raises(InvalidInput, match="password"):
        wh.check_url("https://user:pw@carrier.example/hook")


def _window(start_min: int, end_min: int) -> dict[str, str]:
    base = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    return {
        "expected": wh.iso(base + timedelta(minutes=(start_min + end_min) / 2)),
        "earliest": wh.iso(base + timedelta(minutes=start_min)),
        "latest": wh.iso(base + timedelta(minutes=end_min)),
    }


def test_an_eta_move_counts_only_beyond_the_threshold_on_either_edge() -> None:
    told = _window(0, 30)

    assert wh.eta_moved(None, told, 10)  # never told: always told
    assert not wh.eta_moved(told, _window(10, 40), 10)  # exactly 10: not more than 10
    assert wh.eta_moved(told, _window(11, 41), 10)
    assert wh.eta_moved(told, _window(0, 45), 10)  # only the end moved
    assert wh.eta_moved(told, _window(-15, 30), 10)  # earlier counts too
    assert wh.eta_moved(told, _window(1, 31), 0)


def test_retries_double_and_stop_at_the_cap() -> None:
    delays = [wh.retry_delay(n, 30, 3600).total_seconds() for n in range(1, 10)]

    # 30 s doubling; spread 0 is the -20 % end of the jitter.
    assert delays[:4] == [24, 48, 96, 192]
    assert delays[-2:] == [3600 * 0.8] * 2  # capped at an hour
    spread = {wh.retry_delay(3, 30, 3600, spread=i).total_seconds() for i in range(50)}
    assert min(spread) >= 96 and max(spread) <= 144 and len(spread) > 10


def test_the_body_is_compact_sorted_json_with_the_contract_fields() -> None:
    body = wh.payload_body(
        event_id="evt_1",
        event_type=wh.STATUS_CHANGED,
        created_at=datetime(2026, 11, 25, 9, 0, tzinfo=UTC),
        tracking_number="LM1",
        reference=None,
        status="delivered",
        data={"old": "arriving", "new": "delivered"},
    )

    document = json.loads(body)
    assert document == {
        "id": "evt_1",
        "type": "delivery.status_changed",
        "created_at": "2026-11-25T09:00:00Z",
        "delivery": {"tracking_number": "LM1", "status": "delivered"},
        "data": {"old": "arriving", "new": "delivered"},
    }
    assert body == json.dumps(document, separators=(",", ":"), sort_keys=True)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEBHOOK_ETA_MINUTES", "-1"),
        ("WEBHOOK_MAX_ATTEMPTS", "0"),
        ("WEBHOOK_MAX_ATTEMPTS", "many"),
        ("WEBHOOK_RETRY_SECONDS", "0"),
        ("WEBHOOK_RETRY_MAX_SECONDS", "10"),
        ("WEBHOOK_TIMEOUT", "120"),
        ("WEBHOOK_SWEEP_SECONDS", "-5"),
    ],
)
def test_bad_webhook_settings_name_the_variable(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({"INSTANCE_DIR": str(tmp_path), name: value})


def test_webhook_settings_take_a_value_and_keep_their_defaults(tmp_path: Path) -> None:
    s = load_settings({"INSTANCE_DIR": str(tmp_path), "WEBHOOK_ETA_MINUTES": "15"})

    assert s.webhook_eta_minutes == 15 and s.webhook_max_attempts == 12
