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
    source_type: str = ""  # what the upload really was, read from its bytes


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


# Photo rules (PROOF_PHOTO_REQUIRED): "never", "unattended" (nobody takes the parcel), "always".
PHOTO_RULES = ("never", "unattended", "always")
# Left where nobody signs for it: the photo is the only proof the parcel was there.
UNATTENDED_OPTIONS = frozenset({"safe_place", "vehicle_trunk"})


def photo_required(rule: str, options: list[str], received_by_someone: bool) -> bool:
    """Return whether a hand-over of parcels with these delivery ``options`` needs a photo."""
    if rule == "always":
        return True
    if rule == "unattended":
        return not received_by_someone and any(o in UNATTENDED_OPTIONS for o in options)
    return False


# What phones and browsers send when they do not know; the content decides then.
UNDECLARED = frozenset({"", "application/octet-stream"})
TYPE_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg"}
TYPE_NAMES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WebP"}


def check_declared_type(declared: str, actual: str) -> None:
    """Refuse an upload whose declared type is not an image or names another format.

    The content decides what a file is; a declared type that contradicts it is a broken
    or forged client, so the file is refused rather than trusted either way.
    """
    declared = TYPE_ALIASES.get(declared.strip().lower(), declared.strip().lower())
    if declared in UNDECLARED or declared == actual:
        return
    if declared in TYPE_NAMES:
        name = TYPE_NAMES.get(actual, "another format")
        raise InvalidInput(
            f"The photo is sent as {TYPE_NAMES[declared]} but the file is {name}: "
            "send it with its own type."
        )
    raise InvalidInput(f"The photo is sent as {declared}: send a JPEG, PNG or WebP image.")
