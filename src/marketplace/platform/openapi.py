"""OpenAPI document finishing: problem+json error responses and the Idempotency-Key header.

FastAPI documents request validation with its own schema; our errors are RFC 9457 problems,
so every operation's error responses are rewritten to the `Problem` schema here, once.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from marketplace.platform.errors import PROBLEM_JSON, Problem

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_METHODS = {"get", "post", "put", "patch", "delete"}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": _PROBLEM_REF}}}


def install_openapi(app: FastAPI) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = Problem.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        for name, definition in components["Problem"].pop("$defs", {}).items():
            components.setdefault(name, definition)
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        for operations in schema.get("paths", {}).values():
            for method, operation in operations.items():
                if method not in _METHODS:
                    continue
                responses = operation.setdefault("responses", {})
                for status, response in list(responses.items()):
                    if status.startswith(("4", "5")) and "content" not in response:
                        responses[status] = _problem(response.get("description", "Error"))
                if "422" in responses:
                    responses["422"] = _problem("Validation failed (errors name each field)")
                responses.setdefault("default", _problem("Error (RFC 9457 problem details)"))
                if method == "post":
                    params = operation.setdefault("parameters", [])
                    if not any(p.get("name") == "Idempotency-Key" for p in params):
                        params.append(
                            {
                                "name": "Idempotency-Key",
                                "in": "header",
                                "required": False,
                                "description": "Retries with the same key and body replay the "
                                "first response instead of repeating the operation (24 h)",
                                "schema": {"type": "string", "maxLength": 255},
                            }
                        )
        app.openapi_schema = schema
        return schema

    app.openapi = build  # type: ignore[method-assign]
