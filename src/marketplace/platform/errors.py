"""Application errors and their RFC 9457 problem+json rendering.

Every error path answers `application/problem+json` with `type`, `title`, `status`,
`detail` and a machine-readable `code`: our own `AppError`s, the framework's 404/405,
request validation (422 with `errors: [{loc, msg, code}]`) and unexpected crashes (500,
logged with the request id, no internals leaked). Contexts subclass `AppError` in their own
`errors.py` with their codes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    code: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every error response carries them."""

    type: str = Field(examples=["/problems/not_found"])
    title: str
    status: int
    detail: str | None = None
    code: str
    errors: list[FieldError] | None = None


class AppError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"
    # A refusal that is itself a decision to record (revoking a leaked token family) keeps
    # the request's changes; every other error rolls them back.
    keeps_changes: ClassVar[bool] = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        title: str | None = None,
        errors: Sequence[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or title or self.title)
        self.detail = detail
        self.instance_code = code or self.code
        self.instance_status = status or self.status
        self.instance_title = title or self.title
        self.errors = list(errors) if errors else None
        self.headers = headers or {}
        self.extra = extra or {}

    def to_problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"/problems/{self.instance_code}",
            "title": self.instance_title,
            "status": self.instance_status,
            "detail": self.detail,
            "code": self.instance_code,
        }
        if self.errors:
            body["errors"] = [e.model_dump() for e in self.errors]
        # Extra members never replace the RFC 9457 ones: a client reads `status` as the
        # HTTP status whatever the error adds.
        body.update({k: v for k, v in self.extra.items() if k not in _PROBLEM_MEMBERS})
        return body


_PROBLEM_MEMBERS = frozenset({"type", "title", "status", "detail", "code", "errors"})


class BadRequest(AppError):
    pass


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"
    title = "Authentication required"


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    title = "Permission denied"


class NotFound(AppError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(AppError):
    status = 409
    code = "conflict"
    title = "Conflict"


class ValidationFailed(AppError):
    """A business-rule validation failure on named fields (422, like schema validation)."""

    status = 422
    code = "validation_error"
    title = "Validation failed"

    @classmethod
    def on_field(
        cls, loc: Sequence[str | int], msg: str, code: str = "invalid"
    ) -> ValidationFailed:
        return cls(msg, errors=[FieldError(loc=list(loc), msg=msg, code=code)])


class RateLimited(AppError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, retry_after_seconds: int, detail: str | None = None) -> None:
        super().__init__(
            detail or f"retry after {retry_after_seconds} seconds",
            headers={"Retry-After": str(max(1, retry_after_seconds))},
        )


def problem_response(
    status: int,
    code: str,
    *,
    title: str | None = None,
    detail: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


def _mark_failed(request: Request) -> None:
    # The request's unit of work must not commit what a failed handler half-did.
    uow = request.scope.get("state", {}).get("uow")
    if uow is not None:
        uow.mark_rollback_only()


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for error in exc.errors():
        loc = [part for part in error.get("loc", ()) if isinstance(part, str | int)]
        errors.append(
            {
                "loc": loc,
                "msg": str(error.get("msg", "")),
                "code": str(error.get("type", "invalid")),
            }
        )
    return errors


def install_problem_handlers(app: FastAPI) -> None:
    async def app_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)
        if not exc.keeps_changes:
            _mark_failed(request)
        return JSONResponse(
            exc.to_problem(),
            status_code=exc.instance_status,
            headers=exc.headers or None,
            media_type=PROBLEM_JSON,
        )

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        _mark_failed(request)
        detail = exc.detail if isinstance(exc.detail, str) else None
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no resource at {request.url.path}"
        return problem_response(
            exc.status_code,
            _STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}"),
            detail=detail,
            headers=dict(exc.headers) if exc.headers else None,
        )

    async def request_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        _mark_failed(request)
        errors = validation_errors(exc)
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in errors[:5])
        return problem_response(
            422,
            "validation_error",
            title="Validation failed",
            detail=f"invalid fields: {fields}" if fields else "invalid request",
            errors=errors,
        )

    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        _mark_failed(request)
        logger.error("unhandled error", exc_info=exc)
        request_id = request.scope.get("state", {}).get("request_id")
        return problem_response(
            500,
            "internal_error",
            title="Internal server error",
            detail=f"request {request_id} failed; it has been logged" if request_id else None,
        )

    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, request_validation_error)
    app.add_exception_handler(Exception, unexpected_error)
