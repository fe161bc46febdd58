"""The recipient sees the proof: the distance sentence, the photos through short-lived signed
links (only with this delivery's token), on the page, in the snapshot and live on the socket."""

from __future__ import annotations

import io
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import socketio
from PIL import Image

from lastmile_portal import create_app
from lastmile_portal.adapters.migrations import upgrade
from lastmile_portal.config import ConfigError
from lastmile_portal.domain import model as m
from lastmile_portal.services import tracking
from lastmile_portal.services.proof_view import describe, distance_words
from tests.builders import (
    DRIVER_TOKEN,
    load_stop_id,
    make_delivery,
    make_locker,
    make_route,
    make_world,
)
from tests.conftest import base_config
from tests.servers import LiveServer

AUTH = {"Authorization": f"Bearer {DRIVER_TOKEN}"}
DOOR = (52.52, 13.40)
FORTY_M_NORTH = (52.52036, 13.40)  # 40.0 m from DOOR
# 09:00 UTC on the test clock is 10:00 in Berlin.
DELIVERED_40M = "Delivered 40 m from your door at 10:00."


def jpeg(
    colour: tuple[int, int, int] = (200, 120, 40), size: tuple[int, int] = (640, 480)
) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG")
    return out.getvalue()


def deliver(client, stop_id: int, photos: list[bytes], at: tuple[float, float] | None) -> Any:  # type: ignore[no-untyped-def]
    data: dict[str, Any] = {
        "photo": [(io.BytesIO(p), f"p{i}.jpg", "image/jpeg") for i, p in enumerate(photos)],
        "recorded_at": "2026-11-25T09:00:00+00:00",
    }
    if at is not None:
        data.update(lat=str(at[0]), lng=str(at[1]))
    response = client.post(
        f"/api/v1/driver/stops/{stop_id}/delivered",
        data=data,
        content_type="multipart/form-data",
        headers=AUTH,
    )
    assert response.status_code == 200, response.get_json()
    return response


class ProofSection(HTMLParser):
    """Read the proof section of a page the way a test user sees it."""

    def __init__(self) -> None:
        super().__init__()
        self.section: dict[str, str | None] | None = None
        self.summary = ""
        self.links: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self._in_summary = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id") == "proof":
            self.section = a
        if a.get("data-testid") == "proof-summary":
            self._in_summary = True
        if a.get("data-testid") == "proof-link":
            self.links.append(a["href"] or "")
        if a.get("data-testid") == "proof-photo":
            self.images.append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self._in_summary = False

    def handle_data(self, data: str) -> None:
        if self._in_summary:
            self.summary += data


def proof_of(html: str) -> ProofSection:
    parsed = ProofSection()
    parsed.feed(html)
    return parsed


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


@pytest.fixture
def parcel(world):  # type: ignore[no-untyped-def]
    """A parcel at DOOR on driver 0's dispatched route; (stop id, delivery)."""
    delivery = make_delivery(world, lat=DOOR[0], lng=DOOR[1])
    make_route(world, [delivery])
    return load_stop_id(world.services, delivery), delivery


def stored(services, delivery_id: int) -> list[m.ProofPhoto]:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        rows = [p for p in uow.repo.all(m.ProofPhoto) if p.delivery_id == delivery_id]
        return sorted(rows, key=lambda p: p.id)


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return f"{parts.path}?{urlencode({**query, **changes})}"


# ---------------------------------------------------------------- the page


def test_the_delivered_page_says_how_far_and_its_thumbnail_opens_the_full_photo(
    client, services, parcel
) -> None:  # type: ignore[no-untyped-def]
    stop_id, delivery = parcel
    deliver(client, stop_id, [jpeg()], FORTY_M_NORTH)

    page = client.get(f"/t/{delivery.tracking_token}")

    assert page.status_code == 200
    proof = proof_of(page.get_data(as_text=True))
    assert proof.section is not None and "hidden" not in proof.section
    assert proof.summary == DELIVERED_40M
    assert len(proof.images) == 1 and len(proof.links) == 1
    [photo] = stored(services, delivery.id)
    thumb = client.get(proof.images[0]["src"])
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert thumb.data == services.photos.get(photo.thumbnail_key)
    full = client.get(proof.links[0])
    assert full.status_code == 200 and full.mimetype == "image/jpeg"
    assert full.data == services.photos.get(photo.storage_key)
    assert Image.open(io.BytesIO(full.data)).size == (640, 480)  # the photo, not the thumbnail
    assert full.headers["Cache-Control"] == "private, max-age=900"
    assert full.headers["X-Content-Type-Options"] == "nosniff"
    assert full.headers["Content-Disposition"] == "inline"


def test_the_links_are_signed_not_guessable_and_never_under_static(client, parcel) -> None:  # type: ignore[no-untyped-def]
    stop_id, delivery = parcel
    deliver(client, stop_id, [jpeg()], DOOR)

    proof = proof_of(client.get(f"/t/{delivery.tracking_token}").get_data(as_text=True))

    url = proof.links[0]
    assert url.startswith(f"/t/{delivery.tracking_token}/proof/") and "/static/" not in url
    query = parse_qs(urlsplit(url).query)
    assert query["size"] == ["full"] and len(query["sig"][0]) >= 43
    bare = urlsplit(url).path
    assert client.get(bare).status_code == 403  # the id alone opens nothing
    assert client.get(bare + "?size=full&expires=9999999999&sig=x").status_code == 403


def test_a_hand_over_at_the_door_says_so_and_one_without_a_position_claims_no_distance(
    client, world
) -> None:  # type: ignore[no-untyped-def]
    at_door = make_delivery(world, lat=DOOR[0], lng=DOOR[1])
    unknown = make_delivery(world, lat=DOOR[0], lng=DOOR[1])
    make_route(world, [at_door, unknown])
    deliver(client, load_stop_id(world.services, at_door), [jpeg()], (52.52005, 13.40))  # 5.6 m
    deliver(client, load_stop_id(world.services, unknown), [jpeg()], None)

    near = proof_of(client.get(f"/t/{at_door.tracking_token}").get_data(as_text=True))
    blind = proof_of(client.get(f"/t/{unknown.tracking_token}").get_data(as_text=True))

    assert near.summary == "Delivered at your door at 10:00."
    assert blind.summary == "Delivered at 10:00."


def test_a_locker_parcel_says_it_was_put_in_the_locker(client, world) -> None:  # type: ignore[no-untyped-def]
    locker = make_locker(world, sizes="M")
    parcel = make_delivery(
        world,
        lat=DOOR[0],
        lng=DOOR[1],
        option=m.DeliveryOption.LOCKER,
        locker_id=locker,
        parcel_size=m.ParcelSize.M,
    )
    make_route(world, [parcel])
    deliver(client, load_stop_id(world.services, parcel), [jpeg()], DOOR)

    proof = proof_of(client.get(f"/t/{parcel.tracking_token}").get_data(as_text=True))

    assert proof.summary == "Put in the locker at 10:00."
    assert client.get(proof.images[0]["src"]).status_code == 200


def test_no_proof_no_section_and_no_links(client, parcel) -> None:  # type: ignore[no-untyped-def]
    _, delivery = parcel

    proof = proof_of(client.get(f"/t/{delivery.tracking_token}").get_data(as_text=True))

    # The section is in the page for the script to fill live, hidden and empty.
    assert proof.section is not None and "hidden" in proof.section
    assert proof.images == [] and proof.summary == ""


def test_the_photo_of_a_failed_attempt_is_shown_as_the_attempt(client, publisher, parcel) -> None:  # type: ignore[no-untyped-def]
    stop_id, delivery = parcel
    response = client.post(
        f"/api/v1/driver/stops/{stop_id}/failed",
        data={
            "reason": "no_access",
            "lat": str(FORTY_M_NORTH[0]),
            "lng": str(FORTY_M_NORTH[1]),
            "photo": [(io.BytesIO(jpeg()), "gate.jpg", "image/jpeg")],
        },
        content_type="multipart/form-data",
        headers=AUTH,
    )
    assert response.status_code == 200, response.get_json()

    html = client.get(f"/t/{delivery.tracking_token}").get_data(as_text=True)

    proof = proof_of(html)
    assert "The driver&#39;s photo of the attempt" in html
    assert proof.summary == "Taken 40 m from your door at 10:00."
    assert client.get(proof.images[0]["src"]).mimetype == "image/jpeg"
    # The open page heard it too, in the same words.
    [live] = [p for _, e, p in publisher.published if e == "proof"]
    assert live["kind"] == "attempt" and live["summary"] + "." == proof.summary
    assert (f"delivery:{delivery.id}", "proof", live) in publisher.published


# ---------------------------------------------------------------- who may open a photo


def test_an_expired_link_is_refused_with_words_not_the_image(client, clock, parcel) -> None:  # type: ignore[no-untyped-def]
    stop_id, delivery = parcel
    deliver(client, stop_id, [jpeg()], DOOR)
    url = proof_of(client.get(f"/t/{delivery.tracking_token}").get_data(as_text=True)).links[0]

    clock.advance(seconds=899)
    assert client.get(url).headers["Cache-Control"] == "private, max-age=1"
    clock.advance(seconds=1)
    answer = client.get(url)

    assert answer.status_code == 410
    assert answer.mimetype == "text/html"
    assert "This photo link has expired" in answer.get_data(as_text=True)
    assert answer.headers["Cache-Control"] == "no-store"
    # The page, loaded again, signs fresh links that work.
    fresh = proof_of(client.get(f"/t/{delivery.tracking_token}").get_data(as_text=True)).links[0]
    assert fresh != url and client.get(fresh).status_code == 200


def test_another_customers_token_cannot_fetch_the_photo(client, world, parcel) -> None:  # type: ignore[no-untyped-def]
    stop_id, delivery = parcel
    other = make_delivery(world)
    deliver(client, stop_id, [jpeg()], DOOR)
    url = proof_of(client.get(f"/t/{delivery.tracking_token}").get_data(as_text=True)).links[0]

    theirs = client.get(url.replace(delivery.tracking_token, other.tracking_token))
    unknown = client.get(url.replace(delivery.tracking_token, "x" * len(delivery.tracking_token)))

    assert theirs.status_code == 404 and unknown.status_code == 404
    assert theirs.get_data() == unknown.get_data()  # says nothing about whose photo it is
    assert theirs.mimetype == "text/html"


def test_a_guessed_photo_id_with_a_real_but_foreign_signature_is_refused(client, parcel) -> None:  # type: ignore[no-untyped-def]
    stop_id, delivery = parcel
    deliver(client, stop_id, [jpeg((10, 10, 200)), jpeg((200, 10, 10))], DOOR)
    first, second = proof_of(
        client.get(f"/t/{delivery.tracking_token}").get_data(as_text=True)
    ).links
    second_id = urlsplit(second).path.rsplit("/", 1)[1]
    first_path = urlsplit(first).path

    # The first photo's valid signature, on the second photo's id: refused.
    swapped = first.replace(first_path, first_path.rsplit("/", 1)[0] + "/" + second_id)
    assert client.get(swapped).status_code == 403
    # A thumbnail's signature does not open the full photo.
    thumb = proof_of(client.get(f"/t/{delivery.tracking_token}").get_data(as_text=True)).images[0]
    assert client.get(with_query(str(thumb["src"]), size="full")).status_code == 403
    # Nor does a signature with one character changed, or an expiry moved by hand.
    sig = parse_qs(urlsplit(first).query)["sig"][0]
    assert (
        client.get(with_query(first, sig=("A" if sig[0] != "A" else "B") + sig[1:])).status_code
        == 403
    )
    expires = parse_qs(urlsplit(first).query)["expires"][0]
    assert client.get(with_query(first, expires=str(int(expires) + 3600))).status_code == 403
    assert client.get(first).status_code == 200


def test_a_photo_id_of_another_delivery_is_not_found_even_with_its_own_valid_link(
    client, world
) -> None:  # type: ignore[no-untyped-def]
    mine = make_delivery(world, lat=DOOR[0], lng=DOOR[1])
    theirs = make_delivery(world, lat=DOOR[0], lng=DOOR[1])
    make_route(world, [mine, theirs])
    deliver(client, load_stop_id(world.services, mine), [jpeg()], DOOR)
    deliver(client, load_stop_id(world.services, theirs), [jpeg()], DOOR)
    their_link = proof_of(client.get(f"/t/{theirs.tracking_token}").get_data(as_text=True)).links[0]

    # My token in front of their (real, signed) link: their delivery is not mine.
    answer = client.get(their_link.replace(theirs.tracking_token, mine.tracking_token))

    assert answer.status_code == 404


# ---------------------------------------------------------------- the live page


def test_the_snapshot_carries_the_proof_so_a_reconnect_shows_it(client, services, parcel) -> None:  # type: ignore[no-untyped-def]
    stop_id, delivery = parcel
    assert tracking.live_snapshot(services, delivery.id)["proof"] is None
    deliver(client, stop_id, [jpeg()], FORTY_M_NORTH)

    snap = tracking.live_snapshot(services, delivery.id)

    proof = snap["proof"]
    assert proof["kind"] == "delivered" and proof["summary"] + "." == DELIVERED_40M
    assert proof["distance_m"] == pytest.approx(40.0, abs=0.2)
    assert proof["ttl_s"] == 900
    [photo] = proof["photos"]
    assert (photo["width"], photo["height"]) == (640, 480)
    assert client.get(photo["thumb"]).mimetype == "image/jpeg"
    assert client.get(photo["full"]).data == services.photos.get(
        stored(services, delivery.id)[0].storage_key
    )


class Listener:
    """A real Socket.IO client on /live that records every event it gets."""

    NAMES = ("snapshot", "status", "proof", "eta", "position")

    def __init__(self, url: str, token: str) -> None:
        self.client = socketio.Client(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.got = threading.Condition()
        for name in self.NAMES:
            self.client.on(name, self._recorder(name), namespace="/live")
        self.client.connect(
            url,
            namespaces=["/live"],
            auth={"token": token},
            transports=["websocket"],
            wait_timeout=5,
        )

    def _recorder(self, name: str):  # type: ignore[no-untyped-def]
        def record(payload: Any) -> None:
            with self.got:
                self.events.append((name, payload))
                self.got.notify_all()

        return record

    def wait_for(self, name: str, timeout: float = 5.0) -> Any:
        with self.got:
            ok = self.got.wait_for(lambda: any(n == name for n, _ in self.events), timeout)
        assert ok, f"no {name!r} event; got {[n for n, _ in self.events]}"
        return next(p for n, p in self.events if n == name)

    def names(self) -> list[str]:
        with self.got:
            return [n for n, _ in self.events]

    def close(self) -> None:
        self.client.disconnect()


@pytest.fixture
def live(tmp_path, clock) -> Iterator[tuple[str, Any, Any, Any]]:  # type: ignore[no-untyped-def]
    app = create_app(base_config(tmp_path), clock=clock)
    upgrade(app.config["SETTINGS"].database_url)
    server = LiveServer(app)
    server.start()
    services = app.extensions["lastmile"]
    yield server.url, app, services, make_world(services)
    server.stop()


def test_the_open_page_hears_the_proof_when_the_stop_is_marked_delivered(live) -> None:  # type: ignore[no-untyped-def]
    url, app, services, world = live
    mine = make_delivery(world, lat=DOOR[0], lng=DOOR[1])
    neighbour = make_delivery(world, lat=DOOR[0], lng=DOOR[1])
    make_route(world, [mine, neighbour])
    page = Listener(url, mine.tracking_token)
    other = Listener(url, neighbour.tracking_token)
    try:
        assert page.wait_for("snapshot")["proof"] is None
        other.wait_for("snapshot")

        deliver(app.test_client(), load_stop_id(services, mine), [jpeg()], FORTY_M_NORTH)

        proof = page.wait_for("proof")
        assert proof["summary"] + "." == DELIVERED_40M
        assert page.wait_for("status")["status"] == "delivered"
        [photo] = proof["photos"]
        with urllib.request.urlopen(url + photo["thumb"], timeout=5) as answer:
            assert answer.headers["Content-Type"] == "image/jpeg"
            assert Image.open(io.BytesIO(answer.read())).format == "JPEG"
        # A page that connects now (a reconnect) gets the proof in its snapshot.
        again = Listener(url, mine.tracking_token)
        try:
            assert again.wait_for("snapshot")["proof"]["photos"][0]["id"] == photo["id"]
        finally:
            again.close()
        # The other recipient's page heard nothing of it, and cannot open it.
        assert "proof" not in other.names()
        foreign = url + photo["full"].replace(mine.tracking_token, neighbour.tracking_token)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(foreign, timeout=5)
        assert refused.value.code == 404
    finally:
        page.close()
        other.close()


# ---------------------------------------------------------------- the sentence


@pytest.mark.parametrize(
    ("kind", "place", "distance", "sentence"),
    [
        ("delivered", "door", 12.0, "Delivered at your door at 14:07"),
        ("delivered", "door", 15.0, "Delivered 15 m from your door at 14:07"),
        ("delivered", "door", 41.9, "Delivered 40 m from your door at 14:07"),
        ("delivered", "door", 238.0, "Delivered 240 m from your door at 14:07"),
        ("delivered", "door", 1234.0, "Delivered 1.2 km from your door at 14:07"),
        ("delivered", "door", None, "Delivered at 14:07"),
        ("delivered", "car", 6.0, "Put in your car's boot at 14:07"),
        (
            "delivered",
            "car",
            60.0,
            "Put in your car's boot at 14:07, photo taken 60 m from where you pinned your car",
        ),
        ("delivered", "locker", 3.0, "Put in the locker at 14:07"),
        ("delivered", "locker", None, "Put in the locker at 14:07"),
        (
            "delivered",
            "locker",
            80.0,
            "Put in the locker at 14:07, photo taken 80 m from the locker",
        ),
        ("delivered", "pickup_point", 2.0, "Left at the pickup point at 14:07"),
        ("attempt", "door", 4.0, "Taken at your door at 14:07"),
        ("attempt", "door", 300.0, "Taken 300 m from your door at 14:07"),
        ("attempt", "door", None, "Taken at 14:07"),
        ("attempt", "car", 5.0, "Taken at your car at 14:07"),
    ],
)
def test_the_sentence_is_honest_about_the_place_and_the_distance(
    kind: str, place: str, distance: float | None, sentence: str
) -> None:
    assert describe(kind, place, distance, "at 14:07") == sentence


def test_distances_are_rounded_as_far_as_gps_can_be_trusted() -> None:
    assert [distance_words(d) for d in (16, 97, 98, 994, 996, 2049)] == [
        "15 m",
        "95 m",
        "100 m",
        "990 m",
        "1.0 km",
        "2.0 km",
    ]


def test_the_photo_link_lifetime_is_a_checked_setting(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for bad in ("0", "86401", "soon"):
        with pytest.raises(ConfigError, match="PHOTO_URL_TTL_S"):
            create_app(base_config(tmp_path, PHOTO_URL_TTL_S=bad))
