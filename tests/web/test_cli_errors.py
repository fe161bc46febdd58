"""Operator commands report bad input in one line and exit non-zero, never with a traceback."""

from __future__ import annotations

import pytest

from lastmile_portal import create_app
from tests.conftest import base_config


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["replan", "--depot", "NOPE"], 1, "NOPE"),
        (["replan", "--depot", "X" * 5000], 1, "Error:"),
        (["send-sms", "--watch", "--every", "nan"], 2, "positive number of seconds"),
        (["send-sms", "--watch", "--every", "-5"], 2, "positive number of seconds"),
        (["send-sms", "--watch", "--every", "soon"], 2, "--every"),
    ],
    ids=["unknown-depot", "huge-depot-code", "every-nan", "every-negative", "every-text"],
)
def test_bad_command_input_is_one_clear_line(app, args, code, words) -> None:  # type: ignore[no-untyped-def]
    result = app.test_cli_runner().invoke(args=args)

    assert result.exit_code == code, result.output
    assert words in result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_a_database_without_tables_says_to_migrate(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = create_app(base_config(tmp_path))  # a fresh file: no schema yet

    result = app.test_cli_runner().invoke(args=["send-sms"])

    assert result.exit_code == 1
    assert "flask --app app migrate" in result.output
    assert "Traceback" not in result.output
