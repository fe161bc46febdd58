"""How the recipient wants the parcel handed over, and which texts they want: the rules.

Pure values and checks; ``Delivery`` applies them (``give_instructions``, ``choose_trunk``,
``set_text_preferences``). Every refusal is an ``InvalidInput`` whose message tells the
recipient what to type instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import InvalidInput
from .status import CHANGEABLE, LABELS, DeliveryStatus
from .text import printable

# ---------------------------------------------------------------- safe places and neighbours

# Where a parcel may be left when nobody opens: the page offers these, the driver reads the
# label. "in_person" (hand it over only) and "neighbour" are the other two choices.
SAFE_PLACES: dict[str, str] = {
    "front_door": "Front door",
    "back_door": "Back door",
    "porch": "Porch",
    "garage": "Garage",
    "reception": "Reception / concierge",
}
IN_PERSON = "in_person"
NEIGHBOUR = "neighbour"
KEEP_CURRENT = "current"  # a safe place described by text (SMS SAFE), kept as it is
NOTE_MAX = 280
NEIGHBOUR_NAME_LENGTH = (2, 60)
_HOUSE_NUMBER = re.compile(r"^[0-9]{1,4}[A-Za-z]?(?:[ /-][0-9A-Za-z]{1,4})?$")
_NEIGHBOUR_JOIN = ", no. "

# Door, gate or building codes; the kind is stored with the (encrypted) code, so the driver
# reads "Gate code: 4711".
ACCESS_KINDS: dict[str, str] = {
    "gate": "Gate code",
    "door": "Door code",
    "building": "Building code",
}
ACCESS_CODE_LENGTH = (2, 16)
_ACCESS_CODE = re.compile(r"^[0-9A-Za-z#*-]+$")
MASK = "••••"


def handover_refusal(status: DeliveryStatus, at_locker: bool) -> str | None:
    """Return why hand-over instructions cannot change now, or None if they can.

    Instructions reach the driver's phone the moment they are saved and change no plan,
    so they stay open until the driver is at the door (not closed by the re-plan cut-off).
    """
    if status is DeliveryStatus.ARRIVING:
        return "The driver is at your door now: it is too late to change where it is left."
    if status not in CHANGEABLE:
        return (
            f"Your parcel is {LABELS[status].lower()}: it is too late to change where it is left."
        )
    if at_locker:
        return "This parcel goes to a locker, so it needs no hand-over instructions."
    return None


@dataclass(frozen=True)
class HandOver:
    """What the recipient asked for, checked: where, a note, an access code."""

    option: str  # a DeliveryOption value: "door", "safe_place" or "neighbour"
    safe_place: str | None
    neighbour: str | None
    note: str | None
    access_code: str | None  # stored form "Gate code: 4711"; None with keep_code: unchanged
    keep_code: bool


def hand_over(
    place: str,
    *,
    current_safe_place: str | None = None,
    neighbour_name: str = "",
    neighbour_number: str = "",
    note: str = "",
    code_kind: str = "",
    code: str = "",
    remove_code: bool = False,
) -> HandOver:
    """Check the instructions form and return what to store.

    An empty code field keeps the saved code (the page never shows it back); ``remove_code``
    deletes it.
    """
    safe_place = neighbour = None
    if place == IN_PERSON:
        option = "door"
    elif place in SAFE_PLACES:
        option, safe_place = "safe_place", SAFE_PLACES[place]
    elif place == KEEP_CURRENT and current_safe_place:
        option, safe_place = "safe_place", current_safe_place
    elif place == NEIGHBOUR:
        option, neighbour = "neighbour", neighbour_text(neighbour_name, neighbour_number)
    else:
        raise InvalidInput("Choose where the driver may leave the parcel.")
    text = printable(note)
    if len(text) > NOTE_MAX:
        raise InvalidInput(
            f"The note for the driver is {len(text)} characters long; please keep it to {NOTE_MAX}."
        )
    stored, keep = access_code_text(code_kind, code, remove=remove_code)
    return HandOver(
        option=option,
        safe_place=safe_place,
        neighbour=neighbour,
        note=text or None,
        access_code=stored,
        keep_code=keep,
    )


def neighbour_text(name: str, number: str) -> str:
    """Return "Mrs Kaya, no. 12" from the neighbour's name and house number, checked."""
    who = printable(name)
    shortest, longest = NEIGHBOUR_NAME_LENGTH
    if not shortest <= len(who) <= longest:
        raise InvalidInput(
            f"Give your neighbour's name ({shortest} to {longest} characters), "
            "as on their doorbell."
        )
    house = printable(number)
    if not _HOUSE_NUMBER.match(house):
        raise InvalidInput("Give your neighbour's house number, e.g. 12, 12a or 12/3.")
    return f"{who}{_NEIGHBOUR_JOIN}{house}"


def split_neighbour(text: str | None) -> tuple[str, str]:
    """Return (name, house number) of a stored neighbour, for the form."""
    if not text:
        return "", ""
    name, _, number = text.rpartition(_NEIGHBOUR_JOIN)
    return (name, number) if name else (text, "")


def access_code_text(kind: str, code: str, *, remove: bool = False) -> tuple[str | None, bool]:
    """Return the code's stored form and whether to keep the saved one instead.

    ``(None, True)``: nothing typed, keep it; ``(None, False)``: remove it.
    """
    if remove:
        return None, False
    value = "".join(code.split())
    if not value:
        return None, True
    if kind not in ACCESS_KINDS:
        raise InvalidInput("Say what the code opens: a gate, a door or a building.")
    shortest, longest = ACCESS_CODE_LENGTH
    if not shortest <= len(value) <= longest or not _ACCESS_CODE.match(value):
        raise InvalidInput(
            f"An access code is {shortest} to {longest} characters: digits, letters, # or *."
        )
    return f"{ACCESS_KINDS[kind]}: {value}", False


def split_access_code(stored: str | None) -> tuple[str | None, str | None]:
    """Return (kind, code) of a stored access code; codes saved without a kind have none."""
    if not stored:
        return None, None
    for kind, label in ACCESS_KINDS.items():
        prefix = f"{label}: "
        if stored.startswith(prefix):
            return kind, stored[len(prefix) :]
    return None, stored


def mask_code(stored: str | None) -> str | None:
    """Return the code as the recipient sees it back: "••••42" (a short code shows less)."""
    _, code = split_access_code(stored)
    if not code:
        return None
    shown = 2 if len(code) >= 6 else 1 if len(code) >= 4 else 0
    return MASK + (code[-shown:] if shown else "")


# ---------------------------------------------------------------- vehicle trunk

CAR_MAKE_LENGTH = (2, 40)
CAR_COLOUR_LENGTH = (3, 30)
PLATE_LENGTH = (3, 12)
_PLATE = re.compile(r"^[A-ZÄÖÜ0-9]+(?:[ -][A-ZÄÖÜ0-9]+){0,3}$")
SPOT_LENGTH = (5, 200)
TRUNK_MIN_WINDOW = timedelta(minutes=30)
MAX_CAR_DISTANCE_M = 2000.0  # a car farther from the address is another delivery


@dataclass(frozen=True)
class Trunk:
    """A car the parcel may go into: which one, where, and when it is there."""

    make: str
    colour: str
    plate: str
    spot: str
    lat: float | None
    lng: float | None
    opens: datetime
    closes: datetime


def plate_text(plate: str) -> str:
    """Return a number plate in capitals with single spaces, checked ("B-LM 2026")."""
    value = " ".join(printable(plate).upper().split())
    shortest, longest = PLATE_LENGTH
    letters = any(c.isalpha() for c in value)
    digits = any(c.isdigit() for c in value)
    if not (shortest <= len(value) <= longest and _PLATE.match(value) and letters and digits):
        raise InvalidInput(
            "Type the number plate as it is on the car, e.g. B-LM 2026 "
            f"({shortest} to {longest} letters, digits, spaces or hyphens)."
        )
    return value


def _sized(value: str, bounds: tuple[int, int], what: str) -> str:
    text = printable(value)
    shortest, longest = bounds
    if not shortest <= len(text) <= longest:
        raise InvalidInput(f"Give {what} in {shortest} to {longest} characters.")
    return text


def trunk(
    *,
    make: str,
    colour: str,
    plate: str,
    spot: str,
    opens: datetime,
    closes: datetime,
    bounds: tuple[datetime, datetime],
    lat: float | None = None,
    lng: float | None = None,
    distance_m: float | None = None,
) -> Trunk:
    """Check a trunk delivery request and return it.

    ``bounds`` is the parcel's delivery window (or its whole day); the hand-over window
    must lie inside it and last at least ``TRUNK_MIN_WINDOW``. ``distance_m`` is how far the
    pin is from the delivery address, when a pin is given.
    """
    if (lat is None) != (lng is None):
        raise InvalidInput("The car's position needs both latitude and longitude.")
    if lat is not None and lng is not None:
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            raise InvalidInput("The car's position is not on the map.")
        if distance_m is not None and distance_m > MAX_CAR_DISTANCE_M:
            raise InvalidInput(
                "The car must be parked within 2 km of your address; move the pin closer."
            )
    start, end = bounds
    if closes <= opens:
        raise InvalidInput("The car's time must end after it starts.")
    if closes - opens < TRUNK_MIN_WINDOW:
        minutes = int(TRUNK_MIN_WINDOW.total_seconds() // 60)
        raise InvalidInput(f"Leave the car there for at least {minutes} minutes.")
    if opens < start or closes > end:
        raise InvalidInput("The car's time must lie inside your delivery window.")
    return Trunk(
        make=_sized(make, CAR_MAKE_LENGTH, "the car's make"),
        colour=_sized(colour, CAR_COLOUR_LENGTH, "the car's colour"),
        plate=plate_text(plate),
        spot=_sized(spot, SPOT_LENGTH, "where the car is parked"),
        lat=lat,
        lng=lng,
        opens=opens,
        closes=closes,
    )


# ---------------------------------------------------------------- which texts

# Texts the recipient may turn off (domain/sms.MessageKind values), in the order the page
# lists them ("delivered" also covers the one with the photo).
OPTIONAL_TEXTS: dict[str, str] = {
    "dispatched": "Your parcel is on its way",
    "approaching": "The driver is a few stops away",
    "arrived": "The driver is at your door",
    "delivered": "Your parcel was delivered",
    "rating_request": "How was the delivery?",
}
MUTED_WITH: dict[str, str] = {"delivered_with_proof": "delivered"}
# Always sent: a failed attempt says what happens next (new day, locker, or back to the
# sender) and the parcel is lost to the recipient without it; the pickup code is the only
# way into the locker; a confirmation tells the recipient of every change made through the
# link, also one they did not make themselves.
ALWAYS_SENT: dict[str, str] = {
    "failed_attempt": "a delivery attempt failed, with what you can do next",
    "locker_ready": "your parcel is in the locker, with its pickup code",
    "change_confirmed": "a change to your delivery was saved",
}


def muted_kinds(stored: str | None) -> frozenset[str]:
    """Return the text kinds a recipient turned off (the stored comma-separated list)."""
    return frozenset(k for k in (stored or "").split(",") if k in OPTIONAL_TEXTS)


def is_muted(stored: str | None, kind: str) -> bool:
    """Return whether the recipient turned texts of ``kind`` off."""
    return MUTED_WITH.get(kind, kind) in muted_kinds(stored)


def muted_text(wanted: set[str] | frozenset[str]) -> str | None:
    """Return the stored form of "every optional text except ``wanted``" (None: all wanted)."""
    unknown = set(wanted) - set(OPTIONAL_TEXTS)
    if unknown:
        raise InvalidInput("That is not a text we send.")
    off = [k for k in OPTIONAL_TEXTS if k not in wanted]
    return ",".join(off) or None


def quiet_hours_text(start: str, end: str) -> str | None:
    """Return quiet hours "21:00-08:00" from two "HH:MM" fields; both empty: the default."""
    start, end = start.strip(), end.strip()
    if not start and not end:
        return None
    if not start or not end:
        raise InvalidInput("Give both times of your quiet hours, or leave both empty.")
    text = f"{start}-{end}"
    from .sms import parse_quiet_hours  # here: domain/sms imports the model, which imports us

    parse_quiet_hours(text)  # raises InvalidInput with the reason
    return text


# ---------------------------------------------------------------- rating

COMMENT_MAX = 500


def rating_comment(text: str) -> str | None:
    """Return the rating's comment, checked (None when empty)."""
    comment = printable(text)
    if len(comment) > COMMENT_MAX:
        raise InvalidInput(
            f"The comment is {len(comment)} characters long; please keep it to {COMMENT_MAX}."
        )
    return comment or None
