"""Typed settings: the only module that reads the environment.

Every setting has a safe default for `make run` on one machine; bad values raise
ConfigError with a sentence saying which variable is wrong and what would be right.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .domain.errors import InvalidInput
from .domain.sms import parse_quiet_hours

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """Raise when an environment variable holds a value the portal cannot use."""


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with its environment variable name in upper case."""

    env: str = "development"
    secret_key: str = ""
    database_url: str = ""
    instance_dir: str = str(PROJECT_ROOT / "instance")
    host: str = "127.0.0.1"
    port: int = 5000
    public_base_url: str = ""
    timezone: str = "Europe/Berlin"
    map_tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    map_tile_attribution: str = "&copy; OpenStreetMap contributors"
    osrm_url: str = ""
    osrm_profile: str = "driving"
    # A Nominatim server for carriers' addresses without lat/lng (issue 13); "" = none.
    geocoder_url: str = ""
    # Seconds between geocoder requests: the public Nominatim asks for 1; your own, 0.
    geocoder_min_interval_s: float = 1.0
    redis_url: str = ""
    socketio_message_queue: str = ""
    job_backend: str = "thread"
    sms_backend: str = "console"
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from: str = ""
    twilio_messaging_service_sid: str = ""
    twilio_webhook_signing_key: str = ""
    twilio_api_base: str = ""
    twilio_timeout: float = 10.0
    default_region: str = "DE"
    quiet_hours: str = "21:00-08:00"
    sms_max_attempts: int = 8
    sms_retry_seconds: float = 30.0
    sms_sweep_seconds: float = 30.0
    data_encryption_key: str = ""
    trusted_proxies: int = 0
    tracking_rate_limit: str = "60 per minute"
    # Per client address: Socket.IO connects to /live (same spirit as the page's limit).
    live_connect_rate_limit: str = "60 per minute"
    # Per client address: wrong tracking or driver tokens, over HTTP and sockets alike.
    auth_failure_rate_limit: str = "20 per minute"
    # Per connection: a page asking for a fresh snapshot.
    resync_rate_limit: str = "12 per minute"
    # Per driver token: pings over HTTP and the /driver socket share one budget.
    driver_rate_limit: str = "120 per minute"
    # One line per request at INFO (every driver ping): off unless asked for.
    access_log: bool = False
    ratelimit_storage_uri: str = "memory://"
    demo: bool = False
    demo_simulate: bool = True
    demo_staff_email: str = "support@demo.lastmile.local"
    demo_staff_password: str = "lastmile-demo"
    # Support pages (issue 14): a staff session ends after this many idle minutes; sign-in
    # attempts per client address; wrong passwords in a row before an e-mail is locked out.
    staff_idle_minutes: int = 30
    staff_login_rate_limit: str = "10 per minute"
    staff_lockout_failures: int = 5
    staff_lockout_minutes: int = 15
    # The demo's day starts at this local time whatever the hour it is started (its clock
    # then runs in real time); "off" runs the demo on the real clock.
    demo_clock: str = "09:30"
    optimizer_time_limit: float = 2.0
    show_driver_within_stops: int = 5
    # Recipients' changes close when the driver is this many stops or minutes away.
    change_cutoff_stops: int = 2
    change_cutoff_minutes: int = 30
    max_reschedules: int = 2
    position_retention_days: int = 30
    photo_dir: str = ""
    # Where proof photos live: "local" (PHOTO_DIR) or "s3" (any S3-compatible store).
    photo_store: str = "local"
    s3_bucket: str = ""
    s3_prefix: str = "proof/"
    s3_endpoint_url: str = ""  # empty: AWS; MinIO or Ceph: their URL
    s3_region: str = ""
    s3_access_key_id: str = ""  # empty: boto3's own chain (instance role, config files)
    s3_secret_access_key: str = ""
    photo_max_bytes: int = 10 * 1024 * 1024
    # A proof photo taken farther than this from the address is flagged for support.
    proof_max_distance_m: float = 150.0
    # A parcel not collected from a locker by the end of this many days goes back.
    locker_hold_days: int = 7
    # How long a signed link to a proof photo opens it (tracking and support pages).
    photo_url_ttl_s: int = 900
    # When a hand-over needs a photo: "never", "unattended" (safe place, car boot, and
    # nobody named as receiving it) or "always".
    proof_photo_required: str = "unattended"
    # The manifest shows a building's access code this many open stops ahead (and at the
    # stop once arrived); never after the stop closes.
    manifest_code_stops: int = 3
    # Outbound webhooks (issue 13): an ETA move smaller than this is not announced; tries
    # double from the retry delay up to its cap; after the last try a webhook is failed.
    webhook_eta_minutes: float = 10.0
    webhook_max_attempts: int = 12
    webhook_retry_seconds: float = 30.0
    webhook_retry_max_seconds: float = 3600.0
    webhook_timeout: float = 5.0
    webhook_sweep_seconds: float = 30.0
    # The day (issue 13): depots planned by the worker each day at a local time,
    # "BER-N=05:30,HAM-S=06:00"; empty: planning only when asked (API, `flask plan`).
    plan_schedule: str = ""
    log_level: str = "INFO"
    testing: bool = False

    @property
    def is_sqlite(self) -> bool:
        """Return whether the database is an SQLite file."""
        return self.database_url.startswith("sqlite")


CHOICES = {
    "env": {"development", "production", "testing"},
    "job_backend": {"inline", "thread", "rq"},
    "sms_backend": {"console", "twilio", "fake"},
    "log_level": {"DEBUG", "INFO", "WARNING", "ERROR"},
    "proof_photo_required": {"never", "unattended", "always"},
    "photo_store": {"local", "s3"},
}


def load_settings(source: Mapping[str, str | object] | None = None) -> Settings:
    """Build settings from ``source`` (default: the process environment).

    Keys are the upper-case field names (``DATABASE_URL``); tests pass a plain mapping.
    """
    env = os.environ if source is None else source
    values: dict[str, object] = {}
    for f in fields(Settings):
        key = f.name.upper()
        if key not in env or env[key] in ("", None):
            continue
        raw = env[key]
        values[f.name] = _coerce(key, raw, f.type)
    settings = Settings(**values)  # type: ignore[arg-type]
    return _complete(settings)


def _coerce(key: str, raw: object, kind: object) -> object:
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    if kind in ("bool", bool):
        if text.lower() in {"1", "true", "yes", "on"}:
            return True
        if text.lower() in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{key} must be true or false, not {raw!r}.")
    if kind in ("int", int):
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{key} must be a whole number, not {raw!r}.") from None
    if kind in ("float", float):
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{key} must be a number, not {raw!r}.") from None
    return text


def _complete(s: Settings) -> Settings:
    for name, allowed in CHOICES.items():
        value = getattr(s, name)
        if value not in allowed:
            raise ConfigError(
                f"{name.upper()} must be one of {', '.join(sorted(allowed))}, not {value!r}."
            )
    if not 0 < s.port < 65536:
        raise ConfigError(f"PORT must be between 1 and 65535, not {s.port}.")
    try:
        ZoneInfo(s.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"TIMEZONE {s.timezone!r} is not a known time zone.") from None
    instance = Path(s.instance_dir)
    database_url = s.database_url or f"sqlite:///{instance / 'lastmile.db'}"
    if database_url.startswith("postgres://"):
        database_url = "postgresql://" + database_url[len("postgres://") :]
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]
    if not database_url.startswith(("sqlite", "postgresql")):
        raise ConfigError(
            "DATABASE_URL must be an sqlite:/// or postgresql:// URL, "
            f"not {database_url.split('://')[0]}://..."
        )
    secret_key = s.secret_key
    if not secret_key:
        if s.env == "production":
            raise ConfigError("SECRET_KEY must be set in production (a long random string).")
        secret_key = _instance_secret(instance) if not s.testing else "testing-secret-key"
    if s.job_backend == "rq" and not s.redis_url:
        raise ConfigError("JOB_BACKEND=rq needs REDIS_URL (e.g. redis://127.0.0.1:6379/0).")
    for name in (
        "trusted_proxies",
        "show_driver_within_stops",
        "change_cutoff_stops",
        "change_cutoff_minutes",
        "max_reschedules",
        "manifest_code_stops",
    ):
        if getattr(s, name) < 0:
            raise ConfigError(f"{name.upper()} must be 0 or more, not {getattr(s, name)}.")
    if s.sms_backend == "twilio" and not (
        s.twilio_account_sid
        and s.twilio_auth_token
        and (s.twilio_from or s.twilio_messaging_service_sid)
    ):
        raise ConfigError(
            "SMS_BACKEND=twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM "
            "(or TWILIO_MESSAGING_SERVICE_SID)."
        )
    if s.photo_store == "s3" and not s.s3_bucket:
        raise ConfigError("PHOTO_STORE=s3 needs S3_BUCKET (and S3_ENDPOINT_URL for MinIO or Ceph).")
    if s.s3_endpoint_url and not s.s3_endpoint_url.startswith(("http://", "https://")):
        raise ConfigError("S3_ENDPOINT_URL must be an http:// or https:// URL.")
    if s.geocoder_url and not s.geocoder_url.startswith(("http://", "https://")):
        raise ConfigError("GEOCODER_URL must be an http:// or https:// URL of a Nominatim server.")
    if s.geocoder_min_interval_s < 0:
        raise ConfigError("GEOCODER_MIN_INTERVAL_S must be 0 or more seconds.")
    if s.twilio_api_base and not s.twilio_api_base.startswith(("http://", "https://")):
        raise ConfigError("TWILIO_API_BASE must be an http:// or https:// URL.")
    if s.twilio_timeout <= 0:
        raise ConfigError("TWILIO_TIMEOUT must be a positive number of seconds.")
    if not re.fullmatch(r"[A-Z]{2}", s.default_region.upper()):
        raise ConfigError(
            f"DEFAULT_REGION must be a two-letter country code like DE, not {s.default_region!r}."
        )
    try:
        parse_quiet_hours(s.quiet_hours)
    except InvalidInput as error:
        raise ConfigError(f"QUIET_HOURS: {error.message} Use 'off' for none.") from None
    if s.sms_max_attempts < 1:
        raise ConfigError("SMS_MAX_ATTEMPTS must be at least 1.")
    if s.sms_retry_seconds <= 0:
        raise ConfigError("SMS_RETRY_SECONDS must be a positive number of seconds.")
    if s.position_retention_days < 1:
        raise ConfigError(
            "POSITION_RETENTION_DAYS must be at least 1 (today's positions drive live ETAs)."
        )
    if s.photo_max_bytes < 1:
        raise ConfigError("PHOTO_MAX_BYTES must be a positive number of bytes.")
    if s.proof_max_distance_m <= 0:
        raise ConfigError("PROOF_MAX_DISTANCE_M must be a positive number of metres.")
    if not 1 <= s.locker_hold_days <= 60:
        raise ConfigError(
            f"LOCKER_HOLD_DAYS must be from 1 to 60 (days), not {s.locker_hold_days}."
        )
    if not 1 <= s.photo_url_ttl_s <= 86400:
        raise ConfigError(
            "PHOTO_URL_TTL_S must be between 1 and 86400 seconds (photo links are short-lived)."
        )
    if s.sms_sweep_seconds < 0:
        raise ConfigError("SMS_SWEEP_SECONDS must be 0 (off) or a number of seconds.")
    _check_webhooks(s)
    parse_plan_schedule(s.plan_schedule)
    for name in (
        "tracking_rate_limit",
        "live_connect_rate_limit",
        "auth_failure_rate_limit",
        "resync_rate_limit",
        "driver_rate_limit",
        "staff_login_rate_limit",
    ):
        _check_rate_limit(name.upper(), getattr(s, name))
    if s.demo_clock.lower() != "off" and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", s.demo_clock):
        raise ConfigError(
            f"DEMO_CLOCK must be a time of day like 09:30, or off; not {s.demo_clock!r}."
        )
    if s.optimizer_time_limit <= 0:
        raise ConfigError("OPTIMIZER_TIME_LIMIT must be a positive number of seconds.")
    for name in ("staff_idle_minutes", "staff_lockout_failures", "staff_lockout_minutes"):
        if getattr(s, name) < 1:
            raise ConfigError(f"{name.upper()} must be a whole number of at least 1.")
    return Settings(
        **{
            **{f.name: getattr(s, f.name) for f in fields(Settings)},
            "database_url": database_url,
            "secret_key": secret_key,
            "data_encryption_key": s.data_encryption_key or secret_key,
            "public_base_url": (s.public_base_url or f"http://{s.host}:{s.port}").rstrip("/"),
            # Jobs on RQ workers publish live events: without a message queue nobody hears them.
            "socketio_message_queue": s.socketio_message_queue
            or (s.redis_url if s.job_backend == "rq" else ""),
            "photo_dir": s.photo_dir or str(instance / "photos"),
            "default_region": s.default_region.upper(),
            # "none" turns tiles off: the map still shows the address and the driver.
            "map_tile_url": "" if s.map_tile_url.lower() in {"none", "off"} else s.map_tile_url,
        }
    )


def _check_webhooks(s: Settings) -> None:
    """Refuse webhook settings that would spam, never retry, or never give up."""
    if s.webhook_eta_minutes < 0:
        raise ConfigError("WEBHOOK_ETA_MINUTES must be 0 (every move) or more minutes.")
    if not 1 <= s.webhook_max_attempts <= 50:
        raise ConfigError(
            f"WEBHOOK_MAX_ATTEMPTS must be from 1 to 50, not {s.webhook_max_attempts}."
        )
    if s.webhook_retry_seconds <= 0:
        raise ConfigError("WEBHOOK_RETRY_SECONDS must be a positive number of seconds.")
    if s.webhook_retry_max_seconds < s.webhook_retry_seconds:
        raise ConfigError("WEBHOOK_RETRY_MAX_SECONDS must be at least WEBHOOK_RETRY_SECONDS.")
    if not 0 < s.webhook_timeout <= 60:
        raise ConfigError("WEBHOOK_TIMEOUT must be more than 0 and at most 60 seconds.")
    if s.webhook_sweep_seconds < 0:
        raise ConfigError("WEBHOOK_SWEEP_SECONDS must be 0 (off) or a number of seconds.")


def parse_plan_schedule(text: str) -> dict[str, str]:
    """Return PLAN_SCHEDULE as depot code -> "HH:MM", or raise ConfigError naming the bad part."""
    schedule: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        code, _, at = (x.strip() for x in part.partition("="))
        try:
            valid = bool(code) and len(at) == 5 and time.fromisoformat(at) is not None
        except ValueError:
            valid = False
        if not valid:
            raise ConfigError(
                f"PLAN_SCHEDULE entries look like 'BER-N=05:30' (depot=HH:MM), not {part!r}."
            )
        schedule[code] = at
    return schedule


def _check_rate_limit(key: str, value: str) -> None:
    """Refuse a rate limit Flask-Limiter would not understand (e.g. "60 per minute")."""
    from limits import parse_many

    try:
        if parse_many(value):
            return
    except ValueError:
        pass
    raise ConfigError(f"{key} must be a rate like '60 per minute' or '10/second', not {value!r}.")


def _instance_secret(instance: Path) -> str:
    """Return this installation's secret key, creating it on first start (dev only)."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key
