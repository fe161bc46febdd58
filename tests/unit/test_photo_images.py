"""The Pillow photo processor with real images made in the test: what it refuses and keeps."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from lastmile_portal.adapters.photo_images import PillowPhotoProcessor
from lastmile_portal.domain.errors import InvalidInput

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (640, 480), **save: object) -> bytes:
    """Return a real image: a gradient, so the encoders have something to compress."""
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


def with_gps_exif(orientation: int = 1) -> bytes:
    """Return a JPEG whose EXIF says where it was taken (and how the camera was held)."""
    image = Image.new("RGB", (400, 200), (200, 30, 30))
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "PhoneMaker"  # Make
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 1.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def reopen(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.fixture
def processor() -> PillowPhotoProcessor:
    return PillowPhotoProcessor()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_jpeg_png_and_webp_come_out_as_jpeg_with_a_thumbnail(
    processor: PillowPhotoProcessor, fmt: str
) -> None:
    result = processor.process(image_bytes(fmt, (1280, 960)))

    photo, thumb = reopen(result.jpeg), reopen(result.thumbnail)
    assert (photo.format, photo.size) == ("JPEG", (1280, 960))
    assert (result.width, result.height, result.content_type) == (1280, 960, "image/jpeg")
    assert thumb.format == "JPEG" and thumb.size == (320, 240)


def test_transparent_png_is_flattened_onto_white(processor: PillowPhotoProcessor) -> None:
    out = io.BytesIO()
    Image.new("RGBA", (50, 50), (0, 0, 0, 0)).save(out, "PNG")

    photo = reopen(processor.process(out.getvalue()).jpeg)

    assert photo.mode == "RGB" and min(photo.getpixel((25, 25))) > 245  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "data",
    [
        b"hello, this is a text file pretending to be a photo",
        image_bytes("GIF"),  # a real image, but not a kind we take
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
    ],
    ids=["text", "gif", "pdf"],
)
def test_anything_but_jpeg_png_webp_is_refused(
    processor: PillowPhotoProcessor, data: bytes
) -> None:
    with pytest.raises(InvalidInput, match=r"^The photo is not a JPEG, PNG or WebP image\.$"):
        processor.process(data)


def test_empty_upload_is_refused(processor: PillowPhotoProcessor) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        processor.process(b"")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_a_truncated_file_is_refused(processor: PillowPhotoProcessor, fmt: str) -> None:
    data = image_bytes(fmt, (800, 600))

    with pytest.raises(InvalidInput, match="could not be read"):
        processor.process(data[: len(data) // 2])


def test_an_upload_over_the_limit_is_refused_before_decoding() -> None:
    data = image_bytes("PNG", (300, 300))
    small = PillowPhotoProcessor(max_bytes=len(data) - 1)

    with pytest.raises(InvalidInput, match=r"^The photo is larger than \d"):
        small.process(data)
    # Not even looked at: garbage of the same size gets the size message, not "not an image".
    with pytest.raises(InvalidInput, match="larger than"):
        small.process(b"x" * len(data))
    assert PillowPhotoProcessor(max_bytes=len(data)).process(data).width == 300


def test_the_default_limit_reads_10_mb() -> None:
    with pytest.raises(InvalidInput, match=r"^The photo is larger than 10 MB\.$"):
        PillowPhotoProcessor().process(b"\0" * (10 * 1024 * 1024 + 1))


def test_a_decompression_bomb_is_refused_small_on_disk(processor: PillowPhotoProcessor) -> None:
    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, "PNG", optimize=True)
    bomb = out.getvalue()
    assert len(bomb) < 1024 * 1024  # 400 Mpx in well under a megabyte

    with pytest.raises(InvalidInput, match="million pixels"):
        processor.process(bomb)


def test_over_our_pixel_limit_but_under_pillows_is_refused_too() -> None:
    data = image_bytes("PNG", (200, 200))

    with pytest.raises(InvalidInput, match=r"more than 0\.03 million pixels"):
        PillowPhotoProcessor(max_pixels=30_000).process(data)


def test_a_polyglot_loses_its_appended_script(processor: PillowPhotoProcessor) -> None:
    polyglot = image_bytes("JPEG") + b"<script>alert(document.cookie)</script>"
    assert reopen(polyglot).format == "JPEG"  # Pillow itself reads it as a fine JPEG

    result = processor.process(polyglot)

    assert b"<script>" not in result.jpeg and b"<script>" not in result.thumbnail
    assert reopen(result.jpeg).format == "JPEG"
    assert result.jpeg.endswith(b"\xff\xd9")  # ends where the JPEG ends


def test_exif_with_gps_is_stripped(processor: PillowPhotoProcessor) -> None:
    original = with_gps_exif()
    assert reopen(original).getexif().get_ifd(GPS_IFD)  # the input really has a position

    result = processor.process(original)

    for data in (result.jpeg, result.thumbnail):
        stored = reopen(data)
        assert "exif" not in stored.info
        assert len(stored.getexif()) == 0
        assert not stored.getexif().get_ifd(GPS_IFD)
        assert b"Exif\0\0" not in data and b"PhoneMaker" not in data


def test_the_exif_orientation_is_applied_before_stripping(processor: PillowPhotoProcessor) -> None:
    # Orientation 6: the camera was turned; the viewer must rotate 90° to show it upright.
    result = processor.process(with_gps_exif(orientation=6))

    assert (result.width, result.height) == (200, 400)
    assert reopen(result.jpeg).size == (200, 400)
