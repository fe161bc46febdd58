"""Who may open a support page: ``staff_required(role)`` on every view under /support.

Signed in (Flask-Login, web/auth.py loads the staff member on each request), not idle for
longer than STAFF_IDLE_MINUTES (a last-seen stamp in the session, on the services' clock),
and holding at least ``role`` (agent < supervisor < admin). Anyone not signed in, or whose
session went idle, is sent to the sign-in page; a staff member without the role gets 403.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, flash, g, redirect, request, session, url_for
from flask_login import current_user, logout_user

from ..domain.model import StaffRole
from . import services, settings

F = TypeVar("F", bound=Callable[..., Any])

SEEN_KEY = "staff_seen"  # epoch seconds of the session's last support request
NEXT_KEY = "staff_next"  # the page to return to after signing in
NOTICE = "support-notice"  # flash category on the sign-in page


def staff_required(role: str | StaffRole = StaffRole.AGENT) -> Callable[[F], F]:
    """Guard a view: signed in, not idle, and at least ``role``; else redirect or 403.

    Sets ``g.staff`` to the signed-in StaffPrincipal (id, email, name, role), and marks
    the view with ``required_role`` (tests walk every support URL by it).
    """
    needed = StaffRole(role)

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return _to_sign_in()
            now = services().clock.now().timestamp()
            seen = session.get(SEEN_KEY)
            idle_s = settings().staff_idle_minutes * 60
            if not isinstance(seen, int | float) or now - seen > idle_s:
                end_session()
                flash(
                    f"Signed out after {settings().staff_idle_minutes} idle minutes. "
                    "Please sign in again.",
                    NOTICE,
                )
                return _to_sign_in()
            session[SEEN_KEY] = now
            if not current_user.role.at_least(needed):
                abort(403)
            g.staff = current_user._get_current_object()
            return view(*args, **kwargs)

        # The access test reads this to check every support URL against its role.
        wrapped.required_role = needed  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorate


def start_session(user: Any) -> None:
    """Begin a fresh session for ``user``: nothing from before the sign-in carries over."""
    from flask_login import login_user

    session.clear()
    login_user(user)
    session[SEEN_KEY] = services().clock.now().timestamp()


def end_session() -> None:
    """Sign the staff member out and drop everything the session held."""
    logout_user()
    session.clear()


def _to_sign_in() -> Any:
    # Only a page of this app is remembered (a path, never a full URL: no open redirect).
    if request.method == "GET" and request.path.startswith("/support"):
        session[NEXT_KEY] = request.full_path.rstrip("?")
    return redirect(url_for("support.login"), code=303)
