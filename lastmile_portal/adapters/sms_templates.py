"""SMS texts from ``templates/sms/<kind>.txt`` (Jinja, plain text, one line when sent)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2


class JinjaSmsTemplates:
    """Render message templates; a missing value is an error, never an empty gap in a text."""

    def __init__(self, folder: str | Path) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(folder)),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # texts, not HTML
            auto_reload=False,
        )

    def render(self, kind: str, values: Mapping[str, Any]) -> str:
        """Render ``kind`` and fold its lines into one: templates wrap, texts do not."""
        text = self._env.get_template(f"{kind}.txt").render(**values)
        return " ".join(text.split())
