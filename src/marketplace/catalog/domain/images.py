"""Product image rules: what may be uploaded, how big, and the structure checks on raw bytes.

Pure: no decoding here (the service uses Pillow for that). What lives here is the policy
(formats, byte/pixel/side limits, thumbnail sizes, images per product), recognising a
format by its magic bytes, and walking a file's container structure to find where the image
really ends, because bytes after that end are how polyglots (an image that is also a ZIP,
an HTML page, a script) are built.
"""

from __future__ import annotations

from typing import Literal

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_SIDE = 8000
MAX_IMAGES_PER_PRODUCT = 20
MAX_ALT_TEXT = 300
THUMBNAIL_SIZES: tuple[int, ...] = (200, 800)
# A presigned upload link is short-lived; an unconfirmed upload is purged after a day.
PRESIGN_EXPIRES_SECONDS = 15 * 60
PENDING_RETENTION_HOURS = 24
# Shown to shoppers: a confirmed upload, whether or not its thumbnails are made yet.
VISIBLE_STATUSES = ("processing", "ready")

Format = Literal["JPEG", "PNG", "WEBP"]
ALLOWED_FORMATS: tuple[Format, ...] = ("JPEG", "PNG", "WEBP")
CONTENT_TYPES: dict[Format, str] = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSIONS: dict[Format, str] = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
FORMAT_BY_CONTENT_TYPE: dict[str, Format] = {v: k for k, v in CONTENT_TYPES.items()}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Other image formats are named in the refusal, so "unsupported" is told from "not an image".
_OTHER_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"8BPS", "PSD"),
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
    (b"%PDF", "PDF"),
)


class ImageRejected(ValueError):
    """Why an upload is refused: a machine-readable `code` and a message for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def sniff_format(data: bytes) -> str | None:
    """The format the leading bytes claim (JPEG, PNG, WEBP or another image format's name),
    or None for anything that does not start like an image."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(_PNG_SIGNATURE):
        return "PNG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if len(data) >= 12 and data[4:8] == b"ftyp":
        brand = data[8:12]
        return "AVIF" if brand in {b"avif", b"avis"} else "HEIF"
    for magic, name in _OTHER_IMAGE_MAGIC:
        if data.startswith(magic):
            return name
    return None


def check_size(size: int) -> None:
    if size == 0:
        raise ImageRejected("not_an_image", "the file is empty")
    if size > MAX_BYTES:
        raise ImageRejected("too_large", f"the file is larger than {MAX_BYTES // 2**20} MB")


def accepted_format(data: bytes) -> Format:
    """The allowed format the bytes start as; refuses everything else by content alone."""
    check_size(len(data))
    sniffed = sniff_format(data)
    if sniffed is None:
        raise ImageRejected("not_an_image", "the file is not an image")
    if sniffed not in ALLOWED_FORMATS:
        raise ImageRejected(
            "unsupported_format", f"{sniffed} images are not accepted: use JPEG, PNG or WebP"
        )
    return sniffed


def check_dimensions(width: int, height: int) -> None:
    if width < 1 or height < 1:
        raise ImageRejected("not_an_image", "the image has no pixels")
    if width > MAX_SIDE or height > MAX_SIDE:
        raise ImageRejected(
            "too_many_pixels", f"{width}x{height}: a side is longer than {MAX_SIDE} pixels"
        )
    if width * height > MAX_PIXELS:
        raise ImageRejected(
            "too_many_pixels",
            f"{width}x{height} is more than {MAX_PIXELS // 1_000_000} megapixels",
        )


def thumbnail_size(width: int, height: int, target: int) -> tuple[int, int]:
    """Scale so the longest side is `target`, keeping the aspect ratio; never enlarge."""
    longest = max(width, height)
    if longest <= target:
        return width, height
    scale = target / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


# --- where the image ends ---------------------------------------------------------------


def _truncated() -> ImageRejected:
    return ImageRejected("truncated", "the file is truncated")


def png_end(data: bytes) -> int:
    """Offset just past the IEND chunk, walking chunk lengths from the signature."""
    pos = len(_PNG_SIGNATURE)
    while True:
        if pos + 12 > len(data):
            raise _truncated()
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if length > 2**31 - 1 or end > len(data):
            raise _truncated()
        if kind == b"IEND":
            return end
        pos = end


def _jpeg_end(data: bytes, start: int) -> int:
    """Offset just past the EOI of the JPEG starting at `start` (markers and segment lengths
    walked; entropy-coded data scanned for the next real marker)."""
    if data[start : start + 2] != b"\xff\xd8":
        raise ImageRejected("not_an_image", "not a JPEG stream")
    pos = start + 2
    n = len(data)
    while True:
        # Fill bytes (0xFF repeated) may precede a marker.
        if pos >= n or data[pos] != 0xFF:
            raise _truncated() if pos >= n else ImageRejected("corrupt_image", "bad JPEG marker")
        while pos < n and data[pos] == 0xFF:
            pos += 1
        if pos >= n:
            raise _truncated()
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # EOI
            return pos
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # TEM, RSTn: no length
            continue
        if pos + 2 > n:
            raise _truncated()
        length = int.from_bytes(data[pos : pos + 2], "big")
        if length < 2:
            raise ImageRejected("corrupt_image", "bad JPEG segment length")
        pos += length
        if pos > n:
            raise _truncated()
        if marker == 0xDA:  # SOS: entropy-coded data runs to the next non-RST marker
            while True:
                found = data.find(b"\xff", pos)
                if found < 0 or found + 1 >= n:
                    raise _truncated()
                follower = data[found + 1]
                if follower == 0x00 or 0xD0 <= follower <= 0xD7 or follower == 0xFF:
                    pos = found + (2 if follower != 0xFF else 1)
                    continue
                pos = found
                break


def jpeg_end(data: bytes) -> int:
    """Offset just past the image, allowing further complete JPEGs after the first one:
    cameras and phones store extra pictures (MPF: previews, depth and gain maps) that way."""
    end = _jpeg_end(data, 0)
    while data.startswith(b"\xff\xd8\xff", end):
        end = _jpeg_end(data, end)
    return end


def webp_end(data: bytes) -> int:
    """Offset just past the RIFF container, whose header states its own size."""
    if len(data) < 12:
        raise _truncated()
    size = int.from_bytes(data[4:8], "little")
    end = 8 + size + (size & 1)
    if end > len(data) and 8 + size != len(data):
        raise _truncated()
    return min(end, len(data))


def check_structure(data: bytes, fmt: Format) -> None:
    """Refuse a truncated file, or one with anything after the image's end: a polyglot.

    Zero bytes after the end are tolerated (some encoders pad to a block size); anything
    else there is content another program could read.
    """
    end = {"JPEG": jpeg_end, "PNG": png_end, "WEBP": webp_end}[fmt](data)
    trailing = data[end:]
    if trailing.strip(b"\x00"):
        raise ImageRejected(
            "trailing_data",
            f"{len(trailing)} bytes follow the end of the image: the file is also something else",
        )
