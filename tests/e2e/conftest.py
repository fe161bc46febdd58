"""A real server on 127.0.0.1:<free port> in a thread, serving a freshly seeded demo city."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from lastmile_portal import create_app
from lastmile_portal.adapters.migrations import upgrade
from tests.conftest import base_config


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("e2e")
    app = create_app(base_config(tmp, DEMO="true", JOB_BACKEND="thread"))
    upgrade(app.config["SETTINGS"].database_url)
    return app


@pytest.fixture(scope="module")
def live_server(live_app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def demo_links(live_app) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Return `flask --app app demo-links --json` as the operator would get it."""
    import json

    result = live_app.test_cli_runner().invoke(args=["demo-links", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)
