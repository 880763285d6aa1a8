"""Every error the API answers, rendered in one place as `{"error": {"code", "message"}}`.

Client mistakes (bad parameters, unknown ids, unknown routes) are 4xx with a stable `code`; our own
failures are 5xx and never leak internals. Routes raise `ApiError` (or let an `OnchainError` through)
and never build error responses themselves. A database that is not answering is one answer wherever it
shows (a `StorageError`, a driver error some reader let through, or either raised by a middleware such as
authentication): 503 `storage_unavailable`, logged as one line without the SQL.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onchain.codec import dumps
from onchain.errors import ConfigError, OnchainError, RpcError, StorageError, UnknownChainError
from onchain.outage import one_line
from onchain.storage.database import DATABASE_FAILURES

STORAGE_FAILURES = (StorageError, *DATABASE_FAILURES)

log = logging.getLogger(__name__)


class JSONBytesResponse(JSONResponse):
    """JSON rendered by orjson: the API's default response class (fast, and numbers stay numbers).
    Integers beyond 64 bits (wei amounts, MEV profits) keep every digit, as `/v2/analytics/mev` writes
    them (`onchain.codec.dumps`). A JSONResponse, so OpenAPI documents each route's response
    model rather than a string."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content, orjson.OPT_NON_STR_KEYS)


class ApiError(OnchainError):
    """An answer that is not a success: HTTP status, a machine-readable code and a human message. Routes
    raise it already decided, so it sits under no branch: its own handler renders it as it is."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    @classmethod
    def not_found(cls, message: str, code: str = "not_found") -> ApiError:
        return cls(404, code, message)

    @classmethod
    def bad_request(cls, message: str, code: str = "invalid_parameter") -> ApiError:
        return cls(400, code, message)

    @classmethod
    def rate_limited(cls, retry_after_seconds: int) -> ApiError:
        return cls(
            429, "rate_limited", "too many requests; retry later", {"Retry-After": str(max(1, retry_after_seconds))}
        )


# How much of a caller's input an error message repeats, and how long a message may get in all: a
# 60 KB parameter must not come back whole (nor be copied into every log line that quotes the answer).
ECHO_CHARS = 80
MAX_MESSAGE_CHARS = 1000


def echo(value: object) -> str:
    """`repr(value)` for an error message, cut to ECHO_CHARS characters of the input, saying how long it was."""
    if isinstance(value, str) and len(value) > ECHO_CHARS:
        return f"{value[:ECHO_CHARS]!r}... ({len(value)} characters)"
    return repr(value)


def _bounded(message: str) -> str:
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return f"{message[:MAX_MESSAGE_CHARS]}... ({len(message)} characters)"


def error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> JSONBytesResponse:
    body = {"error": {"code": code, "message": _bounded(message)}}
    return JSONBytesResponse(body, status_code=status, headers=headers)


def _status_code_name(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return f"http_{status}"


def _validation_message(errors: list[Any]) -> str:
    parts = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{where or 'request'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


async def _api_error(_request: Request, exc: Exception) -> JSONBytesResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONBytesResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, "invalid_request", _validation_message(list(exc.errors())))


async def _http_error(_request: Request, exc: Exception) -> JSONBytesResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else _status_code_name(exc.status_code)
    if exc.status_code == 404 and message == "Not Found":
        message = "no such endpoint; see /docs"
    return error_response(exc.status_code, _status_code_name(exc.status_code), message, exc.headers)


async def _onchain_error(request: Request, exc: Exception) -> JSONBytesResponse:
    assert isinstance(exc, OnchainError)
    if isinstance(exc, UnknownChainError):
        return error_response(404, "unknown_chain", str(exc))
    if isinstance(exc, StorageError):
        return _storage_unavailable(request.url.path, exc)
    if isinstance(exc, RpcError):
        log.warning("upstream error on %s: %s", request.url.path, exc)
        return error_response(502, "upstream_error", "a chain node did not answer properly")
    if isinstance(exc, ConfigError):
        log.error("configuration error on %s: %s", request.url.path, exc)
        return error_response(500, "configuration_error", "the server is misconfigured")
    log.exception("unhandled platform error on %s", request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal server error")


def _storage_unavailable(path: str, exc: BaseException) -> JSONBytesResponse:
    log.warning("storage error on %s: %s", path, one_line(exc))
    return error_response(503, "storage_unavailable", "the database is not answering; retry later")


async def _database_failure(request: Request, exc: Exception) -> JSONBytesResponse:
    return _storage_unavailable(request.url.path, exc)


class StorageFailureMiddleware:
    """Answers 503 `storage_unavailable` for a database failure raised by the middleware inside it
    (authentication reads keys from the database) before any response began; the route handlers
    above cover the routes. Without it Starlette answers 500 and drops the connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except STORAGE_FAILURES as exc:
            if started:
                raise
            response = _storage_unavailable(scope["path"], exc)
            if scope["type"] == "http":
                await response(scope, receive, send)
            elif "websocket.http.response" in scope.get("extensions", {}):
                await send({"type": "websocket.http.response.start", "status": response.status_code,
                            "headers": response.raw_headers})
                await send({"type": "websocket.http.response.body", "body": response.body})
            else:
                await send({"type": "websocket.close", "code": 1011, "reason": "storage_unavailable"})


async def _unexpected(request: Request, exc: Exception) -> JSONBytesResponse:
    log.exception("unhandled error on %s", request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OnchainError, _onchain_error)
    for failure in DATABASE_FAILURES:
        app.add_exception_handler(failure, _database_failure)
    app.add_exception_handler(Exception, _unexpected)
