"""Staff sign-in and accounts: passwords hashed with scrypt, a lock-out that names no e-mail.

Every refusal — an unknown e-mail, a wrong password, a locked or deactivated account —
answers the same words (``WRONG``) after the same work (a hash check against a dummy hash
when the e-mail is unknown), so the sign-in page tells nobody which e-mails have accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from werkzeug.security import check_password_hash, generate_password_hash

from ..domain import model as m
from ..domain.errors import InvalidInput, Unauthorized
from . import Services

MIN_PASSWORD = 12
MAX_PASSWORD = 200
# Checked when the e-mail is unknown, so a refusal takes as long either way.
_DUMMY_HASH = generate_password_hash("not a password of anyone's")


def wrong_words(lock_minutes: int) -> str:
    """Return the one refusal every failed sign-in gets, whatever the reason."""
    return (
        "That e-mail or password is wrong. After several wrong tries sign-in pauses: "
        f"then try again in {lock_minutes} minutes."
    )


@dataclass(frozen=True)
class SignedIn:
    """Who just signed in."""

    id: int
    name: str
    role: m.StaffRole


def sign_in(
    services: Services, email: str, password: str, *, max_failures: int, lock_minutes: int
) -> SignedIn:
    """Check ``email`` and ``password``; count a wrong one, lock after ``max_failures`` in a row.

    Raise Unauthorized with ``wrong_words`` for every refusal. A locked account refuses even
    the right password until the lock ends; a right password otherwise resets the count.
    """
    refused = Unauthorized(wrong_words(lock_minutes))
    now = services.clock.now()
    with services.uow() as uow:
        staff = uow.repo.staff_by_email(email.strip()) if email.strip() else None
        if staff is None:
            check_password_hash(_DUMMY_HASH, password)
            raise refused
        good = check_password_hash(staff.password_hash, password)
        if staff.locked_until is not None and staff.locked_until > now:
            raise refused
        if not good or not staff.active:
            staff.failed_logins = (staff.failed_logins or 0) + 1
            if staff.failed_logins >= max_failures:
                staff.locked_until = now + timedelta(minutes=lock_minutes)
                staff.failed_logins = 0
            uow.commit()
            raise refused
        staff.failed_logins = 0
        staff.locked_until = None
        staff.last_login_at = now
        uow.commit()
        assert staff.id is not None
        return SignedIn(staff.id, staff.name, m.StaffRole(staff.role))


def create_staff(
    services: Services, email: str, role: str, password: str, name: str | None = None
) -> int:
    """Add a staff member with a scrypt-hashed password; return their id.

    Raise InvalidInput for a malformed e-mail, an unknown role, a short password or an
    e-mail that already has an account.
    """
    email = email.strip()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or len(email) > 255 or any(c.isspace() for c in email):
        raise InvalidInput(f"{email!r} is not an e-mail address.")
    try:
        staff_role = m.StaffRole(role.strip().lower())
    except ValueError:
        roles = ", ".join(r.value for r in m.StaffRole)
        raise InvalidInput(f"Unknown role {role!r}: choose one of {roles}.") from None
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(
            f"The password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long."
        )
    display = (name or "").strip() or local
    with services.uow() as uow:
        if uow.repo.staff_by_email(email) is not None:
            raise InvalidInput(f"{email} already has an account.")
        staff = m.StaffUser(
            email=email,
            name=display[:120],
            role=staff_role,
            password_hash=generate_password_hash(password),
        )
        uow.repo.add(staff)
        uow.commit()
        assert staff.id is not None
        return staff.id
