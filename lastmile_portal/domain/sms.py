"""Text messages as the domain sees them: kinds, segments, quiet hours, keywords, provider words.

Pure standard library: the SMS provider, phone-number parsing and templates live behind ports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from .errors import InvalidInput
from .model import SmsStatus
from .status import EN_ROUTE, DeliveryStatus


class SmsSendError(Exception):
    """Raise when the provider did not take a text.

    ``permanent``: retrying cannot help (invalid number, recipient unsubscribed).
    ``in_doubt``: the request may have reached the provider (timeout, dropped connection),
    so look before sending again. ``opted_out``: the provider says the recipient sent STOP.
    """

    def __init__(
        self,
        message: str,
        permanent: bool = False,
        *,
        in_doubt: bool = False,
        opted_out: bool = False,
        rate_limited: bool = False,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent or opted_out
        self.in_doubt = in_doubt
        self.opted_out = opted_out
        self.rate_limited = rate_limited


class SendOutcome(StrEnum):
    """How one claimed text ended in an outbox run."""

    SENT = "sent"
    RECOVERED = "recovered"  # an earlier try had gone out after all
    DUPLICATE = "duplicate"  # it went out twice (a sender stalled past its lease)
    RETRYING = "retrying"
    RATE_LIMITED = "rate_limited"  # retried later, and the run stops
    FAILED = "failed"
    RELEASED = "released"  # in doubt, the provider never saw it: back in line
    SUPERSEDED = "superseded"  # another sender took it over meanwhile
    CANCELLED = "cancelled"  # must not go out (opted out, parcel already delivered...)
    DEFERRED = "deferred"  # quiet hours: held until morning


class MessageKind(StrEnum):
    """What a text is about; each kind has a template ``templates/sms/<kind>.txt``."""

    DISPATCHED = "dispatched"
    APPROACHING = "approaching"
    ARRIVED = "arrived"
    DELIVERED = "delivered"
    FAILED_ATTEMPT = "failed_attempt"
    # Template only until their features land (customer changes, lockers, proof, ratings).
    CHANGE_CONFIRMED = "change_confirmed"
    LOCKER_READY = "locker_ready"
    RATING_REQUEST = "rating_request"
    DELIVERED_WITH_PROOF = "delivered_with_proof"
    TRACKING_LINK = "tracking_link"  # support texts the link again (issue 14)


class ReplyKind(StrEnum):
    """Answers to a text the recipient sent us (``templates/sms/reply_<kind>.txt``)."""

    HELP = "reply_help"
    UNKNOWN_SENDER = "reply_unknown_sender"
    STOPPED = "reply_stopped"
    STARTED = "reply_started"
    ETA = "reply_eta"
    STATUS = "reply_status"
    SAFE_PLACE_SET = "reply_safe_place_set"
    RATED = "reply_rated"
    NOT_AVAILABLE = "reply_not_available"
    REFUSED = "reply_refused"
    # Numbered choices by text: an offer, then the digit that takes one.
    SLOTS_OFFERED = "reply_slots_offered"
    SLOT_MOVED = "reply_slot_moved"
    LOCKERS_OFFERED = "reply_lockers_offered"
    LOCKER_CHOSEN = "reply_locker_chosen"
    NO_CHOICES = "reply_no_choices"


# A recipient wants these even at night: the driver is about to ring, or they just acted.
URGENT: frozenset[str] = frozenset(
    {MessageKind.APPROACHING, MessageKind.ARRIVED, MessageKind.CHANGE_CONFIRMED}
)

# Only worth sending while the parcel is on its way, and only while still fresh.
EN_ROUTE_ONLY: frozenset[str] = frozenset(
    {MessageKind.DISPATCHED, MessageKind.APPROACHING, MessageKind.ARRIVED}
)
FRESH_FOR: dict[str, timedelta] = {
    MessageKind.APPROACHING: timedelta(minutes=30),
    MessageKind.ARRIVED: timedelta(minutes=15),
}

APPROACHING_STOPS = 2
APPROACHING_WITHIN = timedelta(minutes=15)
MAX_SEGMENTS = 2


def idempotency_key(delivery_id: int, kind: MessageKind, occasion: str | None = None) -> str:
    """Return the key that makes a text unique per delivery, kind and occasion."""
    return f"d{delivery_id}:{kind}" + (f":{occasion}" if occasion else "")


def attempt_occasion(attempt: int) -> str:
    """Return the occasion of delivery attempt number ``attempt`` (1 for the first).

    Texts about one attempt (dispatched, approaching, arrived, failed) go out once per
    attempt: a parcel re-delivered after a failure is texted again.
    """
    return f"a{attempt}"


APPROACHING_STOPS_WITHIN = timedelta(minutes=45)


def is_approaching(stops_before: int, eta: datetime, now: datetime) -> bool:
    """Return whether the driver is close enough to tell the recipient to get ready.

    Two stops away counts only when those stops are not hours of driving (a long rural
    leg): "get ready" three hours early helps nobody.
    """
    soon = eta - now
    return soon <= APPROACHING_WITHIN or (
        stops_before <= APPROACHING_STOPS and soon <= APPROACHING_STOPS_WITHIN
    )


def why_not_send(
    kind: str, status: DeliveryStatus, created_at: datetime, now: datetime
) -> str | None:
    """Return why a queued text should no longer go out, or None if it still should."""
    if kind in EN_ROUTE_ONLY and status not in EN_ROUTE:
        return f"no longer relevant: the parcel is now {status.value.replace('_', ' ')}"
    fresh = FRESH_FOR.get(kind)
    if fresh is not None and now - created_at > fresh:
        return "too late to be useful"
    return None


# ---------------------------------------------------------------- segments

# GSM 03.38 basic set (without the escape character) and the extension set, which costs two.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("\f^{}\\[~]|€")


@dataclass(frozen=True)
class Segments:
    """How a text travels: its encoding, its length in that encoding's units, its parts."""

    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    count: int


def is_gsm7(text: str) -> bool:
    """Return whether every character of ``text`` is in the GSM-7 alphabet."""
    return all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in text)


def count_segments(text: str) -> Segments:
    """Count the SMS parts ``text`` needs.

    One part holds 160 GSM-7 septets or 70 UCS-2 units; in a multi-part message the
    header leaves 153 or 67. An escaped GSM character or a surrogate pair is never
    split across two parts.
    """
    if is_gsm7(text):
        costs = [2 if c in GSM7_EXTENDED else 1 for c in text]
        encoding, single, multi = "GSM-7", 160, 153
    else:
        costs = [len(c.encode("utf-16-le")) // 2 for c in text]
        encoding, single, multi = "UCS-2", 70, 67
    units = sum(costs)
    if units <= single:
        return Segments(encoding, units, 1 if text else 0)
    parts, used = 1, 0
    for cost in costs:
        if used + cost > multi:
            parts, used = parts + 1, 0
        used += cost
    return Segments(encoding, units, parts)


def gsm_safe(text: str | None, max_length: int) -> str:
    """Return ``text`` cut to ``max_length`` if it is plain GSM-7, else "".

    One character outside GSM-7 makes the whole message UCS-2 and halves its room, so a
    name like "Łukasz" is left out of the greeting rather than doubling the cost.
    """
    text = " ".join((text or "").split())
    if not text or not is_gsm7(text):
        return ""
    return text if len(text) <= max_length else text[: max_length - 1].rstrip() + "."


# ---------------------------------------------------------------- quiet hours

_QUIET = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
QUIET_OFF = {"", "off", "none"}


@dataclass(frozen=True)
class QuietHours:
    """A daily span of local time without non-urgent texts; may cross midnight."""

    start: time
    end: time

    def until(self, now: datetime, timezone: str) -> datetime | None:
        """Return when the quiet span around ``now`` ends, or None if ``now`` is not in one."""
        local = now.astimezone(ZoneInfo(timezone))
        t = local.time().replace(tzinfo=None)
        if self.start < self.end:
            quiet = self.start <= t < self.end
            end_day = local.date()
        else:
            quiet = t >= self.start or t < self.end
            end_day = local.date() + timedelta(days=1) if t >= self.start else local.date()
        if not quiet:
            return None
        return datetime.combine(end_day, self.end, ZoneInfo(timezone)).astimezone(now.tzinfo)


def parse_quiet_hours(text: str | None) -> QuietHours | None:
    """Read "21:00-08:00" (local time); "", "off" or "none" mean no quiet hours."""
    if text is None or text.strip().lower() in QUIET_OFF:
        return None
    match = _QUIET.match(text)
    if match is None:
        raise InvalidInput(f"Quiet hours must look like 21:00-08:00, not {text!r}.")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise InvalidInput(f"Quiet hours {text!r} name a time that does not exist.")
    start, end = time(h1, m1), time(h2, m2)
    if start == end:
        raise InvalidInput("Quiet hours must start and end at different times.")
    return QuietHours(start, end)


# ---------------------------------------------------------------- retries

MAX_RETRY_DELAY_S = 3600.0


def retry_delay(attempt: int, base_s: float, spread: int = 0) -> timedelta:
    """Return the wait before attempt ``attempt + 1``: doubling from ``base_s``, capped at 1 h.

    ``spread`` (the message id) shifts each message by up to ±20 %, so a backlog left by
    a provider outage does not come back all in the same second.
    """
    jitter = 0.8 + 0.4 * ((spread * 2654435761) % 1000) / 1000
    seconds = min(base_s * 2 ** max(attempt - 1, 0), MAX_RETRY_DELAY_S)
    return timedelta(seconds=seconds * jitter)


# ---------------------------------------------------------------- provider status


# The provider's words for a text's status; which may follow which is the model's rule
# (OutboundSms.apply_status).
PROVIDER_STATUS: dict[str, SmsStatus] = {
    "accepted": SmsStatus.QUEUED,
    "scheduled": SmsStatus.QUEUED,
    "queued": SmsStatus.QUEUED,
    "sending": SmsStatus.QUEUED,  # the provider's "sending" is still before the carrier
    "sent": SmsStatus.SENT,
    "delivered": SmsStatus.DELIVERED,
    "read": SmsStatus.DELIVERED,
    "undelivered": SmsStatus.UNDELIVERED,
    "failed": SmsStatus.FAILED,
}


# ---------------------------------------------------------------- replies from recipients


class Keyword(StrEnum):
    """What a recipient's text asks for."""

    STOP = "stop"
    START = "start"
    HELP = "help"
    ETA = "eta"
    LOCKER = "locker"
    SAFE = "safe"
    DIGIT = "digit"
    UNCLEAR = "unclear"


# The carriers' and Twilio's opt-out words, plus German ones for our default region.
_SYNONYMS: dict[Keyword, tuple[str, ...]] = {
    Keyword.STOP: (
        "STOP", "STOPALL", "STOPP", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT",
        "REVOKE", "ABMELDEN",
    ),
    Keyword.START: ("START", "UNSTOP", "YES", "RESUME", "OPTIN", "ANMELDEN"),
    Keyword.HELP: ("HELP", "INFO", "HILFE"),
    Keyword.ETA: ("ETA", "WHEN", "WANN"),
    Keyword.LOCKER: ("LOCKER", "PACKSTATION"),
}  # fmt: skip
_WORDS = {word: keyword for keyword, words in _SYNONYMS.items() for word in words}


@dataclass(frozen=True)
class Command:
    """A parsed reply: the keyword and what followed it (the safe place, the digit)."""

    keyword: Keyword
    text: str = ""


def parse_reply(body: str) -> Command:
    """Read a recipient's text.

    Keywords count only as the whole message (so "don't stop" opts nobody out), in any
    case and with trailing punctuation; "SAFE <where>" carries a note; a lone digit is a
    choice or a rating.
    """
    text = " ".join(body.split())
    word = re.sub(r"[^A-Za-z0-9-]", "", text).upper().replace("-", "")
    if word in _WORDS and len(text) <= len(word) + 3:
        return Command(_WORDS[word])
    if re.fullmatch(r"[1-9][.!]?", text):
        return Command(Keyword.DIGIT, text[0])
    first, _, rest = text.partition(" ")
    if first.rstrip(":").upper() == "SAFE":
        return Command(Keyword.SAFE, rest.strip())
    return Command(Keyword.UNCLEAR, text)
