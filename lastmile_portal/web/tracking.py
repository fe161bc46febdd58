"""The recipient's tracking page, opened from the SMS link."""

from __future__ import annotations

from flask import Blueprint, render_template

from ..extensions import limiter
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
    cfg = settings()
    return render_template(
        "tracking/track.html",
        view=view,
        token=token,
        timezone=cfg.timezone,
        map_tile_url=cfg.map_tile_url,
        map_tile_attribution=cfg.map_tile_attribution,
    )


# The recipient's changes are views on this blueprint, one module per kind of change.
from . import tracking_instructions, tracking_lockers, tracking_slots  # noqa: E402, F401
