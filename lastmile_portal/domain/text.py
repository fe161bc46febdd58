"""Free text from people (texts, notes, names): what may be stored and shown of it."""

from __future__ import annotations

import unicodedata

# Bidirectional overrides and isolates can make a stored note read differently on a
# support screen than what was typed ("Trojan Source"); zero-width joiners in emoji stay.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def printable(text: str) -> str:
    """Return ``text`` as one line of printable characters (NFC, whitespace collapsed).

    Control characters (NUL included, which PostgreSQL cannot store), unpaired surrogates,
    bidirectional controls and non-characters are removed; line breaks and tabs become
    spaces.
    """
    kept = []
    for char in unicodedata.normalize("NFC", text):
        category = unicodedata.category(char)
        if char.isspace():
            kept.append(" ")
        elif category in ("Cc", "Cs") or char in _BIDI_CONTROLS or _is_noncharacter(char):
            continue
        else:
            kept.append(char)
    return " ".join("".join(kept).split())


def _is_noncharacter(char: str) -> bool:
    code = ord(char)
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE
