"""Map errors to clear 4xx/5xx pages or JSON; never a stack trace to a user."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from ..domain.errors import DomainError, NotFound, ServiceUnavailable

log = logging.getLogger("lastmile.web")

MESSAGES = {
    400: "The request could not be understood.",
    403: "You are not allowed to do that.",
    404: "We could not find that page. Please check the link in your message.",
    405: "That method is not allowed here.",
    413: "That upload is too large.",
    429: "Too many requests. Please wait a minute and try again.",
    500: "Something went wrong on our side. Please try again in a moment.",
    503: "The service is temporarily unavailable. Please try again in a moment.",
}


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/webhooks/", "/healthz")) or (
        request.accept_mimetypes.best == "application/json"
    )


def _respond(
    status: int, message: str, headers: list[tuple[str, str]] | None = None
) -> ResponseReturnValue:
    headers = headers or []
    if _wants_json():
        return jsonify({"error": message, "status": status}), status, headers
    return render_template("errors/error.html", status=status, message=message), status, headers


def register(app: Flask) -> None:
    """Install the error handlers on ``app``."""

    @app.errorhandler(NotFound)
    def not_found(error: NotFound) -> ResponseReturnValue:
        # Same words for every missing thing, so a 404 reveals nothing.
        return _respond(404, MESSAGES[404] if not _wants_json() else error.message)

    @app.errorhandler(DomainError)
    def domain_error(error: DomainError) -> ResponseReturnValue:
        # A 401 names the scheme to authenticate with (RFC 9110): every token here is a bearer.
        headers = [("WWW-Authenticate", "Bearer")] if error.status_code == 401 else None
        return _respond(error.status_code, error.message, headers)

    @app.errorhandler(ServiceUnavailable)
    def unavailable(error: ServiceUnavailable) -> ResponseReturnValue:
        log.error("%s", error)
        return _respond(503, MESSAGES[503])

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> ResponseReturnValue:
        if error.response is not None:
            return error.response  # abort(response): the caller built the answer
        status = error.code or 500
        # The exception's own headers belong to the answer: Allow on a 405, Retry-After on
        # a 429, WWW-Authenticate on a 401. Only the body (and so its type) is ours.
        headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
        return _respond(status, MESSAGES.get(status, error.description or "Error"), headers)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> ResponseReturnValue:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _respond(500, MESSAGES[500])
