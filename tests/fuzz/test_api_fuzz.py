"""Schemathesis over /api/openapi.json: no input may cause a 5xx or an answer the spec omits.

Bounded and reproducible: a fixed number of examples per operation, derandomised, no
example database. Each example runs against one app on SQLite with a real driver token;
after every example a valid fix must still be taken (bad input never poisons the driver).
"""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance

from lastmile_portal.web.api_spec import SPEC
from tests.builders import DRIVER_TOKEN, make_delivery, make_route, make_world
from tests.conftest import MORNING
from tests.servers import LiveServer

EXAMPLES = 60

# Fix times on both sides of the window's edges (the test clock starts at MORNING) and at
# the ends of the calendar in odd offsets: year one at +01:00 once made every later ping of
# a driver a 500. Whether fixes are taken is the property tests' business.
_offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
_near = st.tuples(st.floats(-30 * 3600, 15 * 60), _offsets).map(
    lambda t: (MORNING + timedelta(seconds=t[0])).astimezone(t[1]).isoformat()
)
_extreme = st.sampled_from(
    [
        "0001-01-01T00:00:00+01:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59-01:00",
        "9999-12-31T23:59:59.999999Z",
    ]
)
schemathesis.openapi.format("date-time", _near | _extreme)


@pytest.fixture
def config(config):  # type: ignore[no-untyped-def]
    # The fuzzer sends hundreds of requests a minute: limits would answer all of them 429.
    return {
        **config,
        "DRIVER_RATE_LIMIT": "100000 per minute",
        "AUTH_FAILURE_RATE_LIMIT": "100000 per minute",
        "TWILIO_AUTH_TOKEN": "fuzz-auth-token",
    }


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    world = make_world(services)
    make_route(world, [make_delivery(world)])
    return world


@pytest.fixture
def server(app):  # type: ignore[no-untyped-def]
    live = LiveServer(app)
    live.start()
    yield live
    live.stop()


# The served description is this dict (a test below checks); schemathesis's fixture loader
# does not run on pytest 9, so the app under test is handed to each case instead.
schema = schemathesis.openapi.from_dict(SPEC)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_input_breaks_the_api(case, server, client, clock, world) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate(
        base_url=server.url,
        headers={"Authorization": f"Bearer {DRIVER_TOKEN}"},
        # A schema-valid fix may still be refused: its time must be near the server's
        # clock, which JSON Schema cannot say (the spec says it in words).
        excluded_checks=[positive_data_acceptance],
    )

    clock.advance(seconds=1)
    valid = {"lat": 52.52, "lng": 13.40, "recorded_at": clock.now().isoformat()}
    after = client.post(
        "/api/v1/driver/positions",
        json={"positions": [valid]},
        headers={"Authorization": f"Bearer {DRIVER_TOKEN}"},
    )
    assert after.status_code == 200, after.get_data(as_text=True)
    body = after.get_json()
    assert body.get("rejected") == [] and body["ignored"] == 0


def test_the_fuzzed_description_is_the_one_served(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/openapi.json").get_json() == SPEC
