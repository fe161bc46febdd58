"""Support's one search box: what kind of query was typed, and text folded for matching.

``classify`` is pure: it decides from the typed characters alone whether a query is a
tracking number, a phone number, a postcode, a carrier's reference, a street or a name.
``fold`` is how names and streets are stored for searching (the ``search_name`` and
``search_street`` columns) and how a typed name is compared with them: lower case, accents
and ß folded, punctuation gone — "Müller-Lüdenscheidt" and "muller ludenscheidt" match.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

MAX_QUERY = 200
# Trigram indexes need three characters to narrow anything; shorter text would scan.
MIN_TEXT = 3

_TRACKING = re.compile(r"LM\d{10}")
_PHONE_CHARS = re.compile(r"[\s\-/().]")
_PHONE = re.compile(r"(\+|00|0)\d{5,16}")
_POSTCODE = re.compile(r"\d{5}")
_STRASSE = re.compile(r"strasse\b")
_STREET_WORDS = re.compile(
    r"(str\.?|strasse|straße|weg|platz|allee|gasse|damm|ufer|ring|chaussee|markt)\b"
)


class QueryKind(StrEnum):
    """What a support query is looking for."""

    TRACKING = "tracking"
    PHONE = "phone"
    POSTCODE = "postcode"
    REFERENCE = "reference"
    STREET = "street"
    NAME = "name"
    TOO_SHORT = "too_short"


@dataclass(frozen=True)
class Query:
    """A classified query: its kind and the text to match (normalised for that kind)."""

    kind: QueryKind
    text: str


def fold(text: str | None) -> str:
    """Return ``text`` folded for matching: lower case, no accents, words split by one space."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w]+", " ", bare).split())


def fold_street(text: str | None) -> str:
    """Return a street folded for matching, "strasse" shortened to "str" as people write it.

    "Hauptstraße 5", "Hauptstr. 5" and "hauptstrasse 5" all become "hauptstr 5"; the short
    form also spares the trigram index the five trigrams of "strasse", found in most rows.
    """
    return _STRASSE.sub("str", fold(text))


def classify(raw: str) -> Query:
    """Return what ``raw`` (as typed in the search box) is most likely to be.

    A tracking number is ``LM`` and ten digits (any case, spaces ignored); a phone number
    starts with +, 00 or 0 followed by digits, with spaces, dashes, slashes, dots or
    brackets anywhere; five digits are a postcode; one word with a digit in it is a
    carrier's reference; words with a house number or a street word (…straße, …weg,
    …platz) are a street; other text is a name. Text shorter than MIN_TEXT is TOO_SHORT.
    """
    text = " ".join(raw.split())[:MAX_QUERY]
    compact = text.replace(" ", "")
    if _TRACKING.fullmatch(compact.upper()):
        return Query(QueryKind.TRACKING, compact.upper())
    phone = _PHONE_CHARS.sub("", text)
    if _PHONE.fullmatch(phone) and not _POSTCODE.fullmatch(phone):
        return Query(QueryKind.PHONE, text)
    if _POSTCODE.fullmatch(compact):
        return Query(QueryKind.POSTCODE, compact)
    if " " not in text and any(c.isdigit() for c in text) and len(text) >= MIN_TEXT:
        return Query(QueryKind.REFERENCE, text)
    folded = fold(text)
    if len(folded.replace(" ", "")) < MIN_TEXT:
        return Query(QueryKind.TOO_SHORT, folded)
    if any(c.isdigit() for c in folded) or _STREET_WORDS.search(folded):
        return Query(QueryKind.STREET, fold_street(text))
    return Query(QueryKind.NAME, folded)


@dataclass(frozen=True)
class Found:
    """One delivery in the search results: who, where, its state, window and driver."""

    tracking_number: str
    recipient_name: str
    phone: str
    address_line: str
    postcode: str
    city: str
    status: str
    service_date: date | None
    window_start: datetime | None
    window_end: datetime | None
    driver_name: str | None
    reference: str | None
