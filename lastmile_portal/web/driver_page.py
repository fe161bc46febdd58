"""The driver's phone page (``/driver``), for teams without a native app.

A driver signs in once from a link carrying their API token (``/driver/sign-in#token=…``:
the fragment never reaches a server log or a Referer; the page's script posts it), then a
session cookie holds the driver's id and a fingerprint of the token's hash, so a rotated
token signs the phone out on its next request. Every form posts with a CSRF token and calls
the same services as the driver API; each answer redirects back to the list with a message.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.exceptions import RequestEntityTooLarge, TooManyRequests
from wtforms.validators import ValidationError

from ..domain.attempts import FAILURE_REASONS, MAX_NOTE, MAX_RECIPIENT_NAME, failure_text
from ..domain.errors import DomainError, Forbidden, InvalidInput, NotFound, Unauthorized
from ..domain.proof import PhotoUpload, photo_position
from ..extensions import csrf
from ..services import drivers, proof_of_delivery
from ..services.proof_photos import MAX_PHOTOS
from . import limits as rate_limits
from . import services
from .driver_api import FORM_SLACK_BYTES

bp = Blueprint("driver_page", __name__, url_prefix="/driver")

F = TypeVar("F", bound=Callable[..., Any])

SESSION_KEY = "driver_page"  # {"id": driver id, "fp": token fingerprint}
OK, BAD = "driver-ok", "driver-error"  # flash categories
CLOSED = frozenset({"done", "failed", "skipped"})


def signed_in(view: F) -> F:
    """Load the signed-in driver into ``g.driver``; send anyone else to the sign-in page."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        held = session.get(SESSION_KEY)
        if not isinstance(held, dict) or not isinstance(held.get("id"), int):
            return redirect(url_for("driver_page.sign_in_page"), code=303)
        try:
            g.driver = drivers.session_driver(services(), held["id"], str(held.get("fp", "")))
        except Unauthorized as error:
            session.pop(SESSION_KEY, None)
            flash(error.message, BAD)
            return redirect(url_for("driver_page.sign_in_page"), code=303)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


# Checked in check_post below instead: Flask-WTF's own check reads the form before this
# blueprint could raise the body limit for the delivered form's photos.
csrf.exempt(bp)
# A driver keeps the page open all day: its forms stay good for a working day (Flask-WTF's
# default is an hour), bound to the session as ever.
FORM_TTL_S = 16 * 3600


@bp.before_request
def check_post() -> None:
    """Set the body limit for this request, then refuse a form without its CSRF token."""
    if request.endpoint == "driver_page.delivered":
        # Up to MAX_PHOTOS full-size photos, plus room for the form's few small fields.
        photo_max = services().settings.photo_max_bytes
        request.max_content_length = photo_max * MAX_PHOTOS + FORM_SLACK_BYTES
    if request.method == "POST" and current_app.config.get("WTF_CSRF_ENABLED", True):
        # Not csrf.protect(): over HTTPS it also demands a Referer, which these pages never
        # send (Referrer-Policy: no-referrer). The session-bound token is the check.
        try:
            validate_csrf(request.form.get("csrf_token"), time_limit=FORM_TTL_S)
        except ValidationError as error:
            raise CSRFError(error.args[0]) from None


@bp.errorhandler(RequestEntityTooLarge)
def too_large(_error: RequestEntityTooLarge) -> ResponseReturnValue:
    """Say how much the photos may weigh together, back on the list (nothing was stored)."""
    total = services().settings.photo_max_bytes * MAX_PHOTOS
    size = f"{total / 2**20:.0f} MB" if total >= 2**20 else f"{total // 1024} KB"
    flash(f"Not sent: those photos are too large together (at most {size}).", BAD)
    return redirect(url_for("driver_page.stops"), code=303)


@bp.errorhandler(CSRFError)
def stale_form(_error: CSRFError) -> ResponseReturnValue:
    """Refuse a form without this session's CSRF token: nothing done, and say to try again."""
    flash("Nothing was sent: this page was out of date (or cookies are off). Try again.", BAD)
    back = (
        "driver_page.sign_in_page"
        if request.endpoint == "driver_page.sign_in"
        else "driver_page.stops"
    )
    return redirect(url_for(back), code=303)


# ---------------------------------------------------------------- signing in and out


@bp.get("/sign-in")
def sign_in_page() -> ResponseReturnValue:
    """Show the sign-in page (its script posts a link's #token=…; or paste the token)."""
    return _sign_in(None, 200)


@bp.post("/sign-in")
def sign_in() -> ResponseReturnValue:
    """Check the token, start the driver's session and show today's stops."""
    token = request.form.get("token", "").strip()
    try:
        # Over the address's budget of wrong tokens: refused before the token is looked up.
        with rate_limits.token_check():
            signed = drivers.sign_in_driver(services(), token)
    except TooManyRequests as error:
        headers = [(k, v) for k, v in error.get_headers() if k.lower() == "retry-after"]
        return _sign_in("Too many wrong tokens from here: wait a few minutes.", 429, headers)
    except Unauthorized as error:
        return _sign_in(error.message, 401)
    # A fresh session: nothing from before the sign-in (say, a planted cookie) carries over.
    session.clear()
    session[SESSION_KEY] = {"id": signed.driver_id, "fp": signed.fingerprint}
    return redirect(url_for("driver_page.stops"), code=303)


@bp.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    """End the driver's session on this phone."""
    session.clear()
    flash("Signed out. Open your sign-in link to come back.", OK)
    return redirect(url_for("driver_page.sign_in_page"), code=303)


def _sign_in(
    error: str | None, status: int, headers: list[tuple[str, str]] | None = None
) -> ResponseReturnValue:
    return render_template("driver/sign_in.html", error=error, **_messages()), status, headers or []


# ---------------------------------------------------------------- today's stops


@bp.get("")
@signed_in
def stops() -> ResponseReturnValue:
    """Show today's stops in visiting order, each with its parcels and actions."""
    manifest = drivers.manifest(services(), g.driver.driver_id)
    open_stops = [s for s in manifest.stops if s.status not in CLOSED]
    return render_template(
        "driver/stops.html",
        driver=g.driver,
        manifest=manifest,
        open_stops=open_stops,
        done_stops=[s for s in manifest.stops if s.status in CLOSED],
        open_ids={s.id for s in open_stops},
        reasons=FAILURE_REASONS,
        **_messages(),
    )


@bp.post("/stops/<int:stop_id>/arrived")
@signed_in
def arrived(stop_id: int) -> ResponseReturnValue:
    """Mark the driver arrived at the stop."""

    def action() -> str:
        proof_of_delivery.mark_arrived(services(), g.driver.driver_id, stop_id)
        return "Arrived: the recipients see you are at the door."

    return _act(stop_id, action, stays_open=True)


@bp.post("/stops/<int:stop_id>/delivered")
@signed_in
def delivered(stop_id: int) -> ResponseReturnValue:
    """Mark the stop delivered with the photos taken and who received it."""

    def action() -> str:
        form = request.form
        lat, lng = _position(form.get("lat"), form.get("lng"))
        received_by = _text(form.get("recipient_name"), "The name", MAX_RECIPIENT_NAME)
        photos = [
            PhotoUpload(data=data, declared_type=f.mimetype or "", filename=f.filename or "")
            for f in request.files.getlist("photo")
            # An empty file field still sends a nameless, empty part.
            if (data := f.read()) or f.filename
        ]
        outcome = proof_of_delivery.mark_delivered(
            services(),
            g.driver.driver_id,
            stop_id,
            photos=photos,
            lat=lat,
            lng=lng,
            received_by=received_by,
            strict=True,
        )
        said = f"Delivered — {_count(outcome.parcels, 'parcel')}"
        if outcome.photos:
            said += f", {_count(outcome.photos, 'photo')}"
        return said + "."

    return _act(stop_id, action)


@bp.post("/stops/<int:stop_id>/failed")
@signed_in
def failed(stop_id: int) -> ResponseReturnValue:
    """Mark the stop failed with the reason chosen and an optional note."""

    def action() -> str:
        reason = request.form.get("reason", "")
        if reason not in FAILURE_REASONS:
            raise InvalidInput("Choose why the delivery failed.")
        note = _text(request.form.get("note"), "The note", MAX_NOTE)
        outcome = proof_of_delivery.mark_failed(
            services(), g.driver.driver_id, stop_id, failure_text(reason, note), strict=True
        )
        return f"Failed — {_count(outcome.parcels, 'parcel')}: {FAILURE_REASONS[reason]}."

    return _act(stop_id, action)


def _act(
    stop_id: int, action: Callable[[], str], *, stays_open: bool = False
) -> ResponseReturnValue:
    """Run one stop action and come back to the list with what happened.

    The message goes with the stop while it is open (and the list scrolls to it); about a
    stop now closed, it shows at the top, above the next stop.
    """
    try:
        said, kind = action(), OK
    except (Forbidden, NotFound):
        raise  # not a stop of this driver's list: the error page, nothing changed
    except proof_of_delivery.StopClosed as error:
        said, kind, stays_open = (
            f"Not changed: this stop is already {error.stop_status}.",
            BAD,
            False,
        )
    except DomainError as error:
        said, kind, stays_open = f"Not sent: {error.message}", BAD, True
    flash({"stop": stop_id, "text": said}, kind)
    anchor = f"#stop-{stop_id}" if stays_open else ""
    return redirect(url_for("driver_page.stops") + anchor, code=303)


def _messages() -> dict[str, list[dict[str, Any]]]:
    """Return the flashed messages as {"stop": id or None, "text": ...}, by kind."""

    def plain(category: str) -> list[dict[str, Any]]:
        return [
            m if isinstance(m, dict) else {"stop": None, "text": str(m)}
            for m in get_flashed_messages(category_filter=[category])
        ]

    return {"ok_messages": plain(OK), "error_messages": plain(BAD)}


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _position(lat: str | None, lng: str | None) -> tuple[float | None, float | None]:
    """Return the phone's position from the form's hidden fields (both empty: unknown)."""
    try:
        values = [float(v) if v else None for v in (lat, lng)]
    except ValueError:
        raise InvalidInput("The phone's position could not be read: try again.") from None
    if any(v is not None and v != v for v in values):  # NaN
        raise InvalidInput("The phone's position could not be read: try again.")
    photo_position(values[0], values[1])  # both or neither, and in range
    return values[0], values[1]


def _text(value: str | None, name: str, limit: int) -> str:
    value = (value or "").strip()
    if len(value) > limit:
        raise InvalidInput(f"{name} is too long (at most {limit} characters).")
    return value
