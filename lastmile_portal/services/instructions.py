"""How the recipient wants the parcel handed over (safe place, for now)."""

from __future__ import annotations

from ..domain import model as m
from ..domain.errors import NotFound
from ..domain.events import Actor
from . import Services


def set_safe_place(
    services: Services,
    delivery_id: int,
    text: str,
    *,
    actor: Actor = Actor.CUSTOMER,
    actor_id: str | None = None,
) -> str:
    """Have the parcel left at a safe place while the delivery can still change; return it."""
    with services.uow() as uow:
        d = uow.repo.get(m.Delivery, delivery_id)
        if d is None:
            raise NotFound(f"There is no delivery {delivery_id}.")
        d.choose_safe_place(text, at=services.clock.now(), actor=actor, actor_id=actor_id)
        uow.commit()
        return d.safe_place or ""
