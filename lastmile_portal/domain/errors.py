"""Domain errors: each one maps to a clear message for the person who caused it."""

from __future__ import annotations


class DomainError(Exception):
    """Base class for rule violations the caller can understand and fix."""

    status_code = 422

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """Raise when the thing asked for does not exist (or must not be revealed)."""

    status_code = 404


class Unauthorized(DomainError):
    """Raise when credentials are missing or wrong (a driver token, a tracking token)."""

    status_code = 401


class Forbidden(DomainError):
    """Raise when the thing exists but belongs to someone else (another driver's stop)."""

    status_code = 403


class InvalidTransition(DomainError):
    """Raise when a delivery, stop, route or text cannot move from its status to the one asked."""

    status_code = 409


class ConcurrentUpdate(DomainError):
    """Raise when somebody else changed the same record first; the caller may retry."""

    status_code = 409


class InvalidInput(DomainError):
    """Raise when a value is malformed (bad phone number, coordinates out of range...)."""

    status_code = 422


class RoutingError(DomainError):
    """Raise when a routing problem is malformed (no vehicles, NaN coordinates...)."""

    status_code = 422


class ServiceUnavailable(Exception):
    """Raise when a backing service (database, Redis) cannot be reached right now."""

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(f"{service} unavailable: {detail}")
        self.service = service
        self.detail = detail
