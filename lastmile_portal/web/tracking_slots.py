"""Move a parcel to another delivery slot, from the tracking page.

Routes live on the recipient's blueprint (`web/tracking.py`); views translate and call one
service.
"""

from __future__ import annotations

from .tracking import bp  # noqa: F401
