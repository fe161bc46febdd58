"""The support pages (``/support``): staff sign in, find a parcel, read its timeline, act.

One blueprint for the staff audience. Every view but the sign-in page carries
``staff_required`` (web/support_auth.py); forms post with Flask-WTF's CSRF token (the app's
CSRFProtect checks every POST here). Views parse, call one service and map its errors.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from ..domain import lookup as lookup_domain
from ..domain.errors import DomainError, InvalidInput, NotFound, Unauthorized
from ..domain.model import StaffRole
from ..domain.status import CHANGEABLE
from ..services import lockers, lookup, rescheduling, staff_auth, support, support_timeline
from . import limits as rate_limits
from . import services, settings
from .auth import StaffPrincipal
from .support_auth import NEXT_KEY, NOTICE, end_session, staff_required, start_session

bp = Blueprint("support", __name__, url_prefix="/support")

CHANGEABLE_VALUES = frozenset(s.value for s in CHANGEABLE)

LOGIN_ADDRESSES = "staff-login-address"  # bucket: sign-in attempts per client address
LOGIN_EMAILS = "staff-login-email"  # bucket: failed sign-ins per e-mail (known or not)


class LoginForm(FlaskForm):
    """The sign-in form: an e-mail and a password, with the session's CSRF token."""

    email = EmailField("E-mail", validators=[DataRequired(), Length(max=255)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


# ---------------------------------------------------------------- signing in and out


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Show the sign-in form; on a good e-mail and password start a fresh staff session."""
    form = LoginForm()
    if request.method == "GET":
        return render_template("support/login.html", form=form, error=None)
    s = settings()
    words = staff_auth.wrong_words(s.staff_lockout_minutes)
    if not form.validate_on_submit():
        return render_template("support/login.html", form=form, error=_form_error(form)), 400
    email = (form.email.data or "").strip().lower()
    email_key = rate_limits.token_key(email)
    per_email = f"{s.staff_lockout_failures} per {s.staff_lockout_minutes} minutes"
    # Per address every attempt counts; per e-mail only failures, known e-mail or not, so
    # an unknown e-mail pauses exactly like a real one (the same words, too).
    if not rate_limits.hit(s.staff_login_rate_limit, LOGIN_ADDRESSES, rate_limits.client_address()):
        return render_template("support/login.html", form=form, error=words), 429
    if not rate_limits.within(per_email, LOGIN_EMAILS, email_key):
        return render_template("support/login.html", form=form, error=words), 401
    try:
        signed = staff_auth.sign_in(
            services(),
            email,
            form.password.data or "",
            max_failures=s.staff_lockout_failures,
            lock_minutes=s.staff_lockout_minutes,
        )
    except Unauthorized as error:
        rate_limits.hit(per_email, LOGIN_EMAILS, email_key)
        return render_template("support/login.html", form=form, error=error.message), 401
    back = session.get(NEXT_KEY)
    row = support.get_staff(services(), signed.id)
    if row is None:  # deactivated between the check and now
        return render_template("support/login.html", form=form, error=words), 401
    start_session(StaffPrincipal(row))
    if isinstance(back, str) and back.startswith("/support/") and not back.startswith("//"):
        return redirect(back, code=303)
    return redirect(url_for("support.index"), code=303)


@bp.post("/logout")
@staff_required()
def logout() -> ResponseReturnValue:
    """Sign out: the session ends here and now."""
    end_session()
    flash("Signed out.", NOTICE)
    return redirect(url_for("support.login"), code=303)


def _form_error(form: LoginForm) -> str:
    if form.csrf_token.errors:
        return "This page was out of date (or cookies are off). Please sign in again."
    return "Please enter your e-mail and password."


# ---------------------------------------------------------------- finding a parcel


@bp.get("/")
@staff_required()
def index() -> ResponseReturnValue:
    """Show the search box and, with ``q``, one page of the deliveries it finds."""
    q = request.args.get("q", "").strip()[: lookup_domain.MAX_QUERY]
    if not q:
        return render_template("support/index.html", q="", results=None, error=None)
    page = request.args.get("page", "1")
    try:
        results = lookup.search(services(), q, int(page) if page.isdigit() else 0)
    except InvalidInput as error:
        return render_template("support/index.html", q=q, results=None, error=error.message), 422
    return render_template("support/index.html", q=q, results=results, error=None)


# ---------------------------------------------------------------- one delivery

OK, BAD = "support-ok", "support-error"  # flash categories on the delivery page
# The hand-over choices support offers (the recipient's page has the same ones).
SUPPORT_PLACES = (
    ("in_person", "Hand it over in person"),
    ("front_door", "Leave it at the front door"),
    ("neighbour", "With a neighbour"),
)


def _staff() -> support.Staff:
    return support.Staff(id=g.staff.id, name=g.staff.name, role=g.staff.role)


def _delivery_page(tracking_number: str, status: int = 200, **shown: Any) -> ResponseReturnValue:
    """Render the delivery page (``shown``: a one-time answer, say a revealed code)."""
    page = support_timeline.delivery_page(services(), tracking_number)
    supervisor = _staff().role.at_least(StaffRole.SUPERVISOR)
    token = support.token_of(services(), page.tracking_number)
    slots = rescheduling.offered_slots(services(), token)
    override_slots = None
    if not slots.summary.open and supervisor and page.status in CHANGEABLE_VALUES:
        override_slots = rescheduling.offered_slots(services(), token, override_cutoff=True)
    return (
        render_template(
            "support/delivery.html",
            page=page,
            slots=slots,
            override_slots=override_slots,
            nearby=lockers.nearby(services(), page.delivery_id),
            supervisor=supervisor,
            places=SUPPORT_PLACES,
            **shown,
        ),
        status,
    )


@bp.get("/deliveries/<tracking_number>")
@staff_required()
def delivery(tracking_number: str) -> ResponseReturnValue:
    """Show one delivery: its details, the merged timeline and the actions."""
    return _delivery_page(tracking_number)


@bp.get("/deliveries/<tracking_number>/photos/<int:photo_id>")
@staff_required()
def photo(tracking_number: str, photo_id: int) -> Response:
    """Answer a proof photo a signed staff link names (private, as long as the link lives)."""
    found = support_timeline.open_photo(
        services(),
        tracking_number,
        photo_id,
        request.args.get("size", "full"),
        request.args.get("expires", ""),
        request.args.get("sig", ""),
    )
    response = Response(found.data, mimetype=found.content_type)
    response.headers["Cache-Control"] = f"private, max-age={found.max_age_s}"
    response.headers["Content-Disposition"] = "inline"
    return response


def _act(tracking_number: str, action: Callable[[], str]) -> ResponseReturnValue:
    """Run one action; back on the delivery page say what happened, or why nothing did."""
    try:
        done = action()
    except NotFound:
        raise
    except DomainError as error:
        flash(f"Nothing changed: {error.message}", BAD)
    else:
        flash(done, OK)
    return redirect(url_for("support.delivery", tracking_number=tracking_number), code=303)


def _version() -> int | None:
    raw = request.form.get("version", "")
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


def _choice(name: str) -> int:
    raw = request.form.get(name, "")
    if not raw.isdigit() or len(raw) > 9:
        raise InvalidInput("Choose one of the options first.")
    return int(raw)


def _window_words(start: datetime, end: datetime) -> str:
    tz = ZoneInfo(settings().timezone)
    a, b = start.astimezone(tz), end.astimezone(tz)
    return f"{a:%a} {a.day} {a:%b} {a:%H:%M}–{b:%H:%M}"


@bp.post("/deliveries/<tracking_number>/slot")
@staff_required()
def move_slot(tracking_number: str) -> ResponseReturnValue:
    """Move the parcel to another slot for its recipient (a supervisor may override)."""

    def act() -> str:
        override = request.form.get("override") == "1"
        reason = request.form.get("override_reason", "")
        if override and not reason.strip():
            raise InvalidInput("say why the cut-off is overridden.")
        moved = support.move_to_slot(
            services(),
            _staff(),
            tracking_number,
            _choice("slot_id"),
            _version(),
            override_reason=reason if override else "",
        )
        return f"Moved to {_window_words(moved.window_start, moved.window_end)}."

    return _act(tracking_number, act)


@bp.post("/deliveries/<tracking_number>/locker")
@staff_required()
def send_to_locker(tracking_number: str) -> ResponseReturnValue:
    """Send the parcel to a locker for its recipient."""

    def act() -> str:
        chosen = support.send_to_locker(
            services(), _staff(), tracking_number, _choice("locker_id"), _version()
        )
        return f"The parcel goes to {chosen.locker_name}."

    return _act(tracking_number, act)


@bp.post("/deliveries/<tracking_number>/instructions")
@staff_required()
def edit_instructions(tracking_number: str) -> ResponseReturnValue:
    """Change the hand-over instructions for the recipient."""

    def act() -> str:
        return support.edit_instructions(
            services(),
            _staff(),
            tracking_number,
            _version(),
            place=request.form.get("place", ""),
            note=request.form.get("note", ""),
            neighbour_name=request.form.get("neighbour_name", ""),
            neighbour_number=request.form.get("neighbour_number", ""),
        )

    return _act(tracking_number, act)


@bp.post("/deliveries/<tracking_number>/resend-link")
@staff_required()
def resend_link(tracking_number: str) -> ResponseReturnValue:
    """Text the recipient their tracking link again."""

    def act() -> str:
        if support.resend_tracking_link(services(), _staff(), tracking_number):
            return "The tracking link is on its way by text."
        return "The tracking link was already texted this minute."

    return _act(tracking_number, act)


@bp.post("/deliveries/<tracking_number>/cancel")
@staff_required()
def cancel(tracking_number: str) -> ResponseReturnValue:
    """Cancel the parcel (only before it is out for delivery)."""

    def act() -> str:
        support.cancel(services(), _staff(), tracking_number, request.form.get("reason", ""))
        return "The parcel is cancelled."

    return _act(tracking_number, act)


@bp.post("/deliveries/<tracking_number>/exception")
@staff_required()
def mark_exception(tracking_number: str) -> ResponseReturnValue:
    """Put a problem on the timeline, optionally sending the parcel back to the sender."""

    def act() -> str:
        back = request.form.get("return_to_sender") == "1"
        support.mark_exception(
            services(),
            _staff(),
            tracking_number,
            request.form.get("note", ""),
            return_to_sender=back,
        )
        return "Noted; the parcel goes back to the sender." if back else "Noted on the timeline."

    return _act(tracking_number, act)


@bp.post("/deliveries/<tracking_number>/driver-token")
@staff_required(StaffRole.SUPERVISOR)
def driver_token(tracking_number: str) -> ResponseReturnValue:
    """Give the parcel's driver a new sign-in token, shown on this answer only."""
    try:
        issued = support.rotate_driver_token(services(), _staff(), tracking_number)
    except DomainError as error:
        if isinstance(error, NotFound):
            raise
        flash(f"Nothing changed: {error.message}", BAD)
        return redirect(url_for("support.delivery", tracking_number=tracking_number), code=303)
    link = f"{settings().public_base_url.rstrip('/')}/driver/sign-in#token={issued.token}"
    return _delivery_page(tracking_number, issued_token=issued, sign_in_link=link)


@bp.post("/deliveries/<tracking_number>/access-code")
@staff_required(StaffRole.SUPERVISOR)
def reveal_access_code(tracking_number: str) -> ResponseReturnValue:
    """Show the parcel's access code on this answer only; the timeline records who read it."""
    code = support.reveal_access_code(services(), _staff(), tracking_number)
    return _delivery_page(tracking_number, revealed_code=code)
