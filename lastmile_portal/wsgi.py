"""The WSGI entry point for production servers: ``gunicorn lastmile_portal.wsgi:app``.

Builds the app once per web process, from the environment. The database is not migrated
here (several processes starting at once would race): a deploy runs
``flask --app app migrate`` first. docs/deployment.md has the whole setup.
"""

from __future__ import annotations

import sys

from . import create_app
from .config import ConfigError

try:
    app = create_app()
except ConfigError as error:
    sys.exit(f"Configuration error: {error}")
