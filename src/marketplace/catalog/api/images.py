"""Product image routes: vendors upload (multipart or presigned direct upload), order,
describe and delete their products' images. Reading images is part of the product routes."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message

from marketplace.catalog.domain.images import MAX_ALT_TEXT, MAX_BYTES, ImageRejected
from marketplace.catalog.schemas.product import ImageRead
from marketplace.catalog.service import images as service
from marketplace.identity.public import VendorAccess, vendor_permission
from marketplace.platform.http import UoW
from marketplace.platform.storage import Storage

# Room for the multipart framing and the alt text around a file of the largest allowed size.
BODY_LIMIT = MAX_BYTES + 64 * 1024


class _BodyTooLarge(StarletteHTTPException):
    """Raised from inside body parsing (FastAPI re-raises HTTP exceptions as they are)."""

    def __init__(self) -> None:
        super().__init__(status_code=422)


def _too_large() -> Exception:
    return service.rejected(
        ImageRejected("too_large", f"the file is larger than {MAX_BYTES // 2**20} MB")
    )


class LimitedBodyRoute(APIRoute):
    """Refuses a body over `BODY_LIMIT` before reading it (Content-Length) or while reading
    it (chunked), so a huge upload is never spooled to disk; both answer 422 `too_large`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def limited(request: Request) -> Response:
            length = request.headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > BODY_LIMIT:
                raise _too_large()
            received = 0

            async def counting_receive() -> Message:
                nonlocal received
                message = await request.receive()
                received += len(message.get("body", b""))
                if received > BODY_LIMIT:
                    raise _BodyTooLarge()
                return message

            try:
                return await handler(Request(request.scope, counting_receive))
            except _BodyTooLarge:
                raise _too_large() from None

        return limited


router = APIRouter(tags=["product images"], route_class=LimitedBodyRoute)

ImageWriter = Annotated[VendorAccess, Depends(vendor_permission("products.write"))]


async def _storage(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage


StorageDep = Annotated[Storage, Depends(_storage)]


class UploadUrlIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content_type: str = Field(max_length=40, examples=["image/jpeg"])
    alt_text: str | None = Field(default=None, max_length=MAX_ALT_TEXT)


class UploadOut(BaseModel):
    url: str
    method: Literal["POST", "PUT"]
    fields: dict[str, str] = Field(
        description="POST: form fields to send before the file (the file part is `file`)"
    )
    headers: dict[str, str] = Field(description="PUT: headers to send with the bytes")
    max_bytes: int
    expires_at: datetime


class UploadUrlOut(BaseModel):
    image_id: str = Field(description="confirm this image once the upload is done")
    upload: UploadOut


class ImagePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    position: int | None = Field(default=None, ge=0, le=1000, description="0 is first")
    alt_text: str | None = Field(default=None, max_length=MAX_ALT_TEXT)


BASE = "/vendors/{vid}/products/{pid}/images"


@router.post(
    BASE,
    status_code=201,
    summary="Upload an image (JPEG, PNG or WebP, at most 10 MB and 40 megapixels)",
    description="Thumbnails (200 and 800 px WebP) are made in the background: `thumbnails` "
    "is empty until they exist. Metadata (EXIF, GPS, XMP) is removed from the stored file.",
)
async def upload_image(
    pid: str,
    uow: UoW,
    access: ImageWriter,
    storage: StorageDep,
    file: Annotated[UploadFile, File(description="the image")],
    alt_text: Annotated[str | None, Form(max_length=MAX_ALT_TEXT)] = None,
) -> ImageRead:
    data = await file.read(MAX_BYTES + 1)
    image = await service.upload(
        uow, storage, access=access, product_id=pid, data=data, alt_text=alt_text
    )
    return service.image_read(image)


@router.post(
    f"{BASE}/upload-url",
    status_code=201,
    summary="Get a link to upload an image directly to storage",
    description="Upload the file to `upload.url` as described, then call `.../confirm`: the "
    "file is validated then, exactly like a multipart upload.",
)
async def create_upload_url(
    pid: str, body: UploadUrlIn, uow: UoW, access: ImageWriter, storage: StorageDep
) -> UploadUrlOut:
    pending = await service.presign(
        uow,
        storage,
        access=access,
        product_id=pid,
        content_type=body.content_type,
        alt_text=body.alt_text,
    )
    link = pending.upload
    return UploadUrlOut(
        image_id=pending.image_id,
        upload=UploadOut(
            url=link.url,
            method=link.method,
            fields=dict(link.fields),
            headers=dict(link.headers),
            max_bytes=link.max_bytes,
            expires_at=link.expires_at,
        ),
    )


@router.post(f"{BASE}/{{image_id}}/confirm", summary="Validate and keep a directly uploaded image")
async def confirm_upload(
    pid: str, image_id: str, uow: UoW, access: ImageWriter, storage: StorageDep
) -> ImageRead:
    image = await service.confirm(uow, storage, access=access, product_id=pid, image_id=image_id)
    return service.image_read(image)


@router.patch(f"{BASE}/{{image_id}}", summary="Move an image or change its alt text")
async def patch_image(
    pid: str, image_id: str, body: ImagePatch, uow: UoW, access: ImageWriter
) -> ImageRead:
    image = await service.update_image(
        uow,
        access=access,
        product_id=pid,
        image_id=image_id,
        position=body.position,
        alt_text=body.alt_text,
        set_alt_text="alt_text" in body.model_fields_set,
    )
    return service.image_read(image)


@router.delete(f"{BASE}/{{image_id}}", status_code=204, summary="Delete an image")
async def delete_image(
    pid: str, image_id: str, uow: UoW, access: ImageWriter, storage: StorageDep
) -> Response:
    await service.delete_image(uow, storage, access=access, product_id=pid, image_id=image_id)
    return Response(status_code=204)
