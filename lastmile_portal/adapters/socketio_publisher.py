"""Publish live events to Socket.IO rooms, from the web process or any other."""

from __future__ import annotations

from typing import Any


class SocketIOPublisher:
    """Emit through Flask-SocketIO (in the server) or a Redis-backed emitter (elsewhere)."""

    def __init__(self, socketio: Any, namespace: str = "/live") -> None:
        self._socketio = socketio
        self._namespace = namespace

    def publish(self, room: str, event: str, payload: dict[str, Any]) -> None:
        """Send ``event`` with ``payload`` to everyone in ``room``."""
        self._socketio.emit(event, payload, to=room, namespace=self._namespace)


class RecordingPublisher:
    """Remember what would have been published (tests, CLI)."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str, dict[str, Any]]] = []

    def publish(self, room: str, event: str, payload: dict[str, Any]) -> None:
        """Record the event."""
        self.published.append((room, event, payload))
