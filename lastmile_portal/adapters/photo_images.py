"""Proof photos checked and re-encoded with Pillow (the only module that imports it)."""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from ..domain.errors import InvalidInput
from ..domain.proof import ProcessedPhoto

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000
THUMBNAIL_PX = 320
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
SOURCE_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "": ""}
NOT_AN_IMAGE = "The photo is not a JPEG, PNG or WebP image."

# Pillow only warns between MAX_IMAGE_PIXELS and twice that; a warning must refuse too.
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)


def _size_text(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):g} MB"
    return f"{n / 1024:g} KB"


class PillowPhotoProcessor:
    """Accept JPEG, PNG or WebP by content; return a clean JPEG and a thumbnail."""

    def __init__(
        self,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        thumbnail_px: int = THUMBNAIL_PX,
        quality: int = 85,
    ) -> None:
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self.thumbnail_px = thumbnail_px
        self.quality = quality

    def process(self, data: bytes) -> ProcessedPhoto:
        """Check ``data`` and re-encode it; raise InvalidInput saying why it was refused."""
        # Checked before any decoding, so an oversized upload costs no image memory.
        if len(data) > self.max_bytes:
            raise InvalidInput(f"The photo is larger than {_size_text(self.max_bytes)}.")
        if not data:
            raise InvalidInput("The photo is empty.")
        try:
            image = self._decode(data)
        except InvalidInput:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise InvalidInput(self._too_many_pixels()) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
            # Truncated and corrupt files end up here: Pillow raises all of these for them.
            raise InvalidInput(
                "The photo could not be read (damaged or incomplete file)."
            ) from None
        return self._encode(image, SOURCE_TYPES[image.format or ""])

    def _too_many_pixels(self) -> str:
        return f"The photo has more than {self.max_pixels / 1_000_000:g} million pixels."

    def _decode(self, data: bytes) -> Image.Image:
        try:
            probe = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
        except UnidentifiedImageError:
            raise InvalidInput(NOT_AN_IMAGE) from None
        # The header gives the size: refuse a bomb before a single pixel is decoded.
        width, height = probe.size
        if width * height > self.max_pixels:
            raise InvalidInput(self._too_many_pixels())
        probe.verify()
        # verify() leaves the image unusable; a real decode needs a fresh open.
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
        image.load()
        return image

    def _encode(self, image: Image.Image, source_type: str) -> ProcessedPhoto:
        upright = ImageOps.exif_transpose(image) or image
        rgb = _to_rgb(upright)
        # A fresh image carries no info dict, so no EXIF, XMP or ICC can ride along.
        clean = Image.new("RGB", rgb.size)
        clean.paste(rgb)
        jpeg = io.BytesIO()
        clean.save(jpeg, "JPEG", quality=self.quality, optimize=True)
        thumb = clean.copy()
        thumb.thumbnail((self.thumbnail_px, self.thumbnail_px))
        thumb_out = io.BytesIO()
        thumb.save(thumb_out, "JPEG", quality=80)
        return ProcessedPhoto(
            jpeg=jpeg.getvalue(),
            thumbnail=thumb_out.getvalue(),
            width=clean.width,
            height=clean.height,
            source_type=source_type,
        )


def _to_rgb(image: Image.Image) -> Image.Image:
    """Flatten transparency onto white (JPEG has no alpha) and return an RGB image."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")
