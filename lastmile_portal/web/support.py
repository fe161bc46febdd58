"""The support pages (``/support``): staff sign in, find a parcel, read its timeline, act.

One blueprint for the staff audience. Every view but the sign-in page carries
``staff_required`` (web/support_auth.py); forms post with Flask-WTF's CSRF token (the app's
CSRFProtect checks every POST here). Views parse, call one service and map its errors.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from ..domain.errors import Unauthorized
from ..services import staff_auth, support
from . import limits as rate_limits
from . import services, settings
from .auth import StaffPrincipal
from .support_auth import NEXT_KEY, NOTICE, end_session, staff_required, start_session

bp = Blueprint("support", __name__, url_prefix="/support")

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
    """Show the search box (and, with ``q``, the deliveries it finds)."""
    return render_template("support/index.html", q="", results=None)
