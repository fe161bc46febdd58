"""The recipient's tracking page, opened from the SMS link."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from ..domain.errors import DomainError
from ..extensions import limiter
from ..services import lockers as locker_service
from ..services import tracking as tracking_service
from . import limits as rate_limits
from . import services, settings

bp = Blueprint("tracking", __name__)


@bp.get("/t/<token>")
@limiter.limit(lambda: settings().tracking_rate_limit)
def track(token: str) -> str:
    """Show where the parcel is; unknown and malformed tokens get the same 404.

    Wrong tokens spend the address's AUTH_FAILURE_RATE_LIMIT, as on the sockets.
    """
    with rate_limits.token_check():
        view = tracking_service.get_tracking(services(), token)
    return render_page(token, view)


def render_page(token: str, view: tracking_service.TrackingView, **extra: Any) -> str:
    """Render the tracking page of ``view`` with its change sections (and ``extra``)."""
    try:
        lockers = locker_service.locker_section(services(), token)
    except DomainError:
        lockers = None  # no locker can take this parcel now: the section stays away
    cfg = settings()
    return render_template(
        "tracking/track.html",
        view=view,
        token=token,
        lockers=lockers,
        timezone=cfg.timezone,
        map_tile_url=cfg.map_tile_url,
        map_tile_attribution=cfg.map_tile_attribution,
        **extra,
    )


# The recipient's changes are views on this blueprint, one module per kind of change.
from . import tracking_instructions, tracking_lockers, tracking_proof, tracking_slots  # noqa: E402, F401
