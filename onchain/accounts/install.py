"""Wiring accounts into the app: one call from `create_app` installs the middleware, the service's
lifespan and the OpenAPI description of what the middleware may answer on any `/v2` operation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

from fastapi import FastAPI, Request, Response

from onchain.accounts.middleware import PROTECTED_PREFIX, AccountsMiddleware, error_body
from onchain.accounts.service import AccountsService, AuthError, UserAlerts
from onchain.bus.base import Bus
from onchain.config import Settings
from onchain.storage.store import Store

ERROR_SCHEMA_NAME = "Error"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}
_RATE_HEADERS = {
    name: {"description": text, "schema": {"type": "integer"}}
    for name, text in (
        ("X-RateLimit-Limit", "requests per minute of the caller's tier (also the burst)"),
        ("X-RateLimit-Remaining", "requests left in the bucket now"),
        ("X-RateLimit-Reset", "seconds until the bucket is full again"),
    )
}
# What the middleware (and the shared error handlers) may answer on any /v2 operation.
_COMMON_ERRORS = {
    "400": "invalid parameter",
    "401": "missing, invalid, revoked or expired credentials, or a feature that needs a key",
    "403": "key used from an address outside its allowlist, or a feature or limit beyond the tier",
    "404": "no such resource (or not the caller's)",
    "413": "request body too large",
    "422": "invalid request",
    "429": "rate limit exceeded; see Retry-After",
    "503": "a backing service is not answering",
}


class _Runtime(Protocol):
    @property
    def store(self) -> Store: ...

    @property
    def bus(self) -> Bus: ...


def install_accounts(app: FastAPI, settings: Settings, runtime: _Runtime, alerts: UserAlerts) -> AccountsService:
    """Add authentication, tiers and limits to `app`; the service lives on `app.state.accounts`.
    `alerts` (the alert store) is what the tier quota counts and an erase removes."""
    service = AccountsService(settings, runtime.store.engine, runtime.bus, alerts=alerts)
    app.state.accounts = service
    app.add_middleware(AccountsMiddleware, service=service)
    app.add_exception_handler(AuthError, _auth_error)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        await service.start()
        try:
            async with inner(application) as state:
                yield state
        finally:
            await service.stop()

    app.router.lifespan_context = lifespan
    _document(app)
    return service


async def _auth_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthError)
    body = error_body(exc.code, exc.message)
    return Response(body, status_code=exc.status, headers=exc.headers, media_type="application/json")


def _document(app: FastAPI) -> None:
    """Extend the generated OpenAPI: both security schemes on every /v2 operation (optional where the
    operation is public), the error shape for every status the middleware and handlers answer, and the
    rate limit headers on successes."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {})
        components.setdefault("schemas", {})[ERROR_SCHEMA_NAME] = ERROR_SCHEMA
        schemes = components.setdefault("securitySchemes", {})
        schemes.setdefault("ApiKey", {"type": "apiKey", "in": "header", "name": "X-API-Key"})
        schemes.setdefault("Bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
        error_content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}}}
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith(PROTECTED_PREFIX):
                continue
            for operation in operations.values():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue
                operation.setdefault("security", [{"ApiKey": []}, {"Bearer": []}, {}])
                responses = operation["responses"]
                for status, description in _COMMON_ERRORS.items():
                    responses[status] = {"description": description, "content": error_content}
                for status, response in responses.items():
                    if status.startswith("2"):
                        response.setdefault("headers", {}).update(_RATE_HEADERS)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
