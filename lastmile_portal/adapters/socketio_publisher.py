"""Publish live events to Socket.IO rooms, from the web process or any other."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class SocketIOPublisher:
    """Emit through one app's Socket.IO server.

    With a message queue configured the server's manager writes to Redis, so the event
    reaches clients connected to any web process, and a job worker can publish too.
    """

    def __init__(self, server: Any, namespace: str = "/live") -> None:
        self._server = server
        self._namespace = namespace

    def publish(self, room: str, event: str, payload: dict[str, Any]) -> None:
        """Send ``event`` with ``payload`` to everyone in ``room``."""
        self._server.emit(event, payload, to=room, namespace=self._namespace)

    def publish_many(self, rooms: Sequence[str], event: str, payload: dict[str, Any]) -> None:
        """Send one ``event`` to everyone in any of ``rooms``: one packet, one queue message."""
        if rooms:
            self._server.emit(event, payload, to=list(rooms), namespace=self._namespace)


class RecordingPublisher:
    """Remember what would have been published (tests, CLI)."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str, dict[str, Any]]] = []

    def publish(self, room: str, event: str, payload: dict[str, Any]) -> None:
        """Record the event."""
        self.published.append((room, event, payload))

    def publish_many(self, rooms: Sequence[str], event: str, payload: dict[str, Any]) -> None:
        """Record the event once per room, as the rooms' members receive it."""
        for room in rooms:
            self.publish(room, event, payload)
