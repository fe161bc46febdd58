"""Hand-over instructions, access codes, trunk delivery, texts and rating: tracking page.

Routes live on the recipient's blueprint (`web/tracking.py`); views translate and call one
service. Every control is a plain form posting here: a saved change redirects (303) to the
tracking page with a message; bad input or a closed window shows the tracking page again
with the message next to the form and a 4xx status (409 with the fresh state when the
parcel changed since the page was opened). Nothing typed is lost on an error, except the
access code, which is never written back into a page.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import flash, get_flashed_messages, redirect, request, url_for
from flask.typing import ResponseReturnValue

from ..domain.errors import DomainError, InvalidInput, NotFound
from ..extensions import limiter
from ..services import instructions as service
from ..services import tracking as tracking_service
from . import limits as rate_limits
from . import services, settings
from .tracking import bp, render_page

FLASH = "handover"  # the flash category this section shows
ANCHORS = {"instructions": "handover", "trunk": "trunk", "texts": "texts", "rating": "rating"}


@bp.app_template_global()
def handover_messages(section: str) -> list[str]:
    """Return the messages a saved change of ``section`` left for this page.

    Shown inside that section, which the redirect scrolls to.
    """
    return [
        text for where, text in get_flashed_messages(category_filter=[FLASH]) if where == section
    ]


@bp.post("/t/<token>/instructions")
@limiter.limit(lambda: settings().tracking_rate_limit)
def instructions(token: str) -> ResponseReturnValue:
    """Save where the parcel may be left, a note for the driver and an access code."""
    f = request.form
    return _act(
        token,
        "instructions",
        lambda: service.set_instructions(
            services(),
            token,
            _version(),
            place=f.get("place", ""),
            neighbour_name=f.get("neighbour_name", ""),
            neighbour_number=f.get("neighbour_number", ""),
            note=f.get("note", ""),
            code_kind=f.get("code_kind", ""),
            code=f.get("code", ""),
            remove_code=f.get("remove_code") == "1",
        ),
    )


@bp.post("/t/<token>/trunk")
@limiter.limit(lambda: settings().tracking_rate_limit)
def trunk(token: str) -> ResponseReturnValue:
    """Have the parcel put in the recipient's car (or, with ``cancel``, not any more)."""
    f = request.form
    if f.get("cancel") == "1":
        return _act(token, "trunk", lambda: service.cancel_trunk(services(), token, _version()))
    return _act(
        token,
        "trunk",
        lambda: service.set_trunk(
            services(),
            token,
            _version(),
            make=f.get("make", ""),
            colour=f.get("colour", ""),
            plate=f.get("plate", ""),
            spot=f.get("spot", ""),
            opens=f.get("opens", ""),
            closes=f.get("closes", ""),
            lat=f.get("lat", ""),
            lng=f.get("lng", ""),
        ),
    )


@bp.post("/t/<token>/preferences")
@limiter.limit(lambda: settings().tracking_rate_limit)
def preferences(token: str) -> ResponseReturnValue:
    """Choose which texts to get and the recipient's own quiet hours."""
    f = request.form
    return _act(
        token,
        "texts",
        lambda: service.set_preferences(
            services(),
            token,
            _version(),
            wanted=set(f.getlist("texts")),
            quiet_from=f.get("quiet_from", ""),
            quiet_until=f.get("quiet_until", ""),
        ),
    )


@bp.post("/t/<token>/rating")
@limiter.limit(lambda: settings().tracking_rate_limit)
def rating(token: str) -> ResponseReturnValue:
    """Rate the delivery from 1 to 5 with a comment; a second rating edits the first."""
    f = request.form
    return _act(
        token,
        "rating",
        lambda: service.rate(services(), token, f.get("score", ""), f.get("comment", "")),
    )


def _act(token: str, section: str, use_case: Callable[[], str]) -> ResponseReturnValue:
    """Run one use case for the parcel behind ``token``; redirect with its message or re-show."""
    with rate_limits.token_check():
        tracking_service.delivery_id_for_token(services(), token)
    try:
        message = use_case()
    except NotFound:
        raise
    except DomainError as error:
        return _page(token, section, error.message, error.status_code)
    flash([section, message], FLASH)  # type: ignore[arg-type]
    return redirect(url_for("tracking.track", token=token) + f"#{ANCHORS[section]}", code=303)


def _page(token: str, section: str, error: str, status: int) -> ResponseReturnValue:
    """Show the tracking page as the parcel is now, with ``error`` next to ``section``'s form."""
    view = tracking_service.get_tracking(services(), token)
    # What was typed comes back into the form, except the access code (never shown back).
    typed = {k: v for k, v in request.form.items() if k not in ("code", "csrf_token", "version")}
    html = render_page(
        token,
        view,
        handover_error={"section": section, "message": error},
        handover_typed=typed if status != 409 else {},
    )
    return html, status


def _version() -> int:
    """Return the parcel version the form was rendered with (every form of ours has one)."""
    raw = request.form.get("version", "")
    if not raw.isdigit() or len(raw) > 9:
        raise InvalidInput("This form is incomplete: please reload the page and try again.")
    return int(raw)
