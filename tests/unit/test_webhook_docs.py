"""The verification example in docs/webhooks.md works on what the portal signs."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from lastmile_portal.domain import webhooks as wh
from lastmile_portal.domain.webhook_signing import sign

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def documented_verifier() -> Any:
    (code,) = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 (our own documentation)
    return namespace["verify_lastmile"]


def test_the_documented_example_accepts_a_signed_body_and_refuses_a_changed_one() -> None:
    verify_lastmile = documented_verifier()
    body = b'{"id":"evt_1","type":"delivery.status_changed"}'
    header = sign("whsec_doc", body, int(time.time()))

    assert verify_lastmile("whsec_doc", header, body)
    assert not verify_lastmile("whsec_doc", header, body + b" ")
    assert not verify_lastmile("whsec_other", header, body)
    assert not verify_lastmile("whsec_doc", sign("whsec_doc", body, int(time.time()) - 600), body)
    assert not verify_lastmile("whsec_doc", "garbage", body)
    assert not verify_lastmile("whsec_doc", header.replace("v1=", "v1=é"), body)


def test_the_documented_event_types_are_the_ones_sent() -> None:
    documented = set(re.findall(r"^\| `(delivery\.[a-z_]+)` \|", DOC.read_text(), re.M))

    assert documented == set(wh.EVENT_TYPES)


def test_the_documented_statuses_are_every_status() -> None:
    from lastmile_portal.domain.status import DeliveryStatus

    paragraph = DOC.read_text().split("Statuses (")[1].split("\n\n")[0]
    listed = set(re.findall(r"`([a-z_]+)`", paragraph.split(":", 1)[1]))

    assert listed == {s.value for s in DeliveryStatus}
