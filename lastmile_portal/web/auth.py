"""Staff identity for Flask-Login."""

from __future__ import annotations

from flask_login import UserMixin

from ..domain.model import StaffRole, StaffUser
from ..extensions import login_manager
from ..services import support
from . import services


class StaffPrincipal(UserMixin):
    """The logged-in staff member as Flask-Login sees them."""

    def __init__(self, staff: StaffUser) -> None:
        self.id = staff.id
        self.email = staff.email
        self.name = staff.name
        self.role = StaffRole(staff.role)


@login_manager.user_loader
def load_staff(user_id: str) -> StaffPrincipal | None:
    """Return the session's staff member, or None if gone or deactivated."""
    if not user_id.isdigit():
        return None
    staff = support.get_staff(services(), int(user_id))
    return StaffPrincipal(staff) if staff else None
