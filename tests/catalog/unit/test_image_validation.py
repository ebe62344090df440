"""Image uploads are judged by their bytes alone: format, size, pixels, structure; and what is
kept is a clean re-encoding (no EXIF/GPS, XMP, text chunks, orientation applied)."""

from __future__ import annotations

import io
import struct
import warnings
import zipfile
import zlib

import pytest
from PIL import Image, ImageFile
from PIL.PngImagePlugin import PngInfo

from marketplace.catalog.domain.images import (
    MAX_BYTES,
    ImageRejected,
    check_structure,
    sniff_format,
    thumbnail_size,
)
from marketplace.catalog.service.images import make_thumbnail, validate_and_clean


def encode(
    fmt: str, size: tuple[int, int] = (64, 48), mode: str = "RGB", **params: object
) -> bytes:
    image = Image.new(mode, size, (200, 30, 40) if mode == "RGB" else None)
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def rejection(data: bytes) -> str:
    with pytest.raises(ImageRejected) as caught:
        validate_and_clean(data)
    return caught.value.code


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG whose header claims `width` x `height` pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\x00\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")],
)
def test_jpeg_png_and_webp_are_accepted_and_reencoded(fmt: str, content_type: str) -> None:
    clean = validate_and_clean(encode(fmt))
    assert (clean.format, clean.content_type, clean.width, clean.height) == (
        fmt,
        content_type,
        64,
        48,
    )
    with Image.open(io.BytesIO(clean.data)) as stored:
        assert (stored.format, stored.size) == (fmt, (64, 48))


def test_png_with_alpha_keeps_its_transparency() -> None:
    clean = validate_and_clean(encode("PNG", mode="RGBA"))
    with Image.open(io.BytesIO(clean.data)) as stored:
        assert stored.mode == "RGBA"
        assert stored.getpixel((0, 0)) == (0, 0, 0, 0)


def test_gif_is_an_unsupported_format() -> None:
    assert rejection(encode("GIF")) == "unsupported_format"


def test_bmp_is_an_unsupported_format() -> None:
    assert rejection(encode("BMP")) == "unsupported_format"


@pytest.mark.parametrize(
    "data",
    [b"hello, this is not an image\n", b"<html><script>alert(1)</script></html>", b"\x00" * 64],
)
def test_a_file_that_is_not_an_image_is_refused(data: bytes) -> None:
    assert rejection(data) == "not_an_image"


def test_an_empty_file_is_refused() -> None:
    assert rejection(b"") == "not_an_image"


def test_a_file_named_like_an_image_with_only_the_magic_bytes_is_refused() -> None:
    assert rejection(b"\xff\xd8\xff\xe0" + b"not really a jpeg") in {"truncated", "corrupt_image"}


def test_a_truncated_jpeg_is_refused() -> None:
    data = encode("JPEG", size=(300, 200), quality=95)
    assert rejection(data[: len(data) // 2]) == "truncated"


def test_a_truncated_png_is_refused() -> None:
    data = encode("PNG", size=(300, 200))
    assert rejection(data[:-20]) == "truncated"


def test_a_png_with_a_zip_appended_is_a_polyglot_and_refused() -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("payload.js", "alert(document.cookie)")
    polyglot = encode("PNG") + archive.getvalue()
    # It really is both: Pillow reads the image and zipfile reads the archive.
    assert zipfile.is_zipfile(io.BytesIO(polyglot))
    with Image.open(io.BytesIO(polyglot)) as image:
        image.load()
    assert rejection(polyglot) == "trailing_data"


def test_a_jpeg_with_html_after_its_end_marker_is_refused() -> None:
    assert rejection(encode("JPEG") + b"<html><script>alert(1)</script>") == "trailing_data"


def test_a_webp_with_data_after_its_riff_container_is_refused() -> None:
    assert rejection(encode("WEBP") + b"PK\x03\x04 trailing") == "trailing_data"


def test_zero_padding_after_the_end_is_tolerated() -> None:
    assert validate_and_clean(encode("PNG") + b"\x00" * 16).width == 64


def test_a_jpeg_followed_by_a_complete_secondary_jpeg_is_accepted() -> None:
    # Phones append extra pictures (MPF previews, gain maps) as complete JPEG streams.
    clean = validate_and_clean(encode("JPEG") + encode("JPEG", size=(8, 8)))
    assert (clean.width, clean.height) == (64, 48)


def test_a_decompression_bomb_is_refused_from_its_header_without_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("the bomb was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    bomb = png_declaring(100_000, 100_000)
    assert len(bomb) < 100
    assert rejection(bomb) == "too_many_pixels"


def test_more_than_40_megapixels_is_refused_even_where_pillow_only_warns() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        assert rejection(png_declaring(7000, 7000)) == "too_many_pixels"
    assert rejection(png_declaring(7000, 7000)) == "too_many_pixels"


def test_a_side_longer_than_8000_pixels_is_refused() -> None:
    assert rejection(png_declaring(8001, 10)) == "too_many_pixels"


def test_a_file_over_10_mb_is_refused_before_anything_else() -> None:
    data = encode("PNG") + b"\x00" * (MAX_BYTES + 1)
    assert rejection(data) == "too_large"


def test_an_animated_png_is_refused() -> None:
    frames = [Image.new("RGB", (16, 16), color) for color in ("red", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "PNG", save_all=True, append_images=frames[1:])
    assert rejection(out.getvalue()) == "unsupported_format"


def gps_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    exif[0x0112] = orientation
    exif.get_ifd(0x8825).update({1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)})
    return exif


def test_exif_with_gps_is_not_in_the_stored_file() -> None:
    original = encode("JPEG", exif=gps_exif())
    with Image.open(io.BytesIO(original)) as image:
        assert image.getexif().get_ifd(0x8825)[1] == "N"
    clean = validate_and_clean(original)
    with Image.open(io.BytesIO(clean.data)) as stored:
        assert dict(stored.getexif()) == {}
        assert "exif" not in stored.info
    assert b"Exif" not in clean.data
    assert b"CameraMaker" not in clean.data


def test_exif_orientation_is_applied_to_the_pixels() -> None:
    # Orientation 6: the camera was turned; viewers rotate 90 degrees clockwise.
    clean = validate_and_clean(encode("JPEG", size=(40, 20), exif=gps_exif(orientation=6)))
    assert (clean.width, clean.height) == (20, 40)


def test_png_text_chunks_and_webp_xmp_are_not_kept() -> None:
    info = PngInfo()
    info.add_text("Comment", "<script>alert(1)</script>")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>secret</x:xmpmeta>")
    clean = validate_and_clean(encode("PNG", pnginfo=info))
    assert b"script" not in clean.data
    assert b"xmpmeta" not in clean.data

    webp = encode("WEBP", xmp=b"<x:xmpmeta>secret</x:xmpmeta>", exif=gps_exif())
    clean = validate_and_clean(webp)
    assert b"xmpmeta" not in clean.data
    assert b"Exif" not in clean.data


def test_an_embedded_icc_profile_is_not_carried_into_the_stored_file() -> None:
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    with Image.open(io.BytesIO(encode("JPEG", icc_profile=srgb))) as original:
        assert original.info["icc_profile"] == srgb
    clean = validate_and_clean(encode("JPEG", icc_profile=srgb))
    with Image.open(io.BytesIO(clean.data)) as stored:
        assert "icc_profile" not in stored.info


def test_sniffing_names_other_formats() -> None:
    assert sniff_format(encode("GIF")) == "GIF"
    assert sniff_format(encode("PNG")) == "PNG"
    assert sniff_format(b"....ftypavif....") == "AVIF"
    assert sniff_format(b"plain text") is None


def test_structure_of_valid_files_passes() -> None:
    for fmt in ("JPEG", "PNG", "WEBP"):
        check_structure(encode(fmt), fmt)


@pytest.mark.parametrize(
    ("size", "target", "expected"),
    [
        ((1600, 1200), 800, (800, 600)),
        ((1200, 1600), 200, (150, 200)),
        ((100, 50), 200, (100, 50)),
        ((3000, 10), 200, (200, 1)),
    ],
)
def test_thumbnail_size_fits_the_longest_side_and_never_enlarges(
    size: tuple[int, int], target: int, expected: tuple[int, int]
) -> None:
    assert thumbnail_size(*size, target) == expected


def test_thumbnails_are_webp_of_the_requested_size() -> None:
    source = validate_and_clean(encode("JPEG", size=(1000, 500))).data
    data, width, height = make_thumbnail(source, 200)
    with Image.open(io.BytesIO(data)) as thumb:
        assert (thumb.format, thumb.size, width, height) == ("WEBP", (200, 100), 200, 100)
