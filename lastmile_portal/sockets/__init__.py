"""Socket.IO namespaces."""

from __future__ import annotations

from typing import Any

from flask_socketio import ConnectionRefusedError, Namespace


class RefusingNamespace(Namespace):
    """Refuse every connection (for ``/``: nothing is served there)."""

    def on_connect(self, auth: Any = None) -> None:
        """Refuse the connection."""
        raise ConnectionRefusedError("unknown namespace")
