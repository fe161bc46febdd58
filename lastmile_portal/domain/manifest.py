"""What a driver's phone may know about a recipient, and when (the manifest's privacy rules)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reveal:
    """Which of a recipient's private details a manifest stop may carry."""

    phone: bool
    access_code: bool


HIDDEN = Reveal(phone=False, access_code=False)


def reveal(
    *, dispatched: bool, stop_open: bool, arrived: bool, open_stops_ahead: int, code_stops: int
) -> Reveal:
    """Decide what a stop of the manifest shows of its recipients.

    A phone number is for reaching the recipient on the way: only once the route is out, and
    only until the stop closes. A building's access code opens someone's door: only for the
    next ``code_stops`` open stops (``open_stops_ahead`` counts the open stops before this
    one) or once the driver is there, and never after.
    """
    if not dispatched or not stop_open:
        return HIDDEN
    return Reveal(phone=True, access_code=arrived or open_stops_ahead < code_stops)
