"""Entry point: `flask --app app ...` finds `app`; `python app.py` serves it with Socket.IO."""

from __future__ import annotations

import sys

from lastmile_portal import create_app
from lastmile_portal.config import ConfigError

try:
    app = create_app()
except ConfigError as error:
    sys.exit(f"Configuration error: {error}")


if __name__ == "__main__":
    from lastmile_portal.server import serve

    serve(app)
