"""A failed delivery attempt: the reasons a driver can give on the phone or the page."""

from __future__ import annotations

# What a driver may type: the note on a failed attempt, the name of who took the parcel.
MAX_NOTE = 280
MAX_RECIPIENT_NAME = 120

# Key (what a phone sends) -> the words stored on the timeline and read by the recipient.
FAILURE_REASONS: dict[str, str] = {
    "not_home": "Nobody home",
    "no_access": "No access to the building",
    "address_not_found": "Address not found",
    "refused": "Refused by the recipient",
    "damaged": "Parcel damaged",
    "unsafe": "Unsafe to deliver",
}


def failure_text(reason: str, note: str = "") -> str:
    """Return the stored text of a failed attempt: the reason's words, then the driver's note."""
    words = FAILURE_REASONS[reason]
    note = note.strip()
    return f"{words}: {note}" if note else words
