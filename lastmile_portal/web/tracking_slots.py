"""Move a parcel to another delivery slot, from the tracking page.

Routes live on the recipient's blueprint (`web/tracking.py`); views translate and call one
service. Without JavaScript: the slot page lists the slots that really fit (GET), choosing
one shows its preview (GET with ``?slot=``), and Confirm posts the move, then redirects
back to the tracking page with a message. A refusal re-renders the slot page with the
reason and the fresh state, with its 4xx status.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..domain.errors import DomainError, InvalidInput, NotFound
from ..extensions import limiter
from ..services import rescheduling
from ..services import tracking as tracking_service
from . import limits as rate_limits
from . import services, settings
from .tracking import bp

FLASH = "slots"  # the flash category the tracking page's slot card shows


def _int(name: str) -> int | None:
    raw = (request.values.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 9:
        raise InvalidInput(f"The form's {name.replace('_', ' ')} is not a number.")
    return int(raw)


def _render(
    token: str,
    *,
    message: str | None = None,
    status: int = 200,
    preview: rescheduling.SlotPreview | None = None,
) -> ResponseReturnValue:
    # Beside a preview or a refusal, the list is the full and fresh one.
    page = rescheduling.offered_slots(services(), token)
    return (
        render_template(
            "tracking/slots.html",
            page=page,
            preview=preview.slot if preview else None,
            message=message,
            token=token,
            now=services().clock.now(),
        ),
        status,
    )


@bp.get("/t/<token>/slots")
@limiter.limit(lambda: settings().tracking_rate_limit)
def slots(token: str) -> ResponseReturnValue:
    """List the slots the parcel may move to; with ``?slot=<id>``, preview that one."""
    with rate_limits.token_check():
        tracking_service.delivery_id_for_token(services(), token)
    try:
        slot_id = _int("slot")
    except InvalidInput as error:
        return _render(token, message=error.message, status=error.status_code)
    if slot_id is None:
        return _render(token)
    try:
        preview = rescheduling.preview_slot(services(), token, slot_id)
    except NotFound:
        raise
    except DomainError as error:
        return _render(token, message=error.message, status=error.status_code)
    return _render(token, preview=preview)


@bp.post("/t/<token>/slot")
@limiter.limit(lambda: settings().tracking_rate_limit)
def move_slot(token: str) -> ResponseReturnValue:
    """Move the parcel to the chosen slot, then go back to the tracking page."""
    with rate_limits.token_check():
        tracking_service.delivery_id_for_token(services(), token)
    try:
        slot_id = _int("slot_id")
        version = _int("version")
        if slot_id is None:
            raise InvalidInput("Please choose a slot first.")
        moved = rescheduling.move_to_slot(services(), token, slot_id, version)
    except NotFound:
        raise
    except DomainError as error:
        return _render(token, message=error.message, status=error.status_code)
    tz = ZoneInfo(settings().timezone)
    start, end = moved.window_start.astimezone(tz), moved.window_end.astimezone(tz)
    flash(f"Done: your parcel now comes {start:%a %-d %b}, {start:%H:%M}–{end:%H:%M}.", FLASH)
    return redirect(url_for("tracking.track", token=token) + "#reschedule", code=303)
