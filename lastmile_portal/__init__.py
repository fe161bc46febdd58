"""Lastmile Portal: the application factory."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

from .config import Settings, load_settings
from .extensions import csrf, limiter, login_manager, socketio
from .web.json_body import StrictJSONProvider


def create_app(config: Mapping[str, Any] | None = None, **overrides: Any) -> Flask:
    """Build the app: settings → extensions → services → blueprints, namespaces and CLI.

    ``config`` replaces the environment (tests pass a mapping); ``overrides`` hand in
    ready-made adapters (``clock=``, ``publisher=``) to build_services.
    """
    settings: Settings = load_settings(config)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # Werkzeug's access log is one INFO line per request (every driver ping): on when asked.
    access_log = settings.access_log or settings.log_level == "DEBUG"
    quiet = max(logging.WARNING, logging.getLevelName(settings.log_level))
    logging.getLogger("werkzeug").setLevel(logging.INFO if access_log else quiet)
    app = Flask(
        __name__,
        template_folder="../templates",
        static_folder="../static",
        instance_path=settings.instance_dir,
    )
    app.json = StrictJSONProvider(app)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        TESTING=settings.testing,
        MAX_CONTENT_LENGTH=12 * 1024 * 1024,
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage_uri,
        RATELIMIT_HEADERS_ENABLED=True,
        # Pages send no Referer (Referrer-Policy: no-referrer keeps the tracking token out of
        # other sites' logs), so Flask-WTF's HTTPS Referer check would refuse every form.
        # The session-bound token and the SameSite=Lax cookie stop cross-site posts.
        WTF_CSRF_SSL_STRICT=False,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Served over HTTPS: the staff session never travels in clear text.
        SESSION_COOKIE_SECURE=settings.public_base_url.startswith("https://"),
        REMEMBER_COOKIE_SECURE=settings.public_base_url.startswith("https://"),
        SETTINGS=settings,
    )
    # init_app keeps its options between calls: an app built after one with a message
    # queue (tests build many) would otherwise silently share that queue and its listener.
    socketio.server_options.pop("client_manager", None)
    socketio.init_app(
        app,
        async_mode="threading",
        message_queue=settings.socketio_message_queue or None,
        # Same origin only (the default): pages are served by this app, never embedded.
    )
    from .sockets import EngineIoGuard

    app.wsgi_app = EngineIoGuard(app.wsgi_app)  # type: ignore[method-assign]
    if settings.trusted_proxies:
        # Behind N reverse proxies, take the client's address and scheme from their headers
        # (rate limits are per client, and Twilio signatures cover the public URL).
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)  # type: ignore[method-assign]
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)

    from .bootstrap import build_services

    app.extensions["lastmile"] = build_services(settings, socketio=socketio, **overrides)

    from .sockets import RefusingNamespace
    from .sockets.driver import DriverNamespace
    from .sockets.live import LiveNamespace
    from .web import (  # noqa: F401
        api_spec,
        assets,
        auth,
        driver_api,
        driver_page,
        errors,
        filters,
        integration_api,
        locker_api,
        security,
        support,
        support_ops,
        system,
        tracking,
        webhooks,
    )

    app.register_blueprint(tracking.bp)
    app.register_blueprint(system.bp)
    app.register_blueprint(driver_api.bp)
    app.register_blueprint(driver_page.bp)
    app.register_blueprint(locker_api.bp)
    app.register_blueprint(integration_api.bp)
    app.register_blueprint(api_spec.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(support.bp)
    app.register_blueprint(support_ops.bp)  # issue 14: operations, the staff audience too
    socketio.on_namespace(LiveNamespace("/live"))
    socketio.on_namespace(DriverNamespace("/driver"))
    socketio.on_namespace(RefusingNamespace("/"))
    assets.register(app)
    errors.register(app)
    security.register(app)
    filters.register(app, settings.timezone)

    from . import cli

    cli.register(app)
    return app
