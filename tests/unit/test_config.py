"""Settings from a mapping: bad values name the variable; good ones are normalised."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lastmile_portal.config import ConfigError, load_settings


def _load(tmp_path: Path, **values: Any) -> Any:
    return load_settings({"INSTANCE_DIR": str(tmp_path / "instance"), **values})


@pytest.mark.parametrize(
    ("values", "variable"),
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"PORT": "0"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"PORT": "-1"}, "PORT"),
        ({"JOB_BACKEND": "celery"}, "JOB_BACKEND"),
        ({"SMS_BACKEND": "carrier-pigeon"}, "SMS_BACKEND"),
        ({"ENV": "staging"}, "ENV"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"DEMO": "maybe"}, "DEMO"),
        ({"TESTING": "2"}, "TESTING"),
        ({"DEMO_SIMULATE": "yesplease"}, "DEMO_SIMULATE"),
        ({"TIMEZONE": "Mars/Olympus_Mons"}, "TIMEZONE"),
        ({"TIMEZONE": "../../etc/passwd"}, "TIMEZONE"),
        ({"DATABASE_URL": "mysql://root@localhost/db"}, "DATABASE_URL"),
        ({"DATABASE_URL": "oracle://scott:tiger@db/orcl"}, "DATABASE_URL"),
        ({"ENV": "production"}, "SECRET_KEY"),
        ({"JOB_BACKEND": "rq"}, "REDIS_URL"),
        ({"SMS_BACKEND": "twilio"}, "TWILIO_ACCOUNT_SID"),
        (
            {"SMS_BACKEND": "twilio", "TWILIO_ACCOUNT_SID": "AC123", "TWILIO_AUTH_TOKEN": "x"},
            "TWILIO_FROM",
        ),
        ({"OPTIMIZER_TIME_LIMIT": "fast"}, "OPTIMIZER_TIME_LIMIT"),
        ({"OPTIMIZER_TIME_LIMIT": "0"}, "OPTIMIZER_TIME_LIMIT"),
        ({"POSITION_RETENTION_DAYS": "0"}, "POSITION_RETENTION_DAYS"),
        ({"POSITION_RETENTION_DAYS": "a month"}, "POSITION_RETENTION_DAYS"),
        ({"GEOCODER_URL": "ftp://nominatim.local"}, "GEOCODER_URL"),
        ({"GEOCODER_MIN_INTERVAL_S": "-1"}, "GEOCODER_MIN_INTERVAL_S"),
        ({"PROOF_PHOTO_REQUIRED": "sometimes"}, "PROOF_PHOTO_REQUIRED"),
        ({"MANIFEST_CODE_STOPS": "-2"}, "MANIFEST_CODE_STOPS"),
    ],
    ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}={x}" for k, x in v.items()),
)
def test_bad_value_raises_config_error_naming_the_variable(
    tmp_path: Path, values: dict[str, str], variable: str
) -> None:
    with pytest.raises(ConfigError) as excinfo:
        _load(tmp_path, **values)
    assert variable in str(excinfo.value)


def test_database_password_is_not_echoed_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as excinfo:
        _load(tmp_path, DATABASE_URL="mysql://root:hunter2@localhost/db")
    assert "hunter2" not in str(excinfo.value)


@pytest.mark.parametrize(
    "url",
    [
        "postgres://lm:pw@db.example:5432/lastmile",
        "postgresql://lm:pw@db.example:5432/lastmile",
        "postgresql+psycopg://lm:pw@db.example:5432/lastmile",
    ],
)
def test_postgres_urls_are_normalised_to_psycopg3(tmp_path: Path, url: str) -> None:
    settings = _load(tmp_path, DATABASE_URL=url)
    assert settings.database_url == "postgresql+psycopg://lm:pw@db.example:5432/lastmile"
    assert not settings.is_sqlite


def test_sqlite_url_is_kept(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    settings = _load(tmp_path, DATABASE_URL=url)
    assert settings.database_url == url
    assert settings.is_sqlite


@pytest.mark.parametrize("value", ["none", "None", "OFF", " none "])
def test_map_tile_url_none_disables_tiles(tmp_path: Path, value: str) -> None:
    assert _load(tmp_path, MAP_TILE_URL=value).map_tile_url == ""


def test_custom_map_tile_url_is_kept(tmp_path: Path) -> None:
    url = "https://tiles.example/{z}/{x}/{y}.png"
    assert _load(tmp_path, MAP_TILE_URL=url).map_tile_url == url


def test_defaults_are_safe_for_one_machine(tmp_path: Path) -> None:
    s = _load(tmp_path)
    assert s.env == "development"
    assert s.host == "127.0.0.1"  # not exposed on the network by default
    assert s.port == 5000
    assert s.database_url == f"sqlite:///{tmp_path / 'instance' / 'lastmile.db'}"
    assert s.is_sqlite
    assert s.job_backend == "thread"
    assert s.sms_backend == "console"  # never texts real people by accident
    assert s.timezone == "Europe/Berlin"
    assert s.public_base_url == "http://127.0.0.1:5000"
    assert s.photo_dir == str(tmp_path / "instance" / "photos")
    assert s.testing is False and s.demo is False
    assert s.optimizer_time_limit > 0
    # A development secret is generated, long, kept in the instance folder and reused.
    assert len(s.secret_key) >= 32
    assert s.data_encryption_key == s.secret_key
    assert (tmp_path / "instance" / "secret_key").read_text().strip() == s.secret_key
    assert _load(tmp_path).secret_key == s.secret_key
    assert (tmp_path / "instance" / "secret_key").stat().st_mode & 0o077 == 0


def test_two_installations_get_different_secrets(tmp_path: Path) -> None:
    a = load_settings({"INSTANCE_DIR": str(tmp_path / "a")}).secret_key
    b = load_settings({"INSTANCE_DIR": str(tmp_path / "b")}).secret_key
    assert a != b


def test_values_are_typed_and_trimmed(tmp_path: Path) -> None:
    s = _load(
        tmp_path,
        PORT=" 8080 ",
        DEMO="Yes",
        DEMO_SIMULATE="off",
        OPTIMIZER_TIME_LIMIT="0.5",
        PUBLIC_BASE_URL="https://track.example/",
        SECRET_KEY="s3cret-s3cret-s3cret",
    )
    assert s.port == 8080
    assert s.demo is True
    assert s.demo_simulate is False
    assert s.optimizer_time_limit == 0.5
    assert s.public_base_url == "https://track.example"  # links never get a double slash
    assert s.secret_key == "s3cret-s3cret-s3cret"


def test_empty_values_fall_back_to_defaults(tmp_path: Path) -> None:
    s = _load(tmp_path, PORT="", JOB_BACKEND="", DATABASE_URL="")
    assert s.port == 5000
    assert s.job_backend == "thread"
    assert s.is_sqlite


def test_production_with_secret_and_full_twilio_and_rq_loads(tmp_path: Path) -> None:
    s = _load(
        tmp_path,
        ENV="production",
        SECRET_KEY="k" * 48,
        JOB_BACKEND="rq",
        REDIS_URL="redis://127.0.0.1:6379/0",
        SMS_BACKEND="twilio",
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TWILIO_AUTH_TOKEN="t" * 32,
        TWILIO_FROM="+4930231250000",
        DATA_ENCRYPTION_KEY="separate-key",
    )
    assert s.env == "production"
    assert s.job_backend == "rq"
    assert s.sms_backend == "twilio"
    assert s.data_encryption_key == "separate-key"
    # Production never writes a generated secret to disk.
    assert not (tmp_path / "instance" / "secret_key").exists()


def test_load_settings_reads_the_environment_when_given_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("PORT", "6123")
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    s = load_settings()
    assert s.port == 6123
    assert s.secret_key == "from-the-environment"
    monkeypatch.setenv("PORT", "not-a-port")
    with pytest.raises(ConfigError, match="PORT"):
        load_settings()


def test_rq_jobs_publish_through_redis_unless_told_otherwise() -> None:
    s = load_settings(
        {"JOB_BACKEND": "rq", "REDIS_URL": "redis://127.0.0.1:6379/3", "TESTING": "1"}
    )
    assert s.socketio_message_queue == "redis://127.0.0.1:6379/3"
    s = load_settings({"TESTING": "1"})
    assert s.socketio_message_queue == ""


@pytest.mark.parametrize("name", ["TRUSTED_PROXIES", "SHOW_DRIVER_WITHIN_STOPS"])
def test_negative_counts_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({name: "-1", "TESTING": "1"})
