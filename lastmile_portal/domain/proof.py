"""Photo proof of delivery: the checked photo and the geofence rule (pure, no Pillow)."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidInput
from .geo import haversine_m
from .routing import Point


@dataclass(frozen=True)
class PhotoUpload:
    """Hold one uploaded file as received; ``declared_type`` is never trusted."""

    data: bytes
    declared_type: str = ""
    filename: str = ""


@dataclass(frozen=True)
class ProcessedPhoto:
    """Hold a photo re-encoded as a JPEG without metadata, and its thumbnail."""

    jpeg: bytes
    thumbnail: bytes
    width: int
    height: int
    content_type: str = "image/jpeg"


@dataclass(frozen=True)
class GeofenceCheck:
    """Say how far from the address a proof was taken, and whether that is too far."""

    distance_m: float
    flagged: bool


def check_geofence(taken_at: Point, address: Point, max_distance_m: float) -> GeofenceCheck:
    """Measure the distance from where the photo was taken to the address, flag it if too far."""
    distance = haversine_m(taken_at, address)
    return GeofenceCheck(distance_m=distance, flagged=distance > max_distance_m)


def photo_position(lat: float | None, lng: float | None) -> Point | None:
    """Return the point a photo was taken at, None when unknown; refuse half or bad positions."""
    if lat is None and lng is None:
        return None
    if lat is None or lng is None:
        raise InvalidInput("The photo's position needs both lat and lng.")
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0):
        raise InvalidInput("The photo's position is out of range (lat ±90, lng ±180).")
    return Point(lat, lng)
