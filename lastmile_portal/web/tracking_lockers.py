"""Send a parcel to a parcel locker or pickup point instead, from the tracking page.

Routes live on the recipient's blueprint (`web/tracking.py`); views translate and call one
service. Every control is a plain form: GET ``/t/<token>/lockers?locker=<id>`` shows the
preview with a Confirm button, POST ``/t/<token>/locker`` chooses, POST
``/t/<token>/locker/undo`` takes it back; both redirect to the tracking page with a message,
or show the locker page again with a clear 4xx message (409 with the fresh state when the
parcel changed meanwhile).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import flash, get_flashed_messages, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..domain.errors import ConcurrentUpdate, DomainError, InvalidInput, NotFound
from ..extensions import limiter
from ..services import lockers as locker_service
from ..services import tracking as tracking_service
from . import limits as rate_limits
from . import services, settings
from .tracking import bp

FLASH = "lockers"  # the flash category this section shows


@bp.app_template_global()
def locker_messages() -> list[str]:
    """Return (and consume) the messages this section left for the next page."""
    return list(get_flashed_messages(category_filter=[FLASH]))


@bp.get("/t/<token>/lockers")
@limiter.limit(lambda: settings().tracking_rate_limit)
def lockers(token: str) -> ResponseReturnValue:
    """Show the lockers near the parcel and, for ``?locker=<id>``, the preview to confirm."""
    with rate_limits.token_check():
        tracking_service.delivery_id_for_token(services(), token)
    chosen = request.args.get("locker", "")
    if not chosen:
        return _page(token)
    try:
        locker_id = _locker_id(chosen)
        preview = locker_service.preview_locker(services(), token, locker_id)
    except NotFound:
        raise
    except DomainError as error:
        return _page(token, error=error.message, status=error.status_code)
    return _page(token, preview=preview)


@bp.post("/t/<token>/locker")
@limiter.limit(lambda: settings().tracking_rate_limit)
def choose(token: str) -> ResponseReturnValue:
    """Send the parcel to the locker the form names (after its preview)."""
    with rate_limits.token_check():
        tracking_service.delivery_id_for_token(services(), token)
    try:
        locker_id = _locker_id(request.form.get("locker_id", ""))
        version = _version()
        done = locker_service.choose_locker(
            services(), token, locker_id, version, form_parcel=_form_parcel()
        )
    except NotFound:
        raise
    except ConcurrentUpdate as error:
        return _page(token, error=error.message, status=409)
    except DomainError as error:
        return _page(token, error=error.message, status=error.status_code)
    by = ""
    if done.by is not None:
        local = done.by.astimezone(_zone())
        by = f" It will be in the locker by {local:%a %d %b}, {local:%H:%M}."
    flash(
        f"Done: your parcel goes to {done.locker_name}.{by} "
        "We text you the pickup code once it is in.",
        FLASH,
    )
    return redirect(url_for("tracking.track", token=token) + "#lockers", code=303)


@bp.post("/t/<token>/locker/undo")
@limiter.limit(lambda: settings().tracking_rate_limit)
def undo(token: str) -> ResponseReturnValue:
    """Take back the locker choice: the parcel comes to the door again."""
    with rate_limits.token_check():
        tracking_service.delivery_id_for_token(services(), token)
    try:
        done = locker_service.undo_locker(services(), token, _version(), form_parcel=_form_parcel())
    except NotFound:
        raise
    except DomainError as error:
        return _page(token, error=error.message, status=error.status_code)
    flash(f"Done: your parcel comes to your door again, not to {done.locker_name}.", FLASH)
    return redirect(url_for("tracking.track", token=token) + "#lockers", code=303)


def _page(
    token: str,
    *,
    preview: locker_service.LockerPreview | None = None,
    error: str | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    """Render the locker page from the parcel's state now (fresh after a 409)."""
    view = tracking_service.get_tracking(services(), token)
    section = locker_service.locker_section(services(), token)
    cfg = settings()
    html = render_template(
        "tracking/lockers.html",
        view=view,
        section=section,
        preview=preview,
        error=error,
        token=token,
        timezone=cfg.timezone,
        map_tile_url=cfg.map_tile_url,
        map_tile_attribution=cfg.map_tile_attribution,
    )
    return html, status


def _locker_id(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 9:
        raise InvalidInput("Pick a locker from the list.")
    return int(raw)


def _version() -> int:
    """Return the parcel version the form was rendered with (every form of ours has one)."""
    raw = request.form.get("version", "")
    if not raw.isdigit() or len(raw) > 9:
        raise InvalidInput("This form is incomplete: please reload the page and try again.")
    return int(raw)


def _form_parcel() -> str:
    """Return the tracking number the form was rendered for (every form of ours has one)."""
    parcel = request.form.get("parcel", "")
    if not parcel or len(parcel) > 32:
        raise InvalidInput("This form is incomplete: please reload the page and try again.")
    return parcel


def _zone() -> ZoneInfo:
    return ZoneInfo(settings().timezone)
