"""Field encryption for secrets recipients give us (access codes), with Fernet."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


class FieldCipher:
    """Encrypt and decrypt short strings with a key derived from configuration."""

    def __init__(self, secret: str) -> None:
        key = base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest())
        self._fernet = Fernet(key)

    def encrypt(self, plaintext: str) -> str:
        """Return the ciphertext of ``plaintext`` (different every call)."""
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        """Return the plaintext, or raise ValueError if the key does not match."""
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("encrypted field cannot be read with the configured key") from exc
