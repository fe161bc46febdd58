"""JSON request bodies as the app reads them: strict JSON only, never a 500."""

from __future__ import annotations

import json
from typing import Any

from flask.json.provider import DefaultJSONProvider


def _refuse_constant(name: str) -> Any:
    # Python reads NaN and Infinity, which are not JSON: refuse them like any other typo.
    raise ValueError(f"{name} is not valid JSON")


class StrictJSONProvider(DefaultJSONProvider):
    """Read request bodies as strict JSON; nesting too deep is bad input, not a crash."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse ``s``; raise ValueError (Flask answers 400) for anything that is not JSON."""
        kwargs.setdefault("parse_constant", _refuse_constant)
        try:
            return json.loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
