"""Photo proof intake on the real SQLite fixtures and the local photo folder.

Every upload is checked before any is stored: a refused one leaves no file and no row. What
is stored is a re-encoded JPEG without EXIF, under a random key, with its thumbnail.
"""

from __future__ import annotations

import dataclasses
import io
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image

from lastmile_portal.adapters.photo_images import PillowPhotoProcessor
from lastmile_portal.domain import model as m
from lastmile_portal.domain.errors import InvalidInput
from lastmile_portal.domain.proof import PhotoUpload, check_geofence
from lastmile_portal.domain.routing import Point
from lastmile_portal.services import Services
from lastmile_portal.services.proof_photos import discard, store_proof_photos
from tests.builders import make_delivery, make_route, make_world

GPS_IFD = 0x8825


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


def photo(fmt: str = "JPEG", size: tuple[int, int] = (640, 480), exif: bytes = b"") -> bytes:
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    out = io.BytesIO()
    image.save(out, fmt, **({"exif": exif} if exif else {}))
    return out.getvalue()


def gps_exif() -> bytes:
    exif = Image.Exif()
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 1.0)})
    return exif.tobytes()


def stored_files(services: Services) -> list[Path]:
    folder = Path(services.photos.folder)  # type: ignore[attr-defined]
    return sorted(folder.iterdir()) if folder.exists() else []


def rows(services: Services) -> list[m.ProofPhoto]:
    with services.uow() as uow:
        return list(uow.session.scalars(sa.select(m.ProofPhoto)))  # type: ignore[attr-defined]


def store(services: Services, delivery_id: int, uploads: list[PhotoUpload], **kw):  # type: ignore[no-untyped-def]
    """Run the intake in a unit of work of its own and commit, as the driver API will."""
    with services.uow() as uow:
        target = uow.repo.get(m.Delivery, delivery_id)
        result = store_proof_photos(
            services,
            uow,
            [target],
            uploads,
            kw.get("taken_at", services.clock.now()),
            kw.get("lat"),
            kw.get("lng"),
        )
        uow.commit()
        return result


def reopen(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_photos_are_stored_as_jpeg_with_thumbnails_and_rows(services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world)
    taken = services.clock.now() - timedelta(minutes=1)

    result = store(
        services,
        d.id,
        [PhotoUpload(photo("PNG", (1000, 800)), "image/png"), PhotoUpload(photo("WEBP"))],
        taken_at=taken,
        lat=d.lat,
        lng=d.lng,
    )

    saved = rows(services)
    assert [(p.delivery_id, p.content_type, p.width, p.height) for p in saved] == [
        (d.id, "image/jpeg", 1000, 800),
        (d.id, "image/jpeg", 640, 480),
    ]
    assert all(p.taken_at == taken and (p.lat, p.lng) == (d.lat, d.lng) for p in saved)
    assert len(stored_files(services)) == 4  # two photos, two thumbnails
    for p in saved:
        assert reopen(services.photos.get(p.storage_key)).format == "JPEG"
        thumb = reopen(services.photos.get(p.thumbnail_key))
        assert max(thumb.size) == 320
    assert result.geofence[d.id].distance_m < 1 and not result.geofence[d.id].flagged


def test_keys_are_random_and_say_nothing(services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world)
    upload = PhotoUpload(photo(), "image/jpeg", filename=f"{d.tracking_number}.jpg")

    result = store(services, d.id, [upload, upload])

    keys = result.keys
    assert len(set(keys)) == 4
    assert set(keys) == {p.storage_key for p in result.photos} | {
        p.thumbnail_key for p in result.photos
    }
    for key in keys:
        assert len(key) >= 32 and key.endswith(".jpg")
        assert d.tracking_number not in key


def test_the_content_decides_and_a_contradicting_declared_type_is_refused(services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world)

    # Unknown to the phone: the bytes say PNG, stored as a JPEG.
    store(services, d.id, [PhotoUpload(photo("PNG", (300, 200)), "application/octet-stream")])
    with pytest.raises(InvalidInput, match="not a JPEG, PNG or WebP"):
        store(services, d.id, [PhotoUpload(b"<html>hello</html>", "image/jpeg", "a.jpg")])
    with pytest.raises(InvalidInput, match="sent as image/gif"):
        store(services, d.id, [PhotoUpload(photo("PNG"), "image/gif", "x.gif")])
    with pytest.raises(InvalidInput, match="sent as WebP but the file is JPEG"):
        store(services, d.id, [PhotoUpload(photo(), "image/webp")])

    [saved] = rows(services)
    assert (saved.content_type, saved.width, saved.height) == ("image/jpeg", 300, 200)
    assert len(stored_files(services)) == 2  # the one accepted photo and its thumbnail


def test_a_refused_upload_in_a_batch_stores_nothing(services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world)
    good = PhotoUpload(photo())
    truncated = PhotoUpload(photo()[:500], "image/jpeg")

    with pytest.raises(InvalidInput, match=r"^Photo 2: The photo could not be read"):
        store(services, d.id, [good, truncated, good])

    assert stored_files(services) == [] and rows(services) == []


def test_a_too_large_upload_is_refused_with_the_setting(services, world) -> None:  # type: ignore[no-untyped-def]
    small = dataclasses.replace(services, photo_processor=PillowPhotoProcessor(max_bytes=2048))
    d = make_delivery(world)

    with pytest.raises(InvalidInput, match="larger than 2 KB"):
        store(small, d.id, [PhotoUpload(photo("PNG", (800, 800)))])

    assert stored_files(services) == [] and rows(services) == []


def test_a_decompression_bomb_stores_nothing(services, world) -> None:  # type: ignore[no-untyped-def]
    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, "PNG", optimize=True)
    d = make_delivery(world)

    with pytest.raises(InvalidInput, match="million pixels"):
        store(services, d.id, [PhotoUpload(out.getvalue(), "image/png")])

    assert stored_files(services) == []


def test_a_polyglot_is_stored_as_the_re_encoded_image_only(services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world)
    polyglot = photo() + b"<script>alert(1)</script>"

    result = store(services, d.id, [PhotoUpload(polyglot, "image/jpeg")])

    for path in stored_files(services):
        data = path.read_bytes()
        assert b"<script>" not in data
        assert reopen(data).format == "JPEG"
    assert len(result.photos) == 1


def test_the_stored_file_has_no_exif_but_the_row_keeps_the_position(services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world)
    original = photo(exif=gps_exif())
    assert reopen(original).getexif().get_ifd(GPS_IFD)

    store(services, d.id, [PhotoUpload(original)], lat=52.5201, lng=13.4001)

    for path in stored_files(services):
        stored = reopen(path.read_bytes())
        assert "exif" not in stored.info and len(stored.getexif()) == 0
        assert not stored.getexif().get_ifd(GPS_IFD)
    [saved] = rows(services)
    assert (saved.lat, saved.lng) == (52.5201, 13.4001)


def test_a_stop_gives_every_parcel_there_its_own_copy(services, world) -> None:  # type: ignore[no-untyped-def]
    first, second = make_delivery(world), make_delivery(world)
    make_route(world, [first])
    with services.uow() as uow:
        stop_id = uow.repo.get(m.Delivery, first.id).stop_id
        uow.repo.get(m.Delivery, second.id).stop_id = stop_id
        uow.commit()

    with services.uow() as uow:
        stop = uow.repo.get(m.Stop, stop_id)
        far = Point(stop.lat + 0.01, stop.lng)  # about 1.1 km north
        parcels = uow.repo.deliveries_at_stop(stop_id)
        result = store_proof_photos(
            services, uow, parcels, [PhotoUpload(photo())], None, far.lat, far.lng, stop=stop
        )
        uow.commit()

    assert sorted(p.delivery_id for p in rows(services)) == sorted([first.id, second.id])
    assert len({p.storage_key for p in result.photos}) == 2
    assert result.geofence[first.id].flagged and result.geofence[first.id].distance_m > 1000


def test_nothing_is_committed_when_the_caller_rolls_back(services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world)
    with services.uow() as uow:
        store_proof_photos(
            services,
            uow,
            [uow.repo.get(m.Delivery, d.id)],
            [PhotoUpload(photo())],
            None,
            None,
            None,
        )
        # No commit: the caller's transaction decides.

    assert rows(services) == []


@pytest.mark.parametrize(
    ("lat", "lng", "message"),
    [(52.5, None, "both lat and lng"), (91.0, 13.4, "out of range"), (None, 181.0, "both")],
)
def test_a_half_or_impossible_position_is_refused_before_anything_is_stored(  # type: ignore[no-untyped-def]
    services, world, lat, lng, message
) -> None:
    d = make_delivery(world)

    with pytest.raises(InvalidInput, match=message):
        store(services, d.id, [PhotoUpload(photo())], lat=lat, lng=lng)

    assert stored_files(services) == []


def test_no_photo_is_refused(services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world)

    with pytest.raises(InvalidInput, match="At least one photo"):
        store(services, d.id, [])


def test_the_geofence_flags_only_beyond_the_setting(services) -> None:  # type: ignore[no-untyped-def]
    door = Point(52.52, 13.40)
    near = Point(52.52 + 100 / 111_195, 13.40)  # ~100 m north
    far = Point(52.52 + 200 / 111_195, 13.40)  # ~200 m north

    assert services.settings.proof_max_distance_m == 150
    close = check_geofence(near, door, services.settings.proof_max_distance_m)
    away = check_geofence(far, door, services.settings.proof_max_distance_m)

    assert round(close.distance_m) == 100 and not close.flagged
    assert round(away.distance_m) == 200 and away.flagged
    assert not check_geofence(door, door, 150).flagged


def test_each_parcel_records_its_proof_on_the_timeline_with_the_distance(services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world)

    result = store(services, d.id, [PhotoUpload(photo())], lat=d.lat + 0.01, lng=d.lng)

    with services.uow() as uow:
        [entry] = [e for e in uow.repo.timeline(d.id) if e.kind == "ProofRecorded"]
    assert entry.data["photo_ids"] == [p.id for p in result.photos]
    assert entry.data["flagged"] is True and entry.data["distance_m"] > 1000
    assert "too far" in entry.summary


def test_discard_deletes_the_files_of_an_unsaved_proof(services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world)
    with services.uow() as uow:
        result = store_proof_photos(
            services,
            uow,
            [uow.repo.get(m.Delivery, d.id)],
            [PhotoUpload(photo())],
            None,
            None,
            None,
        )
        assert len(stored_files(services)) == 2
        discard(services, [*result.keys, "never-stored.jpg", "../escape.jpg"])

    assert stored_files(services) == [] and rows(services) == []
