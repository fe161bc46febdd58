"""Photo proof intake: check every upload, then store it and record it in the caller's unit of work.

The driver API (issue 12) calls this inside its own transaction for ``delivered`` or
``failed``; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..domain import model as m
from ..domain.errors import InvalidInput
from ..domain.events import Actor, ProofRecorded
from ..domain.proof import (
    GeofenceCheck,
    PhotoUpload,
    ProcessedPhoto,
    check_declared_type,
    check_geofence,
    photo_position,
)
from ..domain.routing import Point
from . import Services
from .unit_of_work import UnitOfWork

MAX_PHOTOS = 5


@dataclass(frozen=True)
class StoredProofs:
    """What was stored: the photo rows, every file's key, and the geofence per parcel."""

    photos: list[m.ProofPhoto]
    keys: list[str]  # every stored file, photos and thumbnails: the caller's cleanup list
    geofence: dict[int, GeofenceCheck]  # delivery id -> check; empty without a position


def store_proof_photos(
    services: Services,
    uow: UnitOfWork,
    deliveries: Sequence[m.Delivery],
    uploads: Sequence[PhotoUpload],
    taken_at: datetime | None,
    lat: float | None,
    lng: float | None,
    *,
    stop: m.Stop | None = None,
    driver_id: int | None = None,
    failed_attempt: bool = False,
) -> StoredProofs:
    """Check all uploads, then store each as JPEG plus thumbnail and add a ProofPhoto per parcel.

    Every upload is checked before anything is stored, so one refused file (InvalidInput)
    leaves the store and the unit of work untouched. Each parcel gets its own copy under its
    own random key, so one recipient's link never names another's file and deleting a
    delivery deletes only its rows. Each parcel records a ProofRecorded event (the distance
    from its address, flagged when too far). Files are written before the caller commits:
    if it does not, it deletes ``keys`` (see ``discard``).
    """
    if not uploads:
        raise InvalidInput("At least one photo is needed.")
    if len(uploads) > MAX_PHOTOS:
        raise InvalidInput(f"At most {MAX_PHOTOS} photos can be sent at once.")
    position = photo_position(lat, lng)
    if not deliveries:
        raise InvalidInput("There is no parcel at this stop to attach the photo to.")
    processed: list[ProcessedPhoto] = []
    for index, upload in enumerate(uploads, start=1):
        try:
            photo = services.photo_processor.process(upload.data)
            check_declared_type(upload.declared_type, photo.source_type)
            processed.append(photo)
        except InvalidInput as error:
            prefix = f"Photo {index}: " if len(uploads) > 1 else ""
            raise InvalidInput(prefix + error.message) from None
    now = services.clock.now()
    stored: list[m.ProofPhoto] = []
    keys: list[str] = []
    geofence: dict[int, GeofenceCheck] = {}
    try:
        for delivery in deliveries:
            assert delivery.id is not None
            rows = []
            for photo in processed:
                key = services.photos.put(photo.jpeg, photo.content_type)
                keys.append(key)
                thumbnail = services.photos.put(photo.thumbnail, photo.content_type)
                keys.append(thumbnail)
                row = m.ProofPhoto(
                    delivery_id=delivery.id,
                    storage_key=key,
                    thumbnail_key=thumbnail,
                    content_type=photo.content_type,
                    width=photo.width,
                    height=photo.height,
                    uploaded_at=now,
                    taken_at=taken_at,
                    lat=lat,
                    lng=lng,
                )
                uow.repo.add(row)
                rows.append(row)
            uow.repo.flush()  # the event names the rows
            check = None
            if position is not None:
                address = _proof_place(delivery, stop)
                check = check_geofence(position, address, services.settings.proof_max_distance_m)
                geofence[delivery.id] = check
            delivery.record(
                ProofRecorded(
                    delivery_id=delivery.id,
                    occurred_at=now,
                    actor=Actor.DRIVER,
                    actor_id=str(driver_id) if driver_id is not None else None,
                    photo_ids=[r.id for r in rows if r.id is not None],
                    distance_m=round(check.distance_m, 1) if check else None,
                    flagged=check.flagged if check else False,
                    failed_attempt=failed_attempt,
                )
            )
            stored.extend(rows)
    except BaseException:
        discard(services, keys)
        raise
    return StoredProofs(photos=stored, keys=keys, geofence=geofence)


def discard(services: Services, keys: Sequence[str]) -> None:
    """Delete stored files whose rows were never committed (best effort: never raises)."""
    for key in keys:
        try:
            services.photos.delete(key)
        except Exception:  # noqa: BLE001 - an orphan file is harmless; hiding the first error is not
            continue


def _proof_place(delivery: m.Delivery, stop: m.Stop | None) -> Point:
    """Return where the photo should have been taken: the locker, the car or the door."""
    if stop is not None and stop.kind is m.StopKind.LOCKER:
        return Point(stop.lat, stop.lng)
    return Point(*delivery.hand_over_place)
