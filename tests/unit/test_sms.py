"""SMS rules in the domain: segments, quiet hours, keywords, status order, backoff."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from lastmile_portal.domain.errors import InvalidInput
from lastmile_portal.domain.model import SmsStatus, sms_status_after
from lastmile_portal.domain.sms import (
    Keyword,
    MessageKind,
    count_segments,
    gsm_safe,
    is_approaching,
    parse_quiet_hours,
    parse_reply,
    retry_delay,
    why_not_send,
)
from lastmile_portal.domain.status import DeliveryStatus

# ---------------------------------------------------------------- segments


@pytest.mark.parametrize(
    ("text", "encoding", "units", "parts"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # the extension table costs two septets each
        ("€" * 81, "GSM-7", 162, 2),
        ("Grüße aus Köln, Straße 5 @ 10:00 £ ¥ ñ å Ø É ß", "GSM-7", 46, 1),
        ("ł" * 70, "UCS-2", 70, 1),
        ("ł" * 71, "UCS-2", 71, 2),
        ("ł" * 134, "UCS-2", 134, 2),
        ("ł" * 135, "UCS-2", 135, 3),
        ("📦" * 35, "UCS-2", 70, 1),  # outside the BMP: two UTF-16 units each
        ("a" * 159 + "–", "UCS-2", 160, 3),  # one en dash makes it all UCS-2
    ],
)
def test_count_segments(text: str, encoding: str, units: int, parts: int) -> None:
    segments = count_segments(text)
    assert (segments.encoding, segments.units, segments.count) == (encoding, units, parts)


def test_an_escaped_character_is_never_split_across_two_parts() -> None:
    # 152 plain septets leave one septet in part one: "€" (two septets) moves to part two.
    assert count_segments("a" * 152 + "€" + "a" * 152).count == 3
    assert count_segments("a" * 151 + "€" + "a" * 153).count == 2


def test_a_surrogate_pair_is_never_split_across_two_parts() -> None:
    assert count_segments("ł" * 66 + "📦" + "ł" * 66).count == 3
    assert count_segments("ł" * 65 + "📦" + "ł" * 67).count == 2


def test_gsm_safe_keeps_plain_names_and_drops_ones_that_would_force_ucs2() -> None:
    assert gsm_safe("Jürgen", 20) == "Jürgen"
    assert gsm_safe("Łukasz", 20) == ""
    assert gsm_safe("  Ada   Lovelace ", 20) == "Ada Lovelace"
    assert gsm_safe("Maximilian-Alexander", 10) == "Maximilia."
    assert gsm_safe(None, 10) == ""


# ---------------------------------------------------------------- quiet hours

BERLIN = "Europe/Berlin"


def at_berlin(hour: int, minute: int = 0, day: int = 25) -> datetime:
    # November: Berlin is UTC+1.
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC) - timedelta(hours=1)


@pytest.mark.parametrize(
    ("now", "until"),
    [
        (at_berlin(20, 59), None),
        (at_berlin(21, 0), at_berlin(8, 0, day=26)),
        (at_berlin(23, 30), at_berlin(8, 0, day=26)),
        (at_berlin(3, 0), at_berlin(8, 0)),
        (at_berlin(7, 59), at_berlin(8, 0)),
        (at_berlin(8, 0), None),
        (at_berlin(12, 0), None),
    ],
)
def test_quiet_hours_across_midnight(now: datetime, until: datetime | None) -> None:
    quiet = parse_quiet_hours("21:00-08:00")
    assert quiet is not None
    assert quiet.until(now, BERLIN) == until


def test_quiet_hours_within_a_day() -> None:
    quiet = parse_quiet_hours("12:30-14:00")
    assert quiet is not None
    assert quiet.until(at_berlin(13), BERLIN) == at_berlin(14)
    assert quiet.until(at_berlin(14), BERLIN) is None


def test_quiet_hours_end_at_local_time_across_a_dst_change() -> None:
    # 29 March 2026: Berlin moves from UTC+1 to UTC+2 at 02:00 local.
    quiet = parse_quiet_hours("21:00-08:00")
    assert quiet is not None
    night = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)  # 23:00 local
    assert quiet.until(night, BERLIN) == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", "off", "None", None])
def test_quiet_hours_can_be_off(text: str | None) -> None:
    assert parse_quiet_hours(text) is None


@pytest.mark.parametrize("text", ["21-08", "25:00-08:00", "21:00-08:61", "08:00-08:00", "late"])
def test_bad_quiet_hours_are_rejected(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_quiet_hours(text)


def test_parsed_quiet_hours() -> None:
    quiet = parse_quiet_hours(" 9:15 - 7:05 ")
    assert quiet is not None and (quiet.start, quiet.end) == (time(9, 15), time(7, 5))


# ---------------------------------------------------------------- keywords


@pytest.mark.parametrize(
    ("body", "keyword", "text"),
    [
        ("STOP", Keyword.STOP, ""),
        ("  stop. ", Keyword.STOP, ""),
        ("Unsubscribe", Keyword.STOP, ""),
        ("opt-out", Keyword.STOP, ""),
        ("STOPP", Keyword.STOP, ""),
        ("cancel", Keyword.STOP, ""),
        ("start", Keyword.START, ""),
        ("UNSTOP", Keyword.START, ""),
        ("help?", Keyword.HELP, ""),
        ("Hilfe", Keyword.HELP, ""),
        ("eta", Keyword.ETA, ""),
        ("When?", Keyword.ETA, ""),
        ("locker", Keyword.LOCKER, ""),
        ("SAFE behind the green bin", Keyword.SAFE, "behind the green bin"),
        ("safe: in the garage", Keyword.SAFE, "in the garage"),
        ("SAFE", Keyword.SAFE, ""),
        ("5", Keyword.DIGIT, "5"),
        (" 2! ", Keyword.DIGIT, "2"),
        ("don't stop the delivery", Keyword.UNCLEAR, "don't stop the delivery"),
        ("STOP please", Keyword.UNCLEAR, "STOP please"),
        ("10", Keyword.UNCLEAR, "10"),
        ("safety first", Keyword.UNCLEAR, "safety first"),
    ],
)
def test_parse_reply(body: str, keyword: Keyword, text: str) -> None:
    command = parse_reply(body)
    assert (command.keyword, command.text) == (keyword, text)


# ---------------------------------------------------------------- status order, staleness


@pytest.mark.parametrize(
    ("current", "reported", "result"),
    [
        (SmsStatus.SENDING, SmsStatus.QUEUED, SmsStatus.QUEUED),
        (SmsStatus.QUEUED, SmsStatus.SENT, SmsStatus.SENT),
        (SmsStatus.SENT, SmsStatus.DELIVERED, SmsStatus.DELIVERED),
        (SmsStatus.QUEUED, SmsStatus.DELIVERED, SmsStatus.DELIVERED),  # "sent" came late
        (SmsStatus.DELIVERED, SmsStatus.SENT, None),  # ... and is ignored
        (SmsStatus.SENT, SmsStatus.SENT, None),  # duplicate
        (SmsStatus.DELIVERED, SmsStatus.UNDELIVERED, None),
        (SmsStatus.SENT, SmsStatus.UNDELIVERED, SmsStatus.UNDELIVERED),
        (SmsStatus.CANCELLED, SmsStatus.DELIVERED, None),
    ],
)
def test_reports_only_move_a_text_forward(
    current: SmsStatus, reported: SmsStatus, result: SmsStatus | None
) -> None:
    assert sms_status_after(current, reported) == result


def test_retry_delay_doubles_up_to_an_hour_with_a_spread() -> None:
    delays = [retry_delay(n, 30, spread=0).total_seconds() for n in range(1, 10)]
    assert delays[:4] == [24.0, 48.0, 96.0, 192.0]  # spread 0 is the -20 % end
    assert max(delays) == 3600 * 0.8
    spreads = {retry_delay(1, 30, spread=i).total_seconds() for i in range(50)}
    assert len(spreads) > 10 and min(spreads) >= 24 and max(spreads) <= 36


def test_en_route_texts_lapse_once_the_parcel_arrived_or_got_old() -> None:
    now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    out = DeliveryStatus.OUT_FOR_DELIVERY
    assert why_not_send(MessageKind.DISPATCHED, out, now, now) is None
    assert "delivered" in (
        why_not_send(MessageKind.DISPATCHED, DeliveryStatus.DELIVERED, now, now) or ""
    )
    old = now - timedelta(minutes=31)
    assert why_not_send(MessageKind.APPROACHING, out, old, now) == "too late to be useful"
    assert why_not_send(MessageKind.DELIVERED, DeliveryStatus.DELIVERED, old, now) is None


def test_approaching_means_two_stops_or_fifteen_minutes() -> None:
    now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    assert is_approaching(2, now + timedelta(minutes=40), now)
    assert is_approaching(5, now + timedelta(minutes=15), now)
    assert not is_approaching(3, now + timedelta(minutes=16), now)
    # Two stops away but hours of driving (the demo once texted "about 211 min away").
    assert not is_approaching(2, now + timedelta(hours=3), now)
