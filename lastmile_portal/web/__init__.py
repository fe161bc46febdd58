"""HTTP entrypoints, one blueprint per audience; views translate and call one service."""

from __future__ import annotations

from flask import current_app

from ..config import Settings
from ..services import Services


def services() -> Services:
    """Return the current app's services."""
    return current_app.extensions["lastmile"]


def settings() -> Settings:
    """Return the current app's settings."""
    return current_app.config["SETTINGS"]
