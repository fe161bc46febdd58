"""Phone numbers to E.164 with Google's libphonenumber (the ``phonenumbers`` port)."""

from __future__ import annotations

import phonenumbers

from ..domain.errors import InvalidInput

EXAMPLE = "+49 151 23456789"


class LibPhoneNumbers:
    """Read numbers as people type them; national ones belong to the default region."""

    def __init__(self, default_region: str) -> None:
        if default_region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown region {default_region!r}")
        self.default_region = default_region

    def normalise(self, raw: str) -> str:
        """Return ``raw`` in E.164 (+4915123456789), or raise InvalidInput saying why not."""
        text = (raw or "").strip()
        if not text:
            raise InvalidInput(f"Enter a phone number, e.g. {EXAMPLE}.")
        if len(text) > 40:
            raise InvalidInput("That phone number is too long.")
        try:
            number = phonenumbers.parse(text, self.default_region)
        except phonenumbers.NumberParseException:
            raise InvalidInput(
                f"{text!r} is not a phone number. Use the international form, e.g. {EXAMPLE}."
            ) from None
        if not phonenumbers.is_valid_number(number):
            raise InvalidInput(
                f"{text!r} is not a valid phone number. Check the digits, or use the "
                f"international form, e.g. {EXAMPLE}."
            )
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
