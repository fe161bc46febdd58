"""Use cases for support staff."""

from __future__ import annotations

from ..domain import model as m
from . import Services


def get_staff(services: Services, staff_id: int) -> m.StaffUser | None:
    """Return the active staff member with ``staff_id``, or None."""
    with services.uow() as uow:
        staff = uow.repo.get(m.StaffUser, staff_id)
        return staff if staff is not None and staff.active else None
