"""Owns file storage: objects (bytes under a key) in a local folder or an S3-compatible bucket.

Two interchangeable backends implement :class:`Storage`:

* :class:`LocalStorage` (the embedded default): files under a folder, served by the app under
  `base_url` (``/media``) through :class:`MediaFiles`. Its direct uploads go to an app route
  (``PUT /media-uploads/{token}``, :func:`local_upload_router`) with an HMAC-signed token that
  names the key, content type, size limit and expiry.
* :class:`S3Storage`: any S3 API (AWS S3, GCS interoperability, MinIO, R2) through boto3.
  Direct uploads are presigned POSTs whose policy pins the key, the content type and a
  ``content-length-range``, so the bucket itself refuses anything larger.

Keys are relative, ``/``-separated paths of safe characters (:func:`check_key`). Keys under
``incoming/`` hold untrusted direct uploads until they are validated; keys under ``private/``
hold documents only their owners may read (receipts, statements), served by the routes that
check who asks. The local media route never serves either prefix, and an S3 bucket policy
must not make them public either.

The kernel decides nothing about what is stored: callers validate content before `put`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from marketplace.platform.errors import AppError, BadRequest

__all__ = [
    "INCOMING_PREFIX",
    "PRIVATE_PREFIX",
    "InvalidKey",
    "LocalStorage",
    "MediaFiles",
    "ObjectNotFound",
    "ObjectTooLarge",
    "PresignedUpload",
    "S3Storage",
    "Storage",
    "UploadGrant",
    "build_storage",
    "check_key",
    "local_upload_router",
]

INCOMING_PREFIX = "incoming/"
PRIVATE_PREFIX = "private/"
MAX_KEY_LENGTH = 512
_SEGMENT_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


class InvalidKey(ValueError):
    """A key that could escape its folder or is not a plain relative path."""


class ObjectNotFound(LookupError):
    pass


class ObjectTooLarge(ValueError):
    pass


def check_key(key: str) -> str:
    """Return `key` if it is a safe relative key, else raise :class:`InvalidKey`.

    Every segment must start with a letter, digit or underscore, so ``..``, ``.`` and hidden
    files are impossible, and there is no way to express an absolute path, a drive or a
    backslash: the same key is safe as a file path and as an S3 key.
    """
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidKey(f"key must be 1 to {MAX_KEY_LENGTH} characters")
    if not all(_SEGMENT_RE.fullmatch(segment) for segment in key.split("/")):
        raise InvalidKey(f"unsafe storage key {key!r}")
    return key


@dataclass(frozen=True, slots=True)
class PresignedUpload:
    """How a client uploads one object directly: a form POST (S3) or a PUT (local).

    For ``POST`` send `fields` then the file as the last part of a multipart form; for
    ``PUT`` send the bytes as the body with `headers`.
    """

    url: str
    method: Literal["POST", "PUT"]
    key: str
    expires_at: datetime
    max_bytes: int
    fields: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class Storage(Protocol):
    """Bytes under keys, with public URLs and direct (presigned) uploads."""

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key`, replacing any object already there."""
        ...

    async def get(self, key: str, *, max_bytes: int | None = None) -> bytes:
        """The object's bytes; :class:`ObjectNotFound` if missing, :class:`ObjectTooLarge`
        (without reading it) if it is larger than `max_bytes`."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""
        ...

    async def exists(self, key: str) -> bool: ...

    def url(self, key: str) -> str:
        """The public URL the object is served at."""
        ...

    async def presigned_upload(
        self, key: str, *, content_type: str, max_bytes: int, expires_seconds: int
    ) -> PresignedUpload:
        """Let a client upload one object of `content_type`, at most `max_bytes`, to `key`."""
        ...


# --- local folder -----------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class UploadGrant:
    """What a local upload token allows: one key, one content type, a size limit, a deadline."""

    key: str
    content_type: str
    max_bytes: int
    expires: int  # unix seconds


class InvalidUploadToken(AppError):
    status = 403
    code = "invalid_upload_token"
    title = "Upload link invalid or expired"


class UploadTooLarge(AppError):
    status = 413
    code = "payload_too_large"
    title = "Upload too large"


class UploadContentTypeMismatch(AppError):
    status = 415
    code = "unsupported_media_type"
    title = "Content-Type differs from the one the upload link was made for"


class LocalStorage:
    """Objects as files under `root`; public under `base_url`, uploaded via `upload_url`."""

    def __init__(
        self,
        root: Path,
        base_url: str = "/media",
        *,
        upload_url: str = "/media-uploads",
        signing_key: bytes | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        self.base_url = base_url.rstrip("/")
        self.upload_url = upload_url.rstrip("/")
        # Without a key presigned uploads are off; with one, tokens are HMAC-SHA256 signed.
        self._signing_key = signing_key

    @property
    def mount_path(self) -> str:
        """Where the app serves the files: the path of `base_url` (which may be a CDN's URL
        whose origin is this app)."""
        return urlsplit(self.base_url).path or "/media"

    def path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        # check_key already rules out "..": this also catches a symlink planted in the tree.
        if not path.is_relative_to(self.root):
            raise InvalidKey(f"key {key!r} resolves outside the storage root")
        return path

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, self.path(key), data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a reader never sees half a file, a crash leaves no torn object.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def get(self, key: str, *, max_bytes: int | None = None) -> bytes:
        return await asyncio.to_thread(self._read, self.path(key), max_bytes)

    @staticmethod
    def _read(path: Path, max_bytes: int | None) -> bytes:
        try:
            with path.open("rb") as handle:
                if max_bytes is None:
                    return handle.read()
                data = handle.read(max_bytes + 1)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(path.name) from None
        if len(data) > max_bytes:
            raise ObjectTooLarge(f"object is larger than {max_bytes} bytes")
        return data

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path(key).unlink, missing_ok=True)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path(key).is_file)

    def url(self, key: str) -> str:
        return f"{self.base_url}/{quote(check_key(key))}"

    async def presigned_upload(
        self, key: str, *, content_type: str, max_bytes: int, expires_seconds: int
    ) -> PresignedUpload:
        expires = int(time.time()) + expires_seconds
        token = self.sign_upload(UploadGrant(check_key(key), content_type, max_bytes, expires))
        return PresignedUpload(
            url=f"{self.upload_url}/{token}",
            method="PUT",
            key=key,
            expires_at=datetime.fromtimestamp(expires, UTC),
            max_bytes=max_bytes,
            headers={"Content-Type": content_type},
        )

    def _mac(self, payload: str) -> str:
        if self._signing_key is None:
            raise RuntimeError("local presigned uploads need a signing key")
        return _b64(hmac.new(self._signing_key, payload.encode(), hashlib.sha256).digest())

    def sign_upload(self, grant: UploadGrant) -> str:
        body = json.dumps(
            {"k": grant.key, "t": grant.content_type, "m": grant.max_bytes, "e": grant.expires},
            separators=(",", ":"),
        )
        payload = _b64(body.encode())
        return f"{payload}.{self._mac(payload)}"

    def verify_upload(self, token: str, *, now: float | None = None) -> UploadGrant:
        """The grant a token carries; :class:`InvalidUploadToken` if forged or expired."""
        payload, _, mac = token.partition(".")
        if self._signing_key is None or not hmac.compare_digest(mac, self._mac(payload)):
            raise InvalidUploadToken()
        try:
            raw = json.loads(_unb64(payload))
            grant = UploadGrant(
                key=check_key(str(raw["k"])),
                content_type=str(raw["t"]),
                max_bytes=int(raw["m"]),
                expires=int(raw["e"]),
            )
        except (ValueError, KeyError, TypeError):
            raise InvalidUploadToken() from None
        if grant.expires < (time.time() if now is None else now):
            raise InvalidUploadToken("the upload link has expired")
        return grant


class MediaFiles(StaticFiles):
    """Serves a LocalStorage folder: never `incoming/` (unvalidated uploads) nor `private/`
    (documents read through their own authorized routes), never sniffed."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.get_path(scope).startswith(
            (INCOMING_PREFIX, PRIVATE_PREFIX)
        ):
            raise HTTPException(status_code=404)

        async def send_nosniff(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-content-type-options", b"nosniff"),
                ]
            await send(message)

        await super().__call__(scope, receive, send_nosniff)


def local_upload_router(storage: LocalStorage) -> APIRouter:
    """`PUT /media-uploads/{token}`: the local backend's stand-in for a presigned S3 upload."""
    router = APIRouter(tags=["media"])

    @router.put(
        f"{storage.upload_url}/{{token}}",
        status_code=204,
        summary="Upload a file to a presigned local upload link",
        include_in_schema=False,
    )
    async def upload(
        request: Request,
        token: str = PathParam(max_length=2000),
    ) -> Response:
        grant = storage.verify_upload(token)
        declared = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if declared != grant.content_type:
            raise UploadContentTypeMismatch()
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > grant.max_bytes):
            raise UploadTooLarge(f"at most {grant.max_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            # Checked while streaming: a body without Content-Length cannot exceed it either.
            if size > grant.max_bytes:
                raise UploadTooLarge(f"at most {grant.max_bytes} bytes")
            chunks.append(chunk)
        if size == 0:
            raise BadRequest("the body is empty", code="empty_upload")
        await storage.put(grant.key, b"".join(chunks), grant.content_type)
        return Response(status_code=204)

    return router


# --- S3-compatible ----------------------------------------------------------------------


class S3Storage:
    """Objects in one bucket of an S3-compatible service, via boto3 on worker threads.

    boto3 clients are thread-safe, so one client serves every `asyncio.to_thread` call. With
    an `endpoint_url` (MinIO, GCS interop, moto) addressing is path-style, which every
    S3-compatible server understands; against AWS the SDK's default applies.
    """

    def __init__(
        self,
        bucket: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        public_base_url: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.region = region
        self.endpoint_url = endpoint_url
        self._access_key = access_key
        self._secret_key = secret_key
        self.public_base_url = (public_base_url or self._default_base_url()).rstrip("/")
        self._client: Any = None
        self._lock = threading.Lock()

    def _default_base_url(self) -> str:
        if self.endpoint_url:
            return f"{self.endpoint_url.rstrip('/')}/{self.bucket}"
        region = self.region or "us-east-1"
        return f"https://{self.bucket}.s3.{region}.amazonaws.com"

    @property
    def client(self) -> Any:
        # Built on first use: building one costs tens of milliseconds and no request needs
        # it before then.
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                self._client = boto3.session.Session().client(
                    "s3",
                    region_name=self.region,
                    endpoint_url=self.endpoint_url,
                    aws_access_key_id=self._access_key,
                    aws_secret_access_key=self._secret_key,
                    config=Config(
                        signature_version="s3v4",
                        s3={"addressing_style": "path" if self.endpoint_url else "auto"},
                        retries={"max_attempts": 3, "mode": "standard"},
                    ),
                )
            return self._client

    @staticmethod
    def _is_missing(error: Exception) -> bool:
        response = getattr(error, "response", None)
        if not isinstance(response, dict):
            return False
        code = str(response.get("Error", {}).get("Code", ""))
        return code in {"404", "NoSuchKey", "NotFound"}

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(
            self.client.put_object,
            Bucket=self.bucket,
            Key=check_key(key),
            Body=data,
            ContentType=content_type,
        )

    async def get(self, key: str, *, max_bytes: int | None = None) -> bytes:
        return await asyncio.to_thread(self._get, check_key(key), max_bytes)

    def _get(self, key: str, max_bytes: int | None) -> bytes:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if self._is_missing(error):
                raise ObjectNotFound(key) from None
            raise
        body = response["Body"]
        try:
            if max_bytes is not None and int(response.get("ContentLength", 0)) > max_bytes:
                raise ObjectTooLarge(f"object is larger than {max_bytes} bytes")
            data: bytes = body.read() if max_bytes is None else body.read(max_bytes + 1)
        finally:
            body.close()
        if max_bytes is not None and len(data) > max_bytes:
            raise ObjectTooLarge(f"object is larger than {max_bytes} bytes")
        return data

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=check_key(key))

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._exists, check_key(key))

    def _exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if self._is_missing(error):
                return False
            raise
        return True

    def url(self, key: str) -> str:
        return f"{self.public_base_url}/{quote(check_key(key))}"

    async def presigned_upload(
        self, key: str, *, content_type: str, max_bytes: int, expires_seconds: int
    ) -> PresignedUpload:
        check_key(key)
        expires_at = datetime.fromtimestamp(int(time.time()) + expires_seconds, UTC)
        post = await asyncio.to_thread(
            self.client.generate_presigned_post,
            Bucket=self.bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[
                {"Content-Type": content_type},
                ["content-length-range", 1, max_bytes],
            ],
            ExpiresIn=expires_seconds,
        )
        return PresignedUpload(
            url=str(post["url"]),
            method="POST",
            key=key,
            expires_at=expires_at,
            max_bytes=max_bytes,
            fields={str(k): str(v) for k, v in post["fields"].items()},
        )


def build_storage(
    backend: Literal["local", "s3"],
    *,
    local_root: Path,
    media_url: str = "/media",
    upload_url: str = "/media-uploads",
    signing_key: bytes | None = None,
    s3_bucket: str | None = None,
    s3_region: str | None = None,
    s3_endpoint_url: str | None = None,
    s3_access_key_id: str | None = None,
    s3_secret_access_key: str | None = None,
    s3_public_base_url: str | None = None,
) -> Storage:
    """The configured backend (the composition root passes the settings in)."""
    if backend == "local":
        return LocalStorage(local_root, media_url, upload_url=upload_url, signing_key=signing_key)
    if not s3_bucket:
        raise ValueError("the s3 storage backend needs a bucket (MARKETPLACE_S3_BUCKET)")
    return S3Storage(
        s3_bucket,
        region=s3_region,
        endpoint_url=s3_endpoint_url,
        access_key=s3_access_key_id,
        secret_key=s3_secret_access_key,
        public_base_url=s3_public_base_url,
    )
