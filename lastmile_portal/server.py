"""Serve the app on one machine: migrate, seed the demo, start simulated drivers, run Socket.IO."""

from __future__ import annotations

import click
from flask import Flask

from . import cli
from .extensions import socketio


def serve(app: Flask) -> None:
    """Prepare the database and serve until interrupted (the `make run` path)."""
    settings = app.config["SETTINGS"]
    with app.app_context():
        cli.migrate_or_exit(settings.database_url)
        if settings.demo:
            cli.ensure_demo()
            print_demo(cli.demo_payload(), settings.public_base_url)
            if settings.demo_simulate:
                from .demo import DriverSimulator

                DriverSimulator(app.extensions["lastmile"]).start()
    click.echo(f"Serving on http://{settings.host}:{settings.port}  (Ctrl+C to stop)")
    socketio.run(
        app,
        host=settings.host,
        port=settings.port,
        # The dev server is the one-machine path; docs/architecture.md covers production.
        allow_unsafe_werkzeug=True,
        use_reloader=False,
        log_output=False,
    )


def print_demo(payload: dict, base_url: str) -> None:  # type: ignore[type-arg]
    """Print a few tracking links, the driver tokens and the staff login."""
    deliveries = payload["deliveries"]
    click.echo("")
    click.echo(f"Demo city: {len(deliveries)} deliveries. A few tracking links:")
    for d in deliveries[:6]:
        click.echo(f"  {d['tracking_number']}  {d['url']}")
    click.echo("  (all of them: flask --app app demo-links)")
    click.echo("Driver API tokens (Authorization: Bearer <token>):")
    for d in payload["drivers"]:
        click.echo(f"  driver {d['id']:>2} {d['name']:<16} {d['token']}")
    staff = payload["staff"]
    click.echo(f"Staff login: {staff['email']} / {staff['password']}")
    click.echo(f"Health: {base_url}/healthz")
    click.echo("")
