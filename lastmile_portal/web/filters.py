"""Jinja filters that show UTC times in the operating time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app


def register(app: Flask, timezone: str) -> None:
    """Add the time filters to ``app``'s templates."""
    tz = ZoneInfo(timezone)

    @app.template_filter("hm")
    def hm(value: datetime | None) -> str:
        return value.astimezone(tz).strftime("%H:%M") if value else ""

    @app.template_filter("day")
    def day(value: datetime | None) -> str:
        return value.astimezone(tz).strftime("%a %-d %b") if value else ""

    @app.template_global("server_now")
    def server_now() -> str:
        # Pages count minutes on this, not the browser's clock: the demo's runs shifted.
        return str(current_app.extensions["lastmile"].clock.now().isoformat())

    @app.template_filter("iso")
    def iso(value: datetime | None) -> str:
        return value.isoformat() if value else ""
