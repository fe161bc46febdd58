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
from ..domain.proof import (
    GeofenceCheck,
    PhotoUpload,
    ProcessedPhoto,
    check_geofence,
    photo_position,
)
from ..domain.routing import Point
from . import Services
from .unit_of_work import UnitOfWork

MAX_PHOTOS = 5


@dataclass(frozen=True)
class StoredProofs:
    """What was stored: the photo rows, each one's thumbnail key, and the geofence per parcel."""

    photos: list[m.ProofPhoto]
    thumbnails: dict[str, str]  # photo storage key -> thumbnail key (no column for it yet)
    geofence: dict[int, GeofenceCheck]  # delivery id -> check; empty without a position


def store_proof_photos(
    services: Services,
    uow: UnitOfWork,
    stop_or_delivery: m.Stop | m.Delivery,
    uploads: Sequence[PhotoUpload],
    taken_at: datetime | None,
    lat: float | None,
    lng: float | None,
) -> StoredProofs:
    """Check all uploads, then store each as JPEG plus thumbnail and add a ProofPhoto per parcel.

    A stop means every parcel at it. Every upload is checked before anything is stored, so
    one refused file (InvalidInput) leaves the store and the unit of work untouched. Each
    parcel gets its own copy under its own random key, so one recipient's link never names
    another's file and deleting a delivery deletes only its rows.
    """
    if not uploads:
        raise InvalidInput("At least one photo is needed.")
    if len(uploads) > MAX_PHOTOS:
        raise InvalidInput(f"At most {MAX_PHOTOS} photos can be sent at once.")
    position = photo_position(lat, lng)
    if isinstance(stop_or_delivery, m.Stop):
        assert stop_or_delivery.id is not None
        deliveries = uow.repo.deliveries_at_stop(stop_or_delivery.id)
    else:
        deliveries = [stop_or_delivery]
    if not deliveries:
        raise InvalidInput("There is no parcel at this stop to attach the photo to.")
    processed: list[ProcessedPhoto] = []
    for index, upload in enumerate(uploads, start=1):
        try:
            processed.append(services.photo_processor.process(upload.data))
        except InvalidInput as error:
            prefix = f"Photo {index}: " if len(uploads) > 1 else ""
            raise InvalidInput(prefix + error.message) from None
    now = services.clock.now()
    stored: list[m.ProofPhoto] = []
    thumbnails: dict[str, str] = {}
    geofence: dict[int, GeofenceCheck] = {}
    for delivery in deliveries:
        assert delivery.id is not None
        if position is not None:
            geofence[delivery.id] = check_geofence(
                position, Point(delivery.lat, delivery.lng), services.settings.proof_max_distance_m
            )
        for photo in processed:
            key = services.photos.put(photo.jpeg, photo.content_type)
            thumbnails[key] = services.photos.put(photo.thumbnail, photo.content_type)
            row = m.ProofPhoto(
                delivery_id=delivery.id,
                storage_key=key,
                content_type=photo.content_type,
                width=photo.width,
                height=photo.height,
                uploaded_at=now,
                taken_at=taken_at,
                lat=lat,
                lng=lng,
            )
            uow.repo.add(row)
            stored.append(row)
    return StoredProofs(photos=stored, thumbnails=thumbnails, geofence=geofence)
