"""Signed photo links: only the exact link we made opens the photo, and only until it expires."""

from __future__ import annotations

import pytest

from lastmile_portal.domain.photo_links import LinkCheck, check, derive_key, sign, verify

KEY = derive_key("a-long-random-secret-key-for-tests")
NOW = 1_800_000_000.0
LINK = dict(audience="recipient", delivery_id=12, photo_id=34, size="thumb")


def signed(**overrides: object) -> dict[str, object]:
    values = {**LINK, **overrides}
    expires, sig = sign(KEY, now=NOW, ttl_s=900, **values)  # type: ignore[arg-type]
    return {**values, "expires": expires, "sig": sig}


def checked(link: dict[str, object], now: float = NOW + 1, key: bytes = KEY) -> LinkCheck:
    return check(key, now=now, **link)  # type: ignore[arg-type]


def test_the_link_we_made_opens_until_it_expires() -> None:
    link = signed()
    assert link["expires"] == int(NOW) + 900
    assert checked(link) is LinkCheck.VALID
    assert verify(KEY, now=NOW + 899, **link)  # type: ignore[arg-type]
    assert checked(link, now=NOW + 900) is LinkCheck.EXPIRED
    assert not verify(KEY, now=NOW + 900, **link)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "change",
    [
        {"photo_id": 35},  # another photo of the same delivery
        {"delivery_id": 13},  # the same photo id presented for another delivery
        {"audience": "staff"},  # a recipient's link used on the staff pages
        {"size": "full"},  # a thumbnail's link asking for the full photo
        {"expires": int(NOW) + 3600},  # the expiry pushed out by hand
    ],
    ids=["other photo", "other delivery", "other audience", "other size", "longer expiry"],
)
def test_a_link_altered_in_any_field_is_refused(change: dict[str, object]) -> None:
    assert checked({**signed(), **change}) is LinkCheck.INVALID


def test_a_tampered_signature_is_refused() -> None:
    link = signed()
    sig = str(link["sig"])
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    for bad in (flipped, sig[:-1], sig + "A", "", sig.upper(), "é" + sig[1:]):
        assert checked({**link, "sig": bad}) is LinkCheck.INVALID, bad


def test_a_forged_link_is_invalid_not_expired_whatever_expiry_it_claims() -> None:
    # Only a link we made may be told "expired": a forgery learns nothing from the answer.
    forged = {**signed(), "expires": int(NOW) - 10, "sig": "x" * 43}
    assert checked(forged) is LinkCheck.INVALID


def test_another_secret_key_opens_nothing() -> None:
    assert checked(signed(), key=derive_key("another-secret")) is LinkCheck.INVALID


def test_staff_links_are_signed_apart_from_recipients() -> None:
    staff = signed(audience="staff")
    assert checked(staff) is LinkCheck.VALID
    assert staff["sig"] != signed()["sig"]
    assert checked({**staff, "audience": "recipient"}) is LinkCheck.INVALID


def test_unknown_audience_or_size_is_never_signed() -> None:
    with pytest.raises(ValueError):
        sign(KEY, now=NOW, ttl_s=900, **{**LINK, "audience": "public"})  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        sign(KEY, now=NOW, ttl_s=900, **{**LINK, "size": "huge"})  # type: ignore[arg-type]
    assert checked({**signed(), "size": "huge"}) is LinkCheck.INVALID


def test_the_key_is_derived_not_the_secret_itself() -> None:
    key = derive_key("s3cret")
    assert len(key) == 32 and b"s3cret" not in key
    assert key == derive_key("s3cret") != derive_key("s3cret2")
