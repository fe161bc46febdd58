"""Field encryption for secrets recipients give us (access codes), with Fernet."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class FieldCipher:
    """Encrypt and decrypt short strings with keys derived from configuration.

    ``secrets`` is comma-separated: the first encrypts, all of them decrypt, so a key can
    be rotated by putting the new one first and keeping the old one until re-encrypted.
    """

    def __init__(self, secrets: str) -> None:
        keys = [s.strip() for s in secrets.split(",") if s.strip()]
        self._fernet = MultiFernet(
            [Fernet(base64.urlsafe_b64encode(hashlib.sha256(k.encode()).digest())) for k in keys]
        )

    def encrypt(self, plaintext: str) -> str:
        """Return the ciphertext of ``plaintext`` (different every call)."""
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        """Return the plaintext, or raise ValueError if the key does not match."""
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("encrypted field cannot be read with the configured key") from exc
