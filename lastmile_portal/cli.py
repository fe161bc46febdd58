"""Operator commands: `flask --app app <command>`."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import click
from flask import Flask

from .adapters import migrations
from .domain.errors import DomainError, ServiceUnavailable
from .web import services as _services
from .web import settings as _settings


def migrate_or_exit(url: str) -> None:
    """Upgrade the schema, or print why the database cannot be reached and exit 1."""
    try:
        migrations.upgrade(url)
    except ServiceUnavailable as error:
        click.echo(
            f"Cannot reach the database at {migrations.safe_url(url)}: {error.detail}\n"
            "Check DATABASE_URL and that the database server is running.",
            err=True,
        )
        sys.exit(1)


def ensure_demo() -> bool:
    """Seed today's demo city if needed; return whether it seeded."""
    from . import demo

    s = _settings()
    try:
        return demo.ensure_demo(
            _services(), s.secret_key, s.demo_staff_email, s.demo_staff_password
        )
    except demo.NotADemoDatabase as error:
        raise click.ClickException(str(error)) from None


def demo_payload() -> dict[str, object]:
    """Return the demo's links, drivers and staff login (the demo-links --json contract)."""
    from . import demo

    s = _settings()
    svc = _services()
    return {
        "deliveries": demo.demo_deliveries(svc),
        "drivers": [
            {"id": d.id, "name": d.name, "token": d.token}
            for d in demo.demo_drivers(svc, s.secret_key)
        ],
        "staff": {"email": s.demo_staff_email, "password": s.demo_staff_password},
    }


def _clear_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a domain error or an unreachable database into one line and exit 1."""

    @wraps(command)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DomainError as error:
            raise click.ClickException(error.message) from None
        except ServiceUnavailable as error:
            hint = ""
            if "no such table" in error.detail or "does not exist" in error.detail:
                hint = " Run `flask --app app migrate` first."
            raise click.ClickException(f"{error}.{hint}") from None

    return wrapped


def _seconds(_ctx: click.Context, _param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise click.BadParameter("must be a positive number of seconds")
    return value


def register(app: Flask) -> None:
    """Add the commands to ``app``; every one reports bad input in one line, no traceback."""
    _add_commands(app)
    for command in app.cli.commands.values():
        if command.callback is not None:
            command.callback = _clear_errors(command.callback)


def _add_commands(app: Flask) -> None:

    @app.cli.command("migrate")
    def migrate_command() -> None:
        """Create or upgrade the database schema (Alembic, to the newest revision)."""
        url = _settings().database_url
        migrate_or_exit(url)
        click.echo(f"Database at {migrations.safe_url(url)} is up to date.")

    @app.cli.command("worker")
    @click.option("--burst", is_flag=True, help="Exit when the queue is empty.")
    def worker_command(burst: bool) -> None:
        """Run a background-job worker (JOB_BACKEND=rq; needs REDIS_URL)."""
        from . import jobs
        from .adapters.job_queue import run_worker

        settings = _settings()
        if not settings.redis_url:
            raise click.UsageError("The worker needs REDIS_URL (and JOB_BACKEND=rq for the web).")
        jobs.use_services(_services())
        if not burst and settings.sms_sweep_seconds > 0:
            # Workers also queue the outbox sweep, so retries need no extra process.
            from .bootstrap import start_outbox_sweep

            start_outbox_sweep(_services(), settings.sms_sweep_seconds)
        if not burst and settings.plan_schedule:
            # ... and plan the depots' days at their PLAN_SCHEDULE times (once however many).
            from .bootstrap import start_plan_schedule

            start_plan_schedule(_services())
        run_worker(settings.redis_url, burst=burst)

    @app.cli.command("send-sms")
    @click.option("--watch", is_flag=True, help="Keep sending as texts come due (Ctrl+C stops).")
    @click.option(
        "--every", type=float, callback=_seconds, help="Seconds between runs with --watch."
    )
    def send_sms_command(watch: bool, every: float | None) -> None:
        """Send the texts in the outbox that are due now (retries, quiet hours ended)."""
        import time

        from .services import notifications

        pause = every if every is not None else (_settings().sms_sweep_seconds or 30.0)
        while True:
            outcomes = notifications.send_due(_services())
            summary = ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items()))
            if outcomes or not watch:
                click.echo(f"Outbox: {summary or 'nothing due'}.")
            if not watch:
                return
            time.sleep(pause)

    @app.cli.command("purge-positions")
    def purge_positions_command() -> None:
        """Delete drivers' GPS history older than POSITION_RETENTION_DAYS (run daily by cron)."""
        from .services import retention

        result = retention.purge_driver_positions(_services())
        click.echo(
            f"Deleted {result.deleted} driver positions recorded before "
            f"{result.cutoff:%Y-%m-%d %H:%M} UTC "
            f"(retention {_settings().position_retention_days} days)."
        )

    @app.cli.command("replan")
    @click.option("--depot", "depot_code", required=True, help="Depot code, e.g. BER-N.")
    def replan_command(depot_code: str) -> None:
        """Re-plan today's open routes of a depot now (moving stops between routes)."""
        from .services import routing

        svc = _services()
        result = routing.reoptimize_depot_by_code(svc, depot_code, "re-plan asked by an operator")
        click.echo(
            f"Re-planned {len(result.plan_versions)} routes in {result.solve_s:.2f}s: "
            f"{len(result.changes)} ETAs changed, {len(result.dropped)} stops could not fit."
        )

    @app.cli.command("driver-token")
    @click.argument("driver")
    def driver_token_command(driver: str) -> None:
        """Issue DRIVER (id or exact name) a new API token; the old one stops working now."""
        from .services import drivers

        issued = drivers.issue_driver_token(_services(), driver)
        base = _settings().public_base_url
        click.echo(f"New token for driver {issued.driver_id} ({issued.name}), shown only once:")
        click.echo(issued.token)
        click.echo(f"Driver page sign-in link: {base}/driver/sign-in#token={issued.token}")

    @app.cli.command("locker-key")
    @click.argument("locker_code")
    def locker_key_command(locker_code: str) -> None:
        """Issue locker LOCKER_CODE a new API key; the old one stops working now."""
        from .services import lockers

        key = lockers.issue_locker_key(_services(), locker_code)
        click.echo(f"New API key for locker {locker_code.strip()}, shown only once:")
        click.echo(key)

    @app.cli.command("return-uncollected")
    def return_uncollected_command() -> None:
        """Send back parcels left in lockers past LOCKER_HOLD_DAYS (hourly by cron with RQ)."""
        from .services import lockers

        run = lockers.return_uncollected(_services())
        click.echo(
            f"Returned {run.returned} of {run.checked} parcels checked; {run.failed} failed."
        )

    @app.cli.command("demo-seed")
    def demo_seed_command() -> None:
        """Create today's demo city (migrating first); a demo from an earlier day is replaced."""
        migrate_or_exit(_settings().database_url)
        click.echo("Demo city seeded." if ensure_demo() else "Today's demo city is already there.")

    @app.cli.command("demo-links")
    @click.option(
        "--json", "as_json", is_flag=True, help="Print links, drivers and staff login as JSON."
    )
    @click.option(
        "--drivers", "for_drivers", is_flag=True, help="Print each driver's page sign-in link."
    )
    def demo_links_command(as_json: bool, for_drivers: bool) -> None:
        """Print one line per demo delivery: <tracking_number> <url> (seeding if needed)."""
        migrate_or_exit(_settings().database_url)
        ensure_demo()
        payload = demo_payload()
        if as_json:
            click.echo(json.dumps(payload, indent=2))
            return
        if for_drivers:
            base = _settings().public_base_url
            for d in payload["drivers"]:  # type: ignore[attr-defined]
                click.echo(f"{d['id']} {base}/driver/sign-in#token={d['token']} {d['name']}")
            return
        for d in payload["deliveries"]:  # type: ignore[attr-defined]
            click.echo(f"{d['tracking_number']} {d['url']}")

    # ------------------------------------------------------------ webhooks (issue 13)

    @app.cli.group("webhook")
    def webhook_group() -> None:
        """Manage the subscribers that receive signed delivery events (docs/webhooks.md)."""

    @webhook_group.command("add")
    @click.argument("url")
    @click.option(
        "--events",
        required=True,
        help="Comma-separated: delivery.status_changed, delivery.eta_changed, "
        "delivery.proof_added, delivery.attempt_failed.",
    )
    @_clear_errors
    def webhook_add_command(url: str, events: str) -> None:
        """Subscribe URL to events; print its id and signing secret (shown only once)."""
        from .services import webhooks

        new = webhooks.add_subscription(_services(), url, events)
        click.echo(f"id {new.id}")
        click.echo(f"secret {new.secret}")
        click.echo(f"{new.url} receives {', '.join(new.events)}; keep the secret.", err=True)

    @webhook_group.command("list")
    @_clear_errors
    def webhook_list_command() -> None:
        """List the subscribers (never their secrets)."""
        from .services import webhooks

        for s in webhooks.list_subscriptions(_services()):
            state = "active" if s.active else "removed"
            click.echo(f"{s.id}\t{state}\t{s.url}\t{','.join(s.events)}")

    @webhook_group.command("remove")
    @click.argument("subscription_id", type=int)
    @_clear_errors
    def webhook_remove_command(subscription_id: int) -> None:
        """Stop sending to subscriber ID; what it has not received yet is cancelled."""
        from .services import webhooks

        cancelled = webhooks.remove_subscription(_services(), subscription_id)
        click.echo(f"Subscription {subscription_id} removed; {cancelled} unsent events cancelled.")

    @webhook_group.command("log")
    @click.argument("subscription_id", type=int)
    @click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
    @_clear_errors
    def webhook_log_command(subscription_id: int, limit: int) -> None:
        """Print subscriber ID's latest tries, newest first, with the answers they got."""
        from .services import webhooks

        for line in webhooks.delivery_log(_services(), subscription_id, limit):
            answer = str(line.status_code) if line.status_code is not None else "-"
            error = f"\t{line.error}" if line.error and line.status_code is None else ""
            click.echo(
                f"{line.attempted_at:%Y-%m-%d %H:%M:%S}Z\t{line.event_type}\t{line.event_id}"
                f"\ttry {line.attempt}\t{answer}\t{line.state}{error}"
            )

    @webhook_group.command("send")
    @_clear_errors
    def webhook_send_command() -> None:
        """Send the webhooks that are due now (cron runs this when jobs run on RQ)."""
        from .services import webhooks

        outcomes = webhooks.send_due(_services())
        click.echo(", ".join(f"{n} {o}" for o, n in sorted(outcomes.items())) or "nothing due")

    # ------------------------------------------------------------ carriers (issue 13)

    @app.cli.group("api-key")
    def api_key_group() -> None:
        """Manage the integration API's keys (a carrier's systems use them)."""

    @api_key_group.command("create")
    @click.argument("name")
    @click.option(
        "--scope",
        "scopes",
        multiple=True,
        help="deliveries:write, deliveries:read or routes:write (repeat; default the first two).",
    )
    @_clear_errors
    def api_key_create_command(name: str, scopes: tuple[str, ...]) -> None:
        """Issue a new API key named NAME and print it (shown only once)."""
        from .services import api_keys

        issued = api_keys.create_api_key(_services(), name, scopes or api_keys.DEFAULT_SCOPES)
        click.echo(issued.key)
        click.echo(f"Key {issued.name!r} ({', '.join(issued.scopes)}): shown only once.", err=True)

    @api_key_group.command("revoke")
    @click.argument("name")
    @_clear_errors
    def api_key_revoke_command(name: str) -> None:
        """Revoke the API key named NAME at once."""
        from .services import api_keys

        api_keys.revoke_api_key(_services(), name)
        click.echo(f"Key {name!r} revoked: it is refused from now on.")

    @api_key_group.command("list")
    @_clear_errors
    def api_key_list_command() -> None:
        """List the API keys (names and scopes; never the keys)."""
        from .services import api_keys

        for key in api_keys.list_api_keys(_services()):
            state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
            click.echo(f"{key.name}\t{','.join(key.scopes)}\t{state}")

    @app.cli.command("import-deliveries")
    @click.argument("csv_file", type=click.File("r", encoding="utf-8-sig"))
    @click.option("--depot", "depot_code", help="Depot code for rows without a depot column.")
    def import_deliveries_command(csv_file: Any, depot_code: str | None) -> None:
        """Announce every parcel of CSV_FILE; print what was taken and each refused row."""
        from .services import intake

        report = intake.import_csv(_services(), csv_file, depot_code)
        for row in report.rejected:
            ref = f" ({row.reference})" if row.reference else ""
            click.echo(f"line {row.line}{ref}: {row.error}", err=True)
        click.echo(
            f"Imported {report.accepted} parcels; {report.replayed} were already there; "
            f"{len(report.rejected)} rows refused."
        )
        if report.rejected:
            sys.exit(2)  # scripts see that some rows need fixing

    # ------------------------------------------------------------ the network (issue 13)

    @app.cli.command("load-network")
    @click.argument("network_file", type=click.File("r", encoding="utf-8-sig"))
    def load_network_command(network_file: Any) -> None:
        """Create or update depots, fleet, drivers, slots and lockers from NETWORK_FILE (TOML).

        All or nothing: a file with errors changes nothing and lists every error with its
        line. Drivers get no token from the file: `driver-token` issues one.
        """
        from .domain.network import NetworkErrors
        from .services import network

        try:
            report = network.load_network(_services(), network_file.read(), network_file.name)
        except NetworkErrors as errors:
            for error in errors.errors:
                click.echo(error.render(errors.filename), err=True)
            click.echo(f"{len(errors.errors)} errors: nothing was changed.", err=True)
            sys.exit(2)
        for line in report.lines():
            click.echo(line)

    # ------------------------------------------------------------ the day (issue 13)

    @app.cli.command("plan")
    @click.option("--depot", "depot_code", required=True, help="Depot code, e.g. BER-N.")
    @click.option(
        "--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="Day to plan (default today)."
    )
    @_clear_errors
    def plan_command(depot_code: str, day: Any) -> None:
        """Plan a depot's day now: routes for every waiting parcel (routes already out stay)."""
        from datetime import datetime
        from zoneinfo import ZoneInfo

        from .services import day_jobs

        job = day_jobs.plan_now(_services(), depot_code, day.date() if day else None)
        if job.state == "failed":
            raise click.ClickException(f"Job {job.id}: {job.error}")
        if job.result is None:
            click.echo(f"Job {job.id} is {job.state} elsewhere: {job.progress}")
            return
        click.echo(f"Job {job.id}, {job.depot} on {job.service_date}: {job.progress}")
        zone = ZoneInfo(_settings().timezone)

        def hm(at: str) -> str:
            return f"{datetime.fromisoformat(at).astimezone(zone):%H:%M}"

        for r in job.result["routes"]:
            click.echo(
                f"route {r['id']}\t{r['vehicle']}\t{r['driver']}\t{r['stops']} stops"
                f"\t{r['parcels']} parcels\t{r['distance_km']} km"
                f"\t{hm(r['planned_start'])}-{hm(r['planned_end'])}"
            )
        for d in job.result["dropped"]:
            click.echo(f"not planned\t{d['tracking_number']}\t{d['reason']}", err=True)
        if job.result["routes_already_out"]:
            out = ", ".join(str(i) for i in job.result["routes_already_out"])
            click.echo(f"Routes already out, left as they are: {out}.")

    @app.cli.command("dispatch")
    @click.option("--depot", "depot_code", required=True, help="Depot code, e.g. BER-N.")
    @click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="Day (default today).")
    @_clear_errors
    def dispatch_command(depot_code: str, day: Any) -> None:
        """Send out every planned route of a depot's day; each recipient gets a text."""
        from .services import day_jobs

        sent = day_jobs.dispatch_depot(_services(), depot_code, day.date() if day else None)
        for r in sent:
            click.echo(
                f"route {r.route_id}\t{r.vehicle}\t{r.driver}\t{r.parcels} parcels out for delivery"
            )
        click.echo(
            f"Dispatched {len(sent)} routes, {sum(r.parcels for r in sent)} parcels; "
            "their texts are in the outbox."
        )

    @app.cli.command("create-staff")
    @click.argument("email")
    @click.option(
        "--role",
        type=click.Choice(["agent", "supervisor", "admin"]),
        default="agent",
        show_default=True,
    )
    @click.option(
        "--name", default=None, help="Shown on the timeline (default: the e-mail's name)."
    )
    @click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
    def create_staff_command(email: str, role: str, name: str | None, password_stdin: bool) -> None:
        """Add a support staff member who signs in at /support/login (password asked twice)."""
        from .services import staff_auth

        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        staff_id = staff_auth.create_staff(_services(), email, role, password, name)
        click.echo(f"Staff member {staff_id} ({email}, {role}) can sign in at /support/login.")
