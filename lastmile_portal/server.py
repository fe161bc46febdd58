"""Serve the app under gunicorn: migrate, seed the demo, then the worker's simulated drivers."""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
import urllib.request
from functools import partial
from typing import Any

import click
from flask import Flask

from . import cli
from .extensions import socketio

log = logging.getLogger("lastmile.server")

# Young-generation threshold of the cyclic garbage collector while serving (CPython's
# default is 700). With 1,000 live pages the process holds ~330,000 long-lived objects
# (four threads per socket), and a full collection over them stops every thread for
# 150-200 ms: that was the live fan-out's p99. Full collections follow from young ones,
# which the few reference cycles left per request (Werkzeug's URL matcher, SQLAlchemy
# statements) triggered several times a second; at 50,000 a young pass comes every minute
# or two under that load and takes ~20 ms. Memory cost: at most 50,000 uncollected objects.
GC_YOUNG_THRESHOLD = 50_000


def serve(app: Flask) -> None:
    """Prepare the database and the demo, then serve under gunicorn (the `make run` path)."""
    settings = app.config["SETTINGS"]
    with app.app_context():
        cli.migrate_or_exit(settings.database_url)
        if settings.demo:
            cli.ensure_demo()
            print_demo(cli.demo_payload(), settings.public_base_url)
    jobs = app.extensions["lastmile"].jobs
    if hasattr(jobs, "join"):
        jobs.join()  # what seeding queued (texts, ETAs) runs here: exec drops this process
    click.echo(f"Serving on http://{settings.host}:{settings.port}  (Ctrl+C to stop)")
    sys.stdout.flush()
    sys.stderr.flush()
    # gunicorn replaces this process (same pid, so Ctrl+C and SIGTERM reach it); its worker
    # builds the app afresh, with its own job queue and sweeps, and start_serving below.
    os.execv(sys.executable, gunicorn_command())


def gunicorn_command(*options: str) -> list[str]:
    """Return the command line that serves the app under gunicorn (gunicorn_conf.py)."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:lastmile_portal.gunicorn_conf",
        *options,
    ]


def start_serving(app: Flask, base_url: str | None) -> None:
    """Start what a serving process runs beside its requests (called in gunicorn's worker).

    ``base_url`` is where this process listens: the demo's simulated drivers ping it over
    HTTP, as real phones do (None: they record their pings in-process).
    """
    settings = app.config["SETTINGS"]
    if settings.demo and settings.demo_simulate:
        from .demo import DriverSimulator, demo_drivers

        services = app.extensions["lastmile"]
        with app.app_context():
            sender = None
            if base_url is not None:
                tokens = {d.id: d.token for d in demo_drivers(services, settings.secret_key)}
                sender = partial(post_positions, f"{base_url}/api/v1/driver/positions", tokens)
            DriverSimulator(services, send_positions=sender).start()
    if settings.socketio_message_queue and not socketio.server.manager_initialized:
        # Subscribe to the message queue now, not at the first browser connection: events
        # other processes publish in between would otherwise never reach this one's clients.
        socketio.server.manager_initialized = True
        socketio.server.manager.initialize()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def post_positions(url: str, tokens: dict[int, str], driver_id: int, pings: list[Any]) -> None:
    """Send a simulated driver's pings through the driver API, as a real phone does."""
    request = urllib.request.Request(
        url,
        data=json.dumps({"positions": pings}).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {tokens[driver_id]}",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except OSError as error:  # the server is still starting, or a ping was refused
        log.debug("simulated ping for driver %s not taken: %s", driver_id, error)


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
