"""The integration API's keys: issue, revoke, list, and check one on each request."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from ..domain import model as m
from ..domain.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from . import Services

PREFIX = "lmk_"  # says what the secret is when it turns up in a log or a repository
NAME_LIMIT = 80
DEFAULT_SCOPES = ("deliveries:write", "deliveries:read")


@dataclass(frozen=True)
class IssuedKey:
    """A new key: ``key`` is shown once and stored only hashed."""

    name: str
    key: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class KeyInfo:
    """A key as listed (never the key itself)."""

    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None


def create_api_key(
    services: Services, name: str, scopes: tuple[str, ...] = DEFAULT_SCOPES
) -> IssuedKey:
    """Issue a key named ``name`` with ``scopes``; a name is used once (revoked ones too)."""
    name = name.strip()
    if not name or len(name) > NAME_LIMIT:
        raise InvalidInput(f"Name the key (1 to {NAME_LIMIT} characters), e.g. 'shop-erp'.")
    unknown = [s for s in scopes if s not in m.API_SCOPES]
    if unknown or not scopes:
        raise InvalidInput(
            f"Unknown scope {', '.join(unknown) or '(none)'}; choose from "
            + ", ".join(m.API_SCOPES)
            + "."
        )
    key = PREFIX + secrets.token_urlsafe(32)
    with services.uow() as uow:
        if uow.repo.api_key_by_name(name) is not None:
            raise InvalidInput(f"A key named {name!r} exists: choose another name.")
        uow.repo.add(
            m.ApiKey(
                name=name,
                key_hash=m.hash_api_token(key),
                scopes=",".join(dict.fromkeys(scopes)),
                created_at=services.clock.now(),
            )
        )
        uow.commit()
    return IssuedKey(name=name, key=key, scopes=tuple(dict.fromkeys(scopes)))


def revoke_api_key(services: Services, name: str) -> KeyInfo:
    """Revoke the key named ``name`` at once (a second revoke changes nothing)."""
    with services.uow() as uow:
        key = uow.repo.api_key_by_name(name.strip())
        if key is None:
            raise NotFound(f"No API key is named {name!r}.")
        key.revoked_at = key.revoked_at or services.clock.now()
        info = _info(key)
        uow.commit()
    services.live.forget_api_key(info.name)
    return info


def list_api_keys(services: Services) -> list[KeyInfo]:
    """Return every key, oldest first."""
    with services.uow() as uow:
        return [_info(k) for k in uow.repo.all(m.ApiKey)]


def _info(key: m.ApiKey) -> KeyInfo:
    return KeyInfo(
        name=key.name,
        scopes=tuple(key.scopes.split(",")),
        created_at=key.created_at,
        revoked_at=key.revoked_at,
    )


def authenticate_api_key(services: Services, key: str | None, scope: str) -> str:
    """Return the key's name if it may do ``scope``; Unauthorized (401) or Forbidden (403).

    A key confirmed a moment ago needs no database trip (a third of an announcement's time):
    a revocation holds at once in this process and within TOKEN_TTL in the others.
    """
    if not key or not key.startswith(PREFIX) or len(key) > 200:
        raise Unauthorized("A valid API key is required (Authorization: Bearer lmk_...).")
    key_hash = m.hash_api_token(key)
    now = services.clock.now()
    known = services.live.api_key_for(key_hash, now)
    if known is None:
        with services.uow() as uow:
            found = uow.repo.api_key_by_hash(key_hash)
            if found is None or found.revoked_at is not None:
                raise Unauthorized("This API key is not valid (unknown or revoked).")
            known = (found.name, found.scopes)
        services.live.remember_api_key(key_hash, *known, now)
    name, scopes = known
    if scope not in scopes.split(","):
        raise Forbidden(f"This API key may not do {scope}; its scopes: {scopes}.")
    return name
