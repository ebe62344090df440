"""Product images over HTTP: multipart upload to the local folder, thumbnails by a job, order
and alt text, deletion, tenancy, refusals that change nothing, and the presigned direct upload
to a real S3-compatible server on loopback (moto's server mode) and to the local backend."""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from moto.server import ThreadedMotoServer
from PIL import Image
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.catalog import create_category, create_product
from factories.identity import auth_headers
from factories.vendors import MadeVendor, create_vendor
from marketplace.app import create_app
from marketplace.bootstrap import Container, build_container
from marketplace.catalog.domain.images import MAX_BYTES
from marketplace.catalog.models import Product, ProductImage
from marketplace.compliance.models import AuditLogEntry
from marketplace.platform.db import Database
from marketplace.platform.storage import LocalStorage, S3Storage
from marketplace.settings import Settings

BUCKET = "product-images"


def encode(fmt: str, size: tuple[int, int] = (1000, 500), **params: Any) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, fmt, **params)
    return out.getvalue()


def files_under(root: Path) -> list[str]:
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
async def container(settings: Settings, db: Database, tmp_path: Path) -> AsyncIterator[Container]:
    """The local backend in a folder of this test's own, so "no file written" is exact."""
    built = build_container(
        settings.model_copy(update={"data_dir": tmp_path}), db=db, inline_jobs=True
    )
    await built.jobs.startup()
    yield built
    await built.jobs.stop()
    await built.cache.close()


@pytest.fixture
def media(container: Container) -> LocalStorage:
    assert isinstance(container.storage, LocalStorage)
    return container.storage


@pytest.fixture
async def vendor(container: Container) -> MadeVendor:
    return await create_vendor(container)


@pytest.fixture
async def product(container: Container, vendor: MadeVendor) -> Product:
    category = await create_category(container)
    return await create_product(container, vendor, category)


def images_url(vendor: MadeVendor, product: Product) -> str:
    return f"/v1/vendors/{vendor.id}/products/{product.id}/images"


async def upload(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    product: Product,
    data: bytes,
    **form: str,
) -> httpx.Response:
    return await client.post(
        images_url(vendor, product),
        files={"file": ("photo.jpg", data, "image/jpeg")},
        data=form,
        headers=auth_headers(container, vendor.owner),
    )


async def image_rows(session: AsyncSession, product_id: str) -> list[tuple[str, int, str]]:
    rows = await session.execute(
        select(ProductImage.id, ProductImage.position, ProductImage.status)
        .where(ProductImage.product_id == product_id)
        .order_by(ProductImage.position)
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


async def audit_actions(session: AsyncSession, image_id: str) -> list[str]:
    rows = await session.scalars(
        select(AuditLogEntry.action)
        .where(AuditLogEntry.resource_id == image_id)
        .order_by(AuditLogEntry.seq)
    )
    return list(rows)


async def test_upload_stores_a_clean_original_and_thumbnails_follow_from_the_job(
    client: httpx.AsyncClient,
    container: Container,
    media: LocalStorage,
    vendor: MadeVendor,
    product: Product,
    session: AsyncSession,
) -> None:
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    response = await upload(
        client, container, vendor, product, encode("JPEG", exif=exif), alt_text="  Red  hat "
    )
    assert response.status_code == 201
    body = response.json()
    image_id = body["id"]
    folder = f"vendors/{vendor.id}/products/{product.id}/images/{image_id}"
    assert image_id.startswith("img_")
    assert body == {
        "id": image_id,
        "url": f"/media/{folder}/original.jpg",
        "thumbnails": {},
        "alt_text": "Red hat",
        "position": 0,
    }
    assert files_under(media.root) == [f"{folder}/original.jpg"]
    stored = await media.get(f"{folder}/original.jpg")
    assert b"CameraMaker" not in stored

    served = await client.get(body["url"])
    assert (served.status_code, served.content) == (200, stored)
    assert served.headers["content-type"] == "image/jpeg"

    await container.jobs.drain()

    assert files_under(media.root) == [
        f"{folder}/200.webp",
        f"{folder}/800.webp",
        f"{folder}/original.jpg",
    ]
    for size, expected in (("200", (200, 100)), ("800", (800, 400))):
        with Image.open(io.BytesIO(await media.get(f"{folder}/{size}.webp"))) as thumb:
            assert (thumb.format, thumb.size) == ("WEBP", expected)
    page = await client.get(
        f"/v1/vendors/{vendor.id}/products/{product.id}",
        headers=auth_headers(container, vendor.owner),
    )
    assert page.json()["images"] == [
        {
            "id": image_id,
            "url": f"/media/{folder}/original.jpg",
            "thumbnails": {"200": f"/media/{folder}/200.webp", "800": f"/media/{folder}/800.webp"},
            "alt_text": "Red hat",
            "position": 0,
        }
    ]
    assert await image_rows(session, product.id) == [(image_id, 0, "ready")]
    assert await audit_actions(session, image_id) == ["product.image_added"]


async def test_thumbnail_job_is_idempotent(
    client: httpx.AsyncClient,
    container: Container,
    media: LocalStorage,
    vendor: MadeVendor,
    product: Product,
    session: AsyncSession,
) -> None:
    from marketplace.catalog.service import images as service

    image_id = (await upload(client, container, vendor, product, encode("PNG"))).json()["id"]
    await container.jobs.drain()
    before = files_under(media.root)
    async with container.uow_factory() as uow:
        await service.make_thumbnails(uow, media, image_id=image_id)
        await uow.commit()
    assert files_under(media.root) == before
    assert len(before) == 3
    assert await image_rows(session, product.id) == [(image_id, 0, "ready")]


async def test_order_alt_text_and_delete(
    client: httpx.AsyncClient,
    container: Container,
    media: LocalStorage,
    vendor: MadeVendor,
    product: Product,
    session: AsyncSession,
) -> None:
    headers = auth_headers(container, vendor.owner)
    ids = [
        (await upload(client, container, vendor, product, encode("PNG", size=(50, 50)))).json()[
            "id"
        ]
        for _ in range(3)
    ]
    assert [p for _, p, _ in await image_rows(session, product.id)] == [0, 1, 2]

    moved = await client.patch(
        f"{images_url(vendor, product)}/{ids[2]}",
        json={"position": 0, "alt_text": "Front"},
        headers=headers,
    )
    assert moved.status_code == 200
    assert (moved.json()["position"], moved.json()["alt_text"]) == (0, "Front")
    assert [i for i, _, _ in await image_rows(session, product.id)] == [ids[2], ids[0], ids[1]]

    cleared = await client.patch(
        f"{images_url(vendor, product)}/{ids[2]}", json={"alt_text": None}, headers=headers
    )
    assert (cleared.json()["position"], cleared.json()["alt_text"]) == (0, None)

    await container.jobs.drain()
    deleted = await client.delete(f"{images_url(vendor, product)}/{ids[2]}", headers=headers)
    assert deleted.status_code == 204
    assert [(i, p) for i, p, _ in await image_rows(session, product.id)] == [
        (ids[0], 0),
        (ids[1], 1),
    ]
    assert not [f for f in files_under(media.root) if ids[2] in f]
    assert len(files_under(media.root)) == 6
    assert await audit_actions(session, ids[2]) == [
        "product.image_added",
        "product.image_updated",
        "product.image_updated",
        "product.image_deleted",
    ]
    missing = await client.delete(f"{images_url(vendor, product)}/{ids[2]}", headers=headers)
    assert (missing.status_code, missing.json()["code"]) == (404, "image_not_found")


async def test_another_vendor_gets_404_and_nothing_changes(
    client: httpx.AsyncClient,
    container: Container,
    media: LocalStorage,
    vendor: MadeVendor,
    product: Product,
    session: AsyncSession,
) -> None:
    other = await create_vendor(container)
    other_headers = auth_headers(container, other.owner)
    data = encode("PNG")
    # Their own vendor path, our product id: the product is not theirs.
    via_own = await client.post(
        f"/v1/vendors/{other.id}/products/{product.id}/images",
        files={"file": ("a.png", data, "image/png")},
        headers=other_headers,
    )
    # Our vendor path: they are not of this vendor.
    via_ours = await client.post(
        images_url(vendor, product),
        files={"file": ("a.png", data, "image/png")},
        headers=other_headers,
    )
    assert (via_own.status_code, via_own.json()["code"]) == (404, "product_not_found")
    assert (via_ours.status_code, via_ours.json()["code"]) == (404, "vendor_not_found")

    image_id = (await upload(client, container, vendor, product, data)).json()["id"]
    patched = await client.patch(
        f"/v1/vendors/{other.id}/products/{product.id}/images/{image_id}",
        json={"alt_text": "mine now"},
        headers=other_headers,
    )
    assert patched.status_code == 404
    assert await image_rows(session, product.id) == [(image_id, 0, "processing")]
    assert len(files_under(media.root)) == 1


def polyglot_png() -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("evil.js", "alert(1)")
    return encode("PNG") + archive.getvalue()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"just some text, named photo.jpg", "not_an_image"),
        (encode("GIF", size=(10, 10)), "unsupported_format"),
        (polyglot_png(), "trailing_data"),
        (encode("JPEG", quality=95)[:3000], "truncated"),
        (encode("PNG") + b"\x00" * MAX_BYTES, "too_large"),
    ],
    ids=["text", "gif", "polyglot", "truncated", "oversized"],
)
async def test_bad_files_are_refused_with_422_and_nothing_is_written(
    client: httpx.AsyncClient,
    container: Container,
    media: LocalStorage,
    vendor: MadeVendor,
    product: Product,
    session: AsyncSession,
    data: bytes,
    code: str,
) -> None:
    response = await upload(client, container, vendor, product, data)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [(e["loc"], e["code"]) for e in response.json()["errors"]] == [(["body", "file"], code)]
    assert await image_rows(session, product.id) == []
    assert files_under(media.root) == []
    count = await session.scalar(select(func.count()).select_from(ProductImage))
    assert count == 0


async def test_a_body_over_the_limit_is_refused_before_it_is_read(
    client: httpx.AsyncClient,
    container: Container,
    media: LocalStorage,
    vendor: MadeVendor,
    product: Product,
    session: AsyncSession,
) -> None:
    headers = auth_headers(container, vendor.owner)

    async def endless() -> AsyncIterator[bytes]:
        # A well-formed multipart body whose file part is far over the limit.
        yield (
            b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
            b"Content-Type: image/png\r\n\r\n"
        )
        chunk = b"\x00" * 1024 * 1024
        for _ in range(50):
            yield chunk
        yield b"\r\n--xyz--\r\n"

    # Chunked (no Content-Length): counted while streaming.
    streamed = await client.post(
        images_url(vendor, product),
        content=endless(),
        headers={**headers, "Content-Type": "multipart/form-data; boundary=xyz"},
    )
    declared = await client.post(
        images_url(vendor, product),
        content=b"x",
        headers={
            **headers,
            "Content-Type": "multipart/form-data; boundary=xyz",
            "Content-Length": str(MAX_BYTES * 2),
        },
    )
    for response in (streamed, declared):
        assert response.status_code == 422
        assert [(e["loc"], e["code"]) for e in response.json()["errors"]] == [
            (["body", "file"], "too_large")
        ]
    assert await image_rows(session, product.id) == []
    assert files_under(media.root) == []


async def test_missing_file_is_a_422_naming_file(
    client: httpx.AsyncClient, container: Container, vendor: MadeVendor, product: Product
) -> None:
    response = await client.post(
        images_url(vendor, product),
        data={"alt_text": "x"},
        headers=auth_headers(container, vendor.owner),
    )
    assert response.status_code == 422
    assert [(e["loc"], e["code"]) for e in response.json()["errors"]] == [
        (["body", "file"], "missing")
    ]


async def test_local_presigned_upload_then_confirm(
    client: httpx.AsyncClient,
    container: Container,
    media: LocalStorage,
    vendor: MadeVendor,
    product: Product,
    session: AsyncSession,
) -> None:
    headers = auth_headers(container, vendor.owner)
    created = await client.post(
        f"{images_url(vendor, product)}/upload-url",
        json={"content_type": "image/webp", "alt_text": "Side"},
        headers=headers,
    )
    assert created.status_code == 201
    body = created.json()
    image_id = body["image_id"]
    assert body["upload"]["method"] == "PUT"
    assert body["upload"]["headers"] == {"Content-Type": "image/webp"}
    assert body["upload"]["max_bytes"] == MAX_BYTES
    # Pending images are not shown yet.
    assert await image_rows(session, product.id) == [(image_id, 0, "pending")]
    page = await client.get(f"/v1/vendors/{vendor.id}/products/{product.id}", headers=headers)
    assert page.json()["images"] == []

    put = await client.put(
        body["upload"]["url"], content=encode("WEBP"), headers=body["upload"]["headers"]
    )
    assert put.status_code == 204
    assert files_under(media.root) == [f"incoming/{vendor.id}/{image_id}"]

    confirmed = await client.post(
        f"{images_url(vendor, product)}/{image_id}/confirm", headers=headers
    )
    assert confirmed.status_code == 200
    folder = f"vendors/{vendor.id}/products/{product.id}/images/{image_id}"
    assert confirmed.json() == {
        "id": image_id,
        "url": f"/media/{folder}/original.webp",
        "thumbnails": {},
        "alt_text": "Side",
        "position": 0,
    }
    assert files_under(media.root) == [f"{folder}/original.webp"]
    again = await client.post(f"{images_url(vendor, product)}/{image_id}/confirm", headers=headers)
    assert again.json() == confirmed.json()


async def test_confirm_before_uploading_is_a_conflict(
    client: httpx.AsyncClient, container: Container, vendor: MadeVendor, product: Product
) -> None:
    headers = auth_headers(container, vendor.owner)
    created = await client.post(
        f"{images_url(vendor, product)}/upload-url",
        json={"content_type": "image/png"},
        headers=headers,
    )
    image_id = created.json()["image_id"]
    response = await client.post(
        f"{images_url(vendor, product)}/{image_id}/confirm", headers=headers
    )
    assert (response.status_code, response.json()["code"]) == (409, "upload_missing")


async def test_upload_url_refuses_other_content_types(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    product: Product,
    session: AsyncSession,
) -> None:
    response = await client.post(
        f"{images_url(vendor, product)}/upload-url",
        json={"content_type": "image/svg+xml"},
        headers=auth_headers(container, vendor.owner),
    )
    assert response.status_code == 422
    assert [(e["loc"], e["code"]) for e in response.json()["errors"]] == [
        (["body", "content_type"], "unsupported_format")
    ]
    assert await image_rows(session, product.id) == []


# --- S3 (moto's server on loopback) ----------------------------------------------------------


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
async def s3_container(
    settings: Settings, db: Database, tmp_path: Path, s3_endpoint: str
) -> AsyncIterator[Container]:
    built = build_container(
        settings.model_copy(
            update={
                "data_dir": tmp_path,
                "storage_backend": "s3",
                "s3_bucket": BUCKET,
                "s3_region": "us-east-1",
                "s3_endpoint_url": s3_endpoint,
                "s3_access_key_id": "testing",
                "s3_secret_access_key": SecretStr("testing"),
            }
        ),
        db=db,
        inline_jobs=True,
    )
    assert isinstance(built.storage, S3Storage)
    built.storage.client.create_bucket(Bucket=BUCKET)
    await built.jobs.startup()
    yield built
    await built.jobs.stop()
    await built.cache.close()


@pytest.fixture
async def s3_client(s3_container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container=s3_container, run_jobs=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def bucket_keys(storage: S3Storage, prefix: str) -> list[str]:
    listing = storage.client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(item["Key"] for item in listing.get("Contents", []))


async def presign_and_post(
    s3_client: httpx.AsyncClient,
    headers: dict[str, str],
    url: str,
    data: bytes,
    content_type: str,
) -> str:
    created = await s3_client.post(
        f"{url}/upload-url", json={"content_type": content_type}, headers=headers
    )
    assert created.status_code == 201
    body = created.json()
    assert body["upload"]["method"] == "POST"
    async with httpx.AsyncClient() as direct:
        posted = await direct.post(
            body["upload"]["url"],
            data=body["upload"]["fields"],
            files={"file": ("upload", data, content_type)},
        )
    assert posted.status_code == 204
    image_id: str = body["image_id"]
    return image_id


async def test_s3_presigned_upload_confirm_and_thumbnails(
    s3_client: httpx.AsyncClient, s3_container: Container, session: AsyncSession
) -> None:
    storage = s3_container.storage
    assert isinstance(storage, S3Storage)
    vendor = await create_vendor(s3_container)
    product = await create_product(s3_container, vendor, await create_category(s3_container))
    headers = auth_headers(s3_container, vendor.owner)
    url = images_url(vendor, product)

    image_id = await presign_and_post(s3_client, headers, url, encode("JPEG"), "image/jpeg")
    assert bucket_keys(storage, "incoming/") == [f"incoming/{vendor.id}/{image_id}"]

    confirmed = await s3_client.post(f"{url}/{image_id}/confirm", headers=headers)
    assert confirmed.status_code == 200
    folder = f"vendors/{vendor.id}/products/{product.id}/images/{image_id}"
    base = f"{storage.endpoint_url}/{BUCKET}"
    assert confirmed.json() == {
        "id": image_id,
        "url": f"{base}/{folder}/original.jpg",
        "thumbnails": {},
        "alt_text": None,
        "position": 0,
    }
    assert bucket_keys(storage, "incoming/") == []

    await s3_container.jobs.drain()

    assert bucket_keys(storage, folder) == [
        f"{folder}/200.webp",
        f"{folder}/800.webp",
        f"{folder}/original.jpg",
    ]
    head = storage.client.head_object(Bucket=BUCKET, Key=f"{folder}/200.webp")
    assert head["ContentType"] == "image/webp"
    with Image.open(io.BytesIO(await storage.get(f"{folder}/800.webp"))) as thumb:
        assert thumb.size == (800, 400)
    page = await s3_client.get(f"/v1/vendors/{vendor.id}/products/{product.id}", headers=headers)
    assert page.json()["images"][0]["thumbnails"] == {
        "200": f"{base}/{folder}/200.webp",
        "800": f"{base}/{folder}/800.webp",
    }
    assert await image_rows(session, product.id) == [(image_id, 0, "ready")]


@pytest.mark.parametrize(
    ("data", "code"),
    [(polyglot_png(), "trailing_data"), (encode("PNG") + b"\x01" * MAX_BYTES, "too_large")],
    ids=["polyglot", "oversized"],
)
async def test_s3_confirm_of_a_bad_upload_deletes_it_and_refuses(
    s3_client: httpx.AsyncClient,
    s3_container: Container,
    session: AsyncSession,
    data: bytes,
    code: str,
) -> None:
    storage = s3_container.storage
    assert isinstance(storage, S3Storage)
    vendor = await create_vendor(s3_container)
    product = await create_product(s3_container, vendor, await create_category(s3_container))
    headers = auth_headers(s3_container, vendor.owner)
    url = images_url(vendor, product)

    # moto accepts any size, so the oversized file reaches the bucket; real S3 would have
    # refused the POST by its content-length-range. Confirm checks again either way.
    image_id = await presign_and_post(s3_client, headers, url, data, "image/png")
    response = await s3_client.post(f"{url}/{image_id}/confirm", headers=headers)

    assert response.status_code == 422
    assert [(e["loc"], e["code"]) for e in response.json()["errors"]] == [(["body", "file"], code)]
    assert bucket_keys(storage, f"incoming/{vendor.id}/") == []
    assert bucket_keys(storage, f"vendors/{vendor.id}/") == []
    assert await image_rows(session, product.id) == [(image_id, 0, "pending")]
