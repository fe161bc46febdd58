"""Security headers: set here, once, on every response (pages, JSON, errors, static, Socket.IO).

Flask's responses get them from an ``after_request`` hook, which knows the page. Socket.IO's
long-polling answers are made by the Engine.IO middleware in front of Flask and never reach
that hook, so a thin WSGI wrapper adds the same fixed headers to any response still missing
them (the websocket upgrade itself is written by simple-websocket and carries none).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, request

from ..config import Settings

# Pages whose responses carry a recipient's or a driver's data: never kept in a cache (a shared
# phone's back button, a proxy), whatever the view says.
PERSONAL_PREFIXES = ("/t/", "/api/v1/driver/")

# The pages use none of these. The camera and geolocation stay available to our own scripts
# for the driver's phone page (photo proof, pings); script-src 'self' keeps anyone else's
# scripts from asking for them.
PERMISSIONS_POLICY = ", ".join(
    (
        "accelerometer=()",
        "autoplay=()",
        "camera=(self)",
        "display-capture=()",
        "geolocation=(self)",
        "gyroscope=()",
        "magnetometer=()",
        "microphone=()",
        "midi=()",
        "payment=()",
        "usb=()",
    )
)

HSTS = "max-age=31536000; includeSubDomains"


def tile_origin(map_tile_url: str) -> str | None:
    """Return the CSP source for a Leaflet tile URL template, or None when 'self' covers it.

    ``{s}`` (or any placeholder) in the host becomes a wildcard subdomain:
    ``https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png`` -> ``https://*.tile.openstreetmap.org``.
    """
    parts = urlsplit(map_tile_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None  # tiles off, or a path on this app
    labels = parts.netloc.rsplit("@", 1)[-1].split(".")
    templated = [i for i, label in enumerate(labels) if "{" in label]
    if templated:
        # CSP wildcards stand for whole leading labels only ("*.example.com").
        labels = ["*", *labels[templated[-1] + 1 :]]
    return f"{parts.scheme}://{'.'.join(labels)}"


def content_security_policy(settings: Settings) -> str:
    """Return the Content-Security-Policy: this app's own scripts and styles only, no inline."""
    tiles = tile_origin(settings.map_tile_url)
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        # Leaflet positions its panes through element.style (the CSSOM), which CSP allows;
        # only style attributes in markup and <style> blocks would need 'unsafe-inline'.
        "style-src": "'self'",
        "img-src": " ".join(filter(None, ("'self' data:", tiles))),
        # 'self' covers ws:// and wss:// to this host too (CSP 3), Socket.IO's websocket.
        "connect-src": "'self'",
        "frame-ancestors": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "object-src": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def register(app: Flask) -> None:
    """Install the hook that adds the security headers to every response of ``app``."""
    settings: Settings = app.config["SETTINGS"]
    fixed = {
        "Content-Security-Policy": content_security_policy(settings),
        "X-Content-Type-Options": "nosniff",
        # frame-ancestors for current browsers, this for older ones.
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": PERMISSIONS_POLICY,
    }

    app.wsgi_app = _AddMissingHeaders(app.wsgi_app, {**fixed, "Cache-Control": "no-store"})  # type: ignore[method-assign]

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        for name, value in fixed.items():
            # A view that needs another policy (say, an embeddable widget) sets its own.
            response.headers.setdefault(name, value)
        if request.is_secure:
            # Over plain http a browser ignores HSTS; ProxyFix makes is_secure follow
            # X-Forwarded-Proto only when TRUSTED_PROXIES says a proxy sets it.
            response.headers["Strict-Transport-Security"] = HSTS
        # A personal answer a view marked private with a lifetime keeps it (a proof photo,
        # cached by this browser only until its signed link expires); any other: no-store.
        own = response.cache_control
        bounded = bool(own.private) and own.max_age is not None
        if response.status_code >= 400 or (
            request.path.startswith(PERSONAL_PREFIXES) and not bounded
        ):
            response.headers["Cache-Control"] = "no-store"
        elif request.endpoint != "static" and "Cache-Control" not in response.headers:
            # Private by default: a view that may be cached says so itself.
            response.headers["Cache-Control"] = "no-store"
        return response


class _AddMissingHeaders:
    """Add ``headers`` (and HSTS over https) to every response that lacks them."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], headers: dict[str, str]) -> None:
        self.wsgi_app = wsgi_app
        self.headers = list(headers.items())

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Serve the request, completing the response's headers on their way out."""

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            have = {name.lower() for name, _ in headers}
            extra = [(k, v) for k, v in self.headers if k.lower() not in have]
            # ProxyFix, inside this wrapper, has set the scheme by now.
            secure = environ.get("wsgi.url_scheme") == "https"
            if secure and "strict-transport-security" not in have:
                extra.append(("Strict-Transport-Security", HSTS))
            return start_response(status, headers + extra, exc_info)

        return self.wsgi_app(environ, start)
