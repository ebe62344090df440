"""Product images: validating uploads by content, storing cleaned originals, thumbnails,
direct (presigned) uploads, ordering, alt text, and reading images for product pages.

Nothing a client says about a file is trusted: not its name, not its declared type. The
bytes must be a JPEG, PNG or WebP by their own structure, within size and pixel limits,
decodable in full, with nothing after the image's end. What is stored is never the upload
itself but a re-encoding of its pixels (orientation applied, colours converted to sRGB),
so EXIF (GPS), XMP, comments and anything smuggled into metadata chunks are gone.

Decoding and encoding run on worker threads (`asyncio.to_thread`) to keep the event loop
free. Storage writes are not transactional: a failed request can leave an unreferenced
object (harmless, overwritten or purged), never a row pointing at a missing original.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from weakref import WeakKeyDictionary

from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.catalog.domain.images import (
    CONTENT_TYPES,
    EXTENSIONS,
    FORMAT_BY_CONTENT_TYPE,
    MAX_ALT_TEXT,
    MAX_BYTES,
    MAX_IMAGES_PER_PRODUCT,
    MAX_PIXELS,
    PENDING_RETENTION_HOURS,
    PRESIGN_EXPIRES_SECONDS,
    THUMBNAIL_SIZES,
    VISIBLE_STATUSES,
    Format,
    ImageRejected,
    accepted_format,
    check_dimensions,
    check_structure,
    thumbnail_size,
)
from marketplace.catalog.models import Product, ProductImage
from marketplace.catalog.repository import product as product_repo
from marketplace.catalog.schemas.product import ImageRead
from marketplace.compliance.public import record_audit
from marketplace.identity.public import VendorAccess
from marketplace.platform.clock import utcnow
from marketplace.platform.errors import Conflict, NotFound, ValidationFailed
from marketplace.platform.ids import new_id
from marketplace.platform.messaging import Message, Registry
from marketplace.platform.storage import (
    INCOMING_PREFIX,
    ObjectNotFound,
    ObjectTooLarge,
    PresignedUpload,
    Storage,
)
from marketplace.platform.uow import UnitOfWork

# Pillow refuses (error) images over twice this many pixels while reading the header, and
# warns over it; our own limit (checked right after) is the same number. Process-wide, so any
# other Pillow use in this process is protected too.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# Never decode a truncated file by padding it with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False

THUMBNAIL_JOB = "catalog.make_thumbnails"
PURGE_JOB = "catalog.purge_pending_images"
FILE_LOC = ("body", "file")

_SRGB = ImageCms.createProfile("sRGB")


class ProductNotFound(NotFound):
    code = "product_not_found"
    title = "Product not found"


class ImageNotFound(NotFound):
    code = "image_not_found"
    title = "Image not found"


def rejected(error: ImageRejected, loc: Sequence[str] = FILE_LOC) -> ValidationFailed:
    return ValidationFailed.on_field(list(loc), error.message, error.code)


# --- validation and cleaning (pure functions of bytes, run on a worker thread) ----------


@dataclass(frozen=True, slots=True)
class CleanImage:
    """A validated upload, re-encoded without metadata."""

    data: bytes
    format: Format
    width: int
    height: int

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


def _open(data: bytes, fmt: Format) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data), formats=[fmt])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # The warning is raised as an error where warnings are errors (tests); otherwise it
        # is only logged and our own pixel check below refuses the image.
        raise ImageRejected(
            "too_many_pixels", f"the image has more than {MAX_PIXELS // 1_000_000} megapixels"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise ImageRejected("not_an_image", "the file is not a readable image") from None
    if image.format != fmt:
        raise ImageRejected("not_an_image", "the file is not a readable image")
    return image


def _to_srgb(image: Image.Image) -> Image.Image:
    """Convert pixels from an embedded ICC profile to sRGB, so the profile can be dropped."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in {"RGB", "RGBA"}:
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in (ImageCms.getProfileDescription(source) or "").lower():
            return image
        converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode=image.mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        # An unreadable profile: the pixels are most likely sRGB already.
        return image
    return converted if converted is not None else image


def validate_and_clean(data: bytes) -> CleanImage:
    """Validate `data` by content and return it re-encoded; :class:`ImageRejected` if bad."""
    fmt = accepted_format(data)
    # Before decoding anything: truncated files and trailing content (polyglots).
    check_structure(data, fmt)
    with _open(data, fmt) as probe:
        # The header alone gives the size: bombs are refused here, before any decoding.
        check_dimensions(*probe.size)
        if getattr(probe, "n_frames", 1) > 1:
            raise ImageRejected("unsupported_format", "animated images are not accepted")
        try:
            probe.verify()
        except Exception:
            raise ImageRejected("corrupt_image", "the image data is corrupt") from None
    with _open(data, fmt) as image:
        try:
            image.load()
        except (OSError, SyntaxError, ValueError, EOFError):
            raise ImageRejected("corrupt_image", "the image data is corrupt or truncated") from None
        return _reencode(image, fmt)


def _clean_mode(image: Image.Image, fmt: Format) -> Image.Image:
    has_alpha = image.mode in {"RGBA", "LA", "PA"} or (
        image.mode == "P" and "transparency" in image.info
    )
    if fmt == "JPEG":
        return image.convert("L" if image.mode in {"L", "1"} else "RGB")
    if image.mode in {"RGB", "RGBA", "L", "LA"} and fmt == "PNG":
        return image
    return image.convert("RGBA" if has_alpha else "RGB")


def _reencode(image: Image.Image, fmt: Format) -> CleanImage:
    upright = ImageOps.exif_transpose(image)
    if upright.mode == "CMYK":
        upright = upright.convert("RGB")
    if upright.mode in {"I;16", "I", "F"}:
        upright = upright.convert("RGB")
    upright = _to_srgb(_clean_mode(upright, fmt))
    # A fresh image from the pixels alone: no info dict, so no EXIF, XMP, ICC or text
    # chunk can reach the encoder whatever a Pillow version copies by default.
    pixels = Image.frombytes(upright.mode, upright.size, upright.tobytes())
    out = io.BytesIO()
    if fmt == "JPEG":
        pixels.save(out, "JPEG", quality=90, optimize=True, progressive=True)
    elif fmt == "PNG":
        pixels.save(out, "PNG", optimize=True)
    else:
        pixels.save(out, "WEBP", quality=90, method=4)
    data = out.getvalue()
    if len(data) > MAX_BYTES:
        # Re-encoding can grow an already well-compressed file; the limit is on what we keep.
        raise ImageRejected("too_large", "the image is too large once re-encoded")
    return CleanImage(data=data, format=fmt, width=pixels.width, height=pixels.height)


def make_thumbnail(data: bytes, size: int) -> tuple[bytes, int, int]:
    """A WebP whose longest side is `size` (never enlarged) from a cleaned original."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        target = thumbnail_size(image.width, image.height, size)
        mode = "RGBA" if image.mode in {"RGBA", "LA", "PA", "P"} else "RGB"
        resized = image.convert(mode).resize(target, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    resized.save(out, "WEBP", quality=82, method=4)
    return out.getvalue(), resized.width, resized.height


async def clean_upload(data: bytes, loc: Sequence[str] = FILE_LOC) -> CleanImage:
    try:
        return await asyncio.to_thread(validate_and_clean, data)
    except ImageRejected as error:
        raise rejected(error, loc) from None


# --- keys -------------------------------------------------------------------------------


def _folder(image: ProductImage) -> str:
    return f"vendors/{image.vendor_id}/products/{image.product_id}/images/{image.id}"


def original_key(image: ProductImage, fmt: Format) -> str:
    return f"{_folder(image)}/original.{EXTENSIONS[fmt]}"


def thumbnail_key(image: ProductImage, size: int) -> str:
    return f"{_folder(image)}/{size}.webp"


def incoming_key(vendor_id: str, image_id: str) -> str:
    return f"{INCOMING_PREFIX}{vendor_id}/{image_id}"


# --- reading ------------------------------------------------------------------------------


def image_read(image: ProductImage) -> ImageRead:
    return ImageRead(
        id=image.id,
        url=image.url,
        thumbnails=dict(image.thumbnail_urls),
        alt_text=image.alt_text,
        position=image.position,
    )


async def images_for(
    session: AsyncSession, product_ids: Sequence[str]
) -> dict[str, list[ImageRead]]:
    """Shown images per product, in display order, with one query for all products (plain
    rows: list pages read this for every product they show)."""
    if not product_ids:
        return {}
    rows = await session.execute(
        select(
            ProductImage.id,
            ProductImage.product_id,
            ProductImage.url,
            ProductImage.thumbnail_urls,
            ProductImage.alt_text,
            ProductImage.position,
        )
        .where(
            ProductImage.product_id.in_(list(set(product_ids))),
            ProductImage.status.in_(VISIBLE_STATUSES),
        )
        .order_by(ProductImage.product_id, ProductImage.position, ProductImage.id)
    )
    result: dict[str, list[ImageRead]] = {}
    for image in rows:
        result.setdefault(image.product_id, []).append(
            ImageRead(
                id=image.id,
                url=image.url,
                thumbnails=dict(image.thumbnail_urls),
                alt_text=image.alt_text,
                position=image.position,
            )
        )
    return result


async def _shown(session: AsyncSession, product_id: str) -> list[ProductImage]:
    rows = await session.scalars(
        select(ProductImage)
        .where(
            ProductImage.product_id == product_id,
            ProductImage.status.in_(VISIBLE_STATUSES),
        )
        .order_by(ProductImage.position, ProductImage.id)
    )
    return list(rows)


async def _product(uow: UnitOfWork, access: VendorAccess, product_id: str) -> Product:
    product = await product_repo.vendor_product(uow.session, access.vendor_id, product_id)
    if product is None:
        raise ProductNotFound()
    return product


async def _image(
    uow: UnitOfWork, access: VendorAccess, product_id: str, image_id: str
) -> ProductImage:
    image = await uow.session.scalar(
        select(ProductImage).where(
            ProductImage.id == image_id,
            ProductImage.product_id == product_id,
            ProductImage.vendor_id == access.vendor_id,
        )
    )
    if image is None:
        raise ImageNotFound()
    return image


async def _check_room(uow: UnitOfWork, product_id: str) -> int:
    """The position a new image gets (the end); refuses a product that is full."""
    count = await uow.session.scalar(
        select(func.count())
        .select_from(ProductImage)
        .where(
            ProductImage.product_id == product_id,
            ProductImage.status.in_(VISIBLE_STATUSES),
        )
    )
    if (count or 0) >= MAX_IMAGES_PER_PRODUCT:
        raise ValidationFailed.on_field(
            list(FILE_LOC),
            f"a product has at most {MAX_IMAGES_PER_PRODUCT} images",
            "too_many_images",
        )
    return count or 0


def _check_alt_text(alt_text: str | None) -> str | None:
    if alt_text is None:
        return None
    cleaned = " ".join(alt_text.split())
    if len(cleaned) > MAX_ALT_TEXT:
        raise ValidationFailed.on_field(
            ["body", "alt_text"], f"at most {MAX_ALT_TEXT} characters", "too_long"
        )
    return cleaned or None


def _audit(
    uow: UnitOfWork,
    access: VendorAccess,
    action: str,
    image: ProductImage,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    record_audit(
        uow,
        actor_id=access.principal.id,
        actor_role=access.actor_role,
        action=action,
        resource_type="product_image",
        resource_id=image.id,
        before=before,
        after=after,
    )


# --- use cases ----------------------------------------------------------------------------


async def _store(
    uow: UnitOfWork, storage: Storage, image: ProductImage, clean: CleanImage, position: int
) -> None:
    """Write the cleaned original, make the row shown (thumbnails follow), audit-ready."""
    key = original_key(image, clean.format)
    await storage.put(key, clean.data, clean.content_type)
    image.key = key
    image.url = storage.url(key)
    image.content_type = clean.content_type
    image.width = clean.width
    image.height = clean.height
    image.bytes = len(clean.data)
    image.position = position
    image.status = "processing"
    image.updated_at = utcnow()
    uow.enqueue(THUMBNAIL_JOB, {"image_id": image.id})


async def upload(
    uow: UnitOfWork,
    storage: Storage,
    *,
    access: VendorAccess,
    product_id: str,
    data: bytes,
    alt_text: str | None = None,
) -> ProductImage:
    """Add an image to a product from uploaded bytes; thumbnails are made by a job."""
    product = await _product(uow, access, product_id)
    alt = _check_alt_text(alt_text)
    position = await _check_room(uow, product.id)
    clean = await clean_upload(data)
    now = utcnow()
    image = ProductImage(
        id=new_id("img"),
        product_id=product.id,
        vendor_id=access.vendor_id,
        alt_text=alt,
        thumbnails={},
        thumbnail_urls={},
        created_at=now,
    )
    await _store(uow, storage, image, clean, position)
    uow.session.add(image)
    _audit(uow, access, "product.image_added", image, after=_audit_view(image))
    return image


def _audit_view(image: ProductImage) -> dict[str, Any]:
    return {
        "product_id": image.product_id,
        "key": image.key,
        "alt_text": image.alt_text,
        "position": image.position,
    }


@dataclass(frozen=True, slots=True)
class PendingUpload:
    image_id: str
    upload: PresignedUpload


async def presign(
    uow: UnitOfWork,
    storage: Storage,
    *,
    access: VendorAccess,
    product_id: str,
    content_type: str,
    alt_text: str | None = None,
) -> PendingUpload:
    """A direct-upload link for one image; the image exists (pending) until confirmed."""
    product = await _product(uow, access, product_id)
    if content_type.lower() not in FORMAT_BY_CONTENT_TYPE:
        raise ValidationFailed.on_field(
            ["body", "content_type"],
            "use image/jpeg, image/png or image/webp",
            "unsupported_format",
        )
    alt = _check_alt_text(alt_text)
    await _check_room(uow, product.id)
    now = utcnow()
    image = ProductImage(
        id=new_id("img"),
        product_id=product.id,
        vendor_id=access.vendor_id,
        content_type=content_type.lower(),
        width=0,
        height=0,
        bytes=0,
        alt_text=alt,
        position=0,
        thumbnails={},
        thumbnail_urls={},
        status="pending",
        created_at=now,
        updated_at=now,
    )
    image.key = incoming_key(access.vendor_id, image.id)
    image.url = ""
    link = await storage.presigned_upload(
        image.key,
        content_type=image.content_type,
        max_bytes=MAX_BYTES,
        expires_seconds=PRESIGN_EXPIRES_SECONDS,
    )
    uow.session.add(image)
    return PendingUpload(image_id=image.id, upload=link)


async def confirm(
    uow: UnitOfWork, storage: Storage, *, access: VendorAccess, product_id: str, image_id: str
) -> ProductImage:
    """Validate a directly uploaded file exactly like a multipart one, then keep it.

    A bad file is deleted from storage and refused; the image stays pending, so the client
    may upload again to the same link while it is valid. Confirming twice is harmless.
    """
    await _product(uow, access, product_id)
    image = await _image(uow, access, product_id, image_id)
    if image.status != "pending":
        return image
    position = await _check_room(uow, product_id)
    raw_key = image.key
    try:
        data = await storage.get(raw_key, max_bytes=MAX_BYTES)
    except ObjectNotFound:
        raise Conflict("nothing has been uploaded to the link yet", code="upload_missing") from None
    except ObjectTooLarge:
        await storage.delete(raw_key)
        raise rejected(ImageRejected("too_large", "the file is larger than 10 MB")) from None
    try:
        clean = await clean_upload(data)
    except ValidationFailed:
        await storage.delete(raw_key)
        raise
    await _store(uow, storage, image, clean, position)
    await storage.delete(raw_key)
    _audit(uow, access, "product.image_added", image, after=_audit_view(image))
    return image


async def update_image(
    uow: UnitOfWork,
    *,
    access: VendorAccess,
    product_id: str,
    image_id: str,
    position: int | None = None,
    alt_text: str | None = None,
    set_alt_text: bool = False,
) -> ProductImage:
    """Move an image to `position` (0 is first; others shift) and/or set its alt text
    (`set_alt_text` distinguishes "clear it" from "leave it")."""
    await _product(uow, access, product_id)
    image = await _image(uow, access, product_id, image_id)
    if image.status not in VISIBLE_STATUSES:
        raise ImageNotFound()
    before = {"alt_text": image.alt_text, "position": image.position}
    if set_alt_text:
        image.alt_text = _check_alt_text(alt_text)
    if position is not None:
        if position < 0:
            raise ValidationFailed.on_field(["body", "position"], "must be 0 or more", "invalid")
        ordered = [i for i in await _shown(uow.session, product_id) if i.id != image.id]
        ordered.insert(min(position, len(ordered)), image)
        _renumber(ordered)
    image.updated_at = utcnow()
    after = {"alt_text": image.alt_text, "position": image.position}
    if after != before:
        _audit(uow, access, "product.image_updated", image, before=before, after=after)
    return image


def _renumber(ordered: Sequence[ProductImage]) -> None:
    for index, item in enumerate(ordered):
        item.position = index


async def delete_image(
    uow: UnitOfWork, storage: Storage, *, access: VendorAccess, product_id: str, image_id: str
) -> None:
    """Remove an image and its files; the remaining images close the gap."""
    await _product(uow, access, product_id)
    image = await _image(uow, access, product_id, image_id)
    keys = [image.key, *image.thumbnails.values()]
    before = _audit_view(image)
    await uow.session.delete(image)
    await uow.session.flush()
    _renumber(await _shown(uow.session, product_id))
    _audit(uow, access, "product.image_deleted", image, before=before)

    async def remove_files() -> None:
        # Only once the row is gone for good: a rolled-back delete keeps working files.
        for key in keys:
            await storage.delete(key)

    uow.after_commit(remove_files)


# --- jobs ---------------------------------------------------------------------------------


async def make_thumbnails(uow: UnitOfWork, storage: Storage, *, image_id: str) -> None:
    """Create every thumbnail size and mark the image ready. Idempotent: a re-run writes
    the same keys again."""
    image = await uow.session.get(ProductImage, image_id)
    if image is None or image.status not in VISIBLE_STATUSES:
        return  # deleted meanwhile: nothing to do
    original = await storage.get(image.key)
    keys: dict[str, str] = {}
    urls: dict[str, str] = {}
    for size in THUMBNAIL_SIZES:
        data, _, _ = await asyncio.to_thread(make_thumbnail, original, size)
        key = thumbnail_key(image, size)
        await storage.put(key, data, "image/webp")
        keys[str(size)] = key
        urls[str(size)] = storage.url(key)
    image.thumbnails = keys
    image.thumbnail_urls = urls
    image.status = "ready"
    image.updated_at = utcnow()


async def purge_pending(uow: UnitOfWork, storage: Storage) -> int:
    """Forget direct uploads never confirmed, and their files."""
    cutoff = utcnow() - timedelta(hours=PENDING_RETENTION_HOURS)
    stale = list(
        await uow.session.scalars(
            select(ProductImage)
            .where(ProductImage.status == "pending", ProductImage.created_at < cutoff)
            .limit(500)
        )
    )
    keys = [image.key for image in stale]
    for image in stale:
        await uow.session.delete(image)

    async def remove_files() -> None:
        for key in keys:
            await storage.delete(key)

    uow.after_commit(remove_files)
    return len(stale)


# The job handlers have only (uow, message); each registry (one per container) is bound to
# the storage of the container that built it, so two containers in one process never mix.
_storages: WeakKeyDictionary[Registry, Storage] = WeakKeyDictionary()


def bind_storage(registry: Registry, storage: Storage) -> None:
    """Called by the composition root once the container's storage exists."""
    _storages[registry] = storage


def _bound(registry: Registry) -> Storage:
    try:
        return _storages[registry]
    except KeyError:
        raise RuntimeError("no storage bound to this registry (see bind_storage)") from None


def register_images(registry: Registry) -> None:
    """The thumbnail job and the hourly purge of unconfirmed uploads."""

    async def thumbnails_job(uow: UnitOfWork, message: Message) -> None:
        await make_thumbnails(uow, _bound(registry), image_id=str(message.payload["image_id"]))

    async def purge_job(uow: UnitOfWork, message: Message) -> None:
        await purge_pending(uow, _bound(registry))

    registry.job(THUMBNAIL_JOB)(thumbnails_job)
    registry.job(PURGE_JOB)(purge_job)
    registry.every(timedelta(hours=1), PURGE_JOB)
