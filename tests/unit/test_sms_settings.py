"""SMS settings: bad values name the variable; a Twilio setup loads with either kind of sender."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lastmile_portal import create_app
from lastmile_portal.config import ConfigError, load_settings
from tests.conftest import base_config


def _load(tmp_path: Path, **values: Any) -> Any:
    return load_settings({"INSTANCE_DIR": str(tmp_path / "instance"), **values})


@pytest.mark.parametrize(
    ("values", "variable"),
    [
        ({"QUIET_HOURS": "late"}, "QUIET_HOURS"),
        ({"QUIET_HOURS": "22:00-22:00"}, "QUIET_HOURS"),
        ({"DEFAULT_REGION": "Germany"}, "DEFAULT_REGION"),
        ({"TWILIO_API_BASE": "127.0.0.1:8000"}, "TWILIO_API_BASE"),
        ({"TWILIO_TIMEOUT": "0"}, "TWILIO_TIMEOUT"),
        ({"SMS_MAX_ATTEMPTS": "0"}, "SMS_MAX_ATTEMPTS"),
        ({"SMS_RETRY_SECONDS": "-1"}, "SMS_RETRY_SECONDS"),
        ({"SMS_SWEEP_SECONDS": "-5"}, "SMS_SWEEP_SECONDS"),
        (
            {"SMS_BACKEND": "twilio", "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t"},
            "TWILIO_FROM",
        ),
    ],
)
def test_bad_sms_settings_name_the_variable(
    tmp_path: Path, values: dict[str, str], variable: str
) -> None:
    with pytest.raises(ConfigError, match=variable):
        _load(tmp_path, **values)


def test_sms_defaults(tmp_path: Path) -> None:
    s = _load(tmp_path)
    assert (s.default_region, s.quiet_hours, s.sms_max_attempts) == ("DE", "21:00-08:00", 8)
    assert _load(tmp_path, DEFAULT_REGION="at").default_region == "AT"
    assert _load(tmp_path, QUIET_HOURS="off").quiet_hours == "off"


def test_a_messaging_service_is_enough_as_the_sender(tmp_path: Path) -> None:
    s = _load(
        tmp_path,
        SMS_BACKEND="twilio",
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TWILIO_AUTH_TOKEN="t" * 32,
        TWILIO_MESSAGING_SERVICE_SID="MG" + "0" * 32,
    )
    assert s.twilio_messaging_service_sid.startswith("MG") and not s.twilio_from


def test_a_region_phonenumbers_does_not_know_stops_the_app(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="DEFAULT_REGION"):
        create_app(base_config(tmp_path, DEFAULT_REGION="XX"))
