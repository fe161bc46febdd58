"""The recipient's rating of a delivery."""

from __future__ import annotations

from ..domain import model as m
from ..domain.errors import NotFound
from ..domain.events import Actor
from . import Services


def rate_delivery(
    services: Services, delivery_id: int, score: int, *, actor: Actor = Actor.CUSTOMER
) -> None:
    """Score a delivered parcel from 1 to 5; a later score replaces an earlier one."""
    with services.uow() as uow:
        d = uow.repo.get(m.Delivery, delivery_id)
        if d is None:
            raise NotFound(f"There is no delivery {delivery_id}.")
        existing = uow.repo.rating_of(delivery_id)
        rating = d.rate(score, at=services.clock.now(), actor=actor, existing=existing)
        if existing is None:
            uow.repo.add(rating)
        uow.commit()
