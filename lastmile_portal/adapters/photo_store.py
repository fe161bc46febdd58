"""Proof-of-delivery photo storage in a local folder, under random names."""

from __future__ import annotations

import secrets
from pathlib import Path

EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}


class LocalPhotoStore:
    """Keep photos as files; keys are random so a name reveals nothing."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def put(self, data: bytes, content_type: str) -> str:
        """Store ``data`` and return its new key."""
        self.folder.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(24) + EXTENSIONS.get(content_type, ".bin")
        (self.folder / key).write_bytes(data)
        return key

    def get(self, key: str) -> bytes:
        """Return the bytes stored under ``key``; raise KeyError for unknown keys."""
        return self._path(key).read_bytes()

    def delete(self, key: str) -> None:
        """Remove the file under ``key``; an unknown key is no error."""
        try:
            self._path(key).unlink(missing_ok=True)
        except KeyError:
            return

    def _path(self, key: str) -> Path:
        path = self.folder / key
        if not valid_key(key) or not path.is_file():
            raise KeyError(key)
        return path


def valid_key(key: str) -> bool:
    """Return whether ``key`` could be one of our random names (nothing that leaves a folder)."""
    return bool(key) and "/" not in key and "\\" not in key and not key.startswith(".")
