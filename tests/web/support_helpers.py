"""Helpers for the support pages' tests: staff accounts, signing in, reading forms."""

from __future__ import annotations

import re
from typing import Any

from lastmile_portal.services import staff_auth

PASSWORD = "correct horse battery staple"
STAFF = {
    "agent": ("agent@support.test", "Ann Agent"),
    "supervisor": ("super@support.test", "Sue Supervisor"),
    "admin": ("admin@support.test", "Adam Admin"),
}


def make_staff(services: Any, role: str = "agent") -> int:
    """Create the staff member of ``role`` (one per role) and return their id."""
    email, name = STAFF[role]
    return staff_auth.create_staff(services, email, role, PASSWORD, name)


def csrf(html: str) -> str:
    """Return the first CSRF token of a page's forms."""
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


def sign_in(client: Any, role: str = "agent", password: str = PASSWORD, email: str = "") -> Any:
    """Post the sign-in form as the staff member of ``role``; return the response."""
    page = client.get("/support/login").get_data(as_text=True)
    return client.post(
        "/support/login",
        data={"csrf_token": csrf(page), "email": email or STAFF[role][0], "password": password},
    )


def post(client: Any, path: str, **data: Any) -> Any:
    """Post a support form with a fresh CSRF token from the support home page."""
    token = csrf(client.get("/support/").get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})
