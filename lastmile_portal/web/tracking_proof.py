"""Serve the proof photos a tracking page links to, through short-lived signed URLs.

``GET /t/<token>/proof/<photo_id>?size=thumb|full&expires=<unix s>&sig=<hmac>`` on the
recipient's blueprint (`web/tracking.py`). The view translates; ``proof_view.open_photo``
decides: another delivery's photo 404 (the same page as an unknown token), a link not ours
403, an expired one 410 with words saying what to do. Never from ``static/``.
"""

from __future__ import annotations

from flask import Response, request

from ..extensions import limiter
from ..services import proof_view
from . import limits as rate_limits
from . import services, settings
from .tracking import bp


@bp.get("/t/<token>/proof/<int:photo_id>")
@limiter.limit(lambda: settings().tracking_rate_limit)
def proof_photo(token: str, photo_id: int) -> Response:
    """Answer the JPEG a signed link names, cacheable by this browser until the link expires."""
    with rate_limits.token_check():
        photo = proof_view.open_photo(
            services(),
            token,
            photo_id,
            request.args.get("size", "full"),
            request.args.get("expires", ""),
            request.args.get("sig", ""),
        )
    response = Response(photo.data, mimetype=photo.content_type)
    # Private: the photo shows someone's door. No longer than the link itself is good for.
    response.headers["Cache-Control"] = f"private, max-age={photo.max_age_s}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = "inline"
    return response
