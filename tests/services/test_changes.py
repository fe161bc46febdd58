"""What every recipient change shares: a stale form is refused, the cut-off comes from the
live plan, the confirmation texts once per saved version, the re-plan runs after commit."""

from __future__ import annotations

import pytest

from lastmile_portal.domain import model as m
from lastmile_portal.domain.errors import ConcurrentUpdate, NotFound
from lastmile_portal.domain.events import Actor
from lastmile_portal.services import changes, proof_of_delivery
from tests.builders import make_delivery, make_route, make_world


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


def _on_route(world, n=5):  # type: ignore[no-untyped-def]
    ds = [make_delivery(world, window_hours=(0, 8), lng=13.40 + 0.01 * i) for i in range(n)]
    return ds, make_route(world, ds)


def test_the_cut_off_comes_from_the_parcels_place_on_the_live_route(services, world) -> None:
    ds, route_id = _on_route(world)
    with services.uow() as uow:
        near = changes.open_change(services, uow, ds[1].tracking_token)
        far = changes.open_change(services, uow, ds[4].tracking_token)

    assert near.route_id == route_id and near.stops_before == 1
    assert near.window.closed and "2 stops away" in (near.window.reason or "")
    # Fifth in line, 75 minutes out by the plan: open, closing 30 minutes before.
    assert far.window.open and far.stops_before == 4
    assert far.window.closes_at is not None


def test_a_form_from_an_older_version_of_the_parcel_is_refused(services, world) -> None:
    ds, _ = _on_route(world)
    token = ds[4].tracking_token
    with services.uow() as uow:
        d = changes.open_change(services, uow, token).delivery
        seen = d.version
        d.choose_safe_place("behind the bin", at=services.clock.now(), actor=Actor.CUSTOMER)
        uow.commit()

    with services.uow() as uow, pytest.raises(ConcurrentUpdate, match="changed since"):
        changes.open_change(services, uow, token, version=seen)
    with services.uow() as uow:
        assert changes.open_change(services, uow, token, version=seen + 1).delivery.id == ds[4].id
    with services.uow() as uow, pytest.raises(NotFound):
        changes.open_change(services, uow, "not-a-token")


def test_the_confirmation_texts_once_per_saved_version(services, world) -> None:
    ds, _ = _on_route(world)
    with services.uow() as uow:
        d = uow.repo.get(m.Delivery, ds[4].id)
        changes.confirm_change(services, uow, d, "safe place set", "10:00–12:00")
        changes.confirm_change(services, uow, d, "safe place set", "10:00–12:00")
        uow.commit()
    with services.uow() as uow:
        texts = [t for t in uow.repo.outbox_of(ds[4].id) if t.kind == "change_confirmed"]
    assert len(texts) == 1
    assert "Done: safe place set" in texts[0].body and "10:00–12:00" in texts[0].body


def test_after_a_failed_attempt_the_old_stop_closes_nothing(services, world) -> None:
    ds, route_id = _on_route(world)
    with services.uow() as uow:
        first_stop = uow.repo.get(m.Delivery, ds[0].id).stop_id
    proof_of_delivery.mark_failed(services, world.driver_ids[0], first_stop, "nobody home")

    with services.uow() as uow:
        failed = changes.open_change(services, uow, ds[0].tracking_token)
    assert failed.window.open and failed.window.closes_at is None
    assert failed.stops_before is None and failed.route_id is None
