"""The ASGI layer that applies accounts to every request: who is calling, may they, how often.

For HTTP under `/v2`: request body size limit (413), credentials (`X-API-Key` or `Authorization:
Bearer`; none means the anonymous free tier; an address with too many failed ones gets 429), feature
gates by path (401/403), the token bucket (429 with `Retry-After`), and `X-RateLimit-*` on every answer.
For `/v2` WebSockets: the same credentials (or `?api_key=`), the tier's concurrent connection limit
(refused with a 429 HTTP answer before the upgrade), a client frame size limit (close 1009), and
closing when the user is erased or the connection's key revoked (close 1008).
`/health`, `/metrics`, the docs and the dashboard are outside: monitoring must not spend a budget.
The principal and the rate decision are left in the ASGI scope for routes (see `deps.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import orjson

from onchain.accounts.service import CHALLENGE, AccountsService, AuthError, Principal
from onchain.accounts.tiers import feature_for_path, lowest_tier_with

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PRINCIPAL_SCOPE_KEY = "onchain.principal"
DECISION_SCOPE_KEY = "onchain.rate"
PROTECTED_PREFIX = "/v2"
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009


def principal_of(scope: Scope) -> Principal | None:
    """The caller the middleware resolved for this request or WebSocket (None outside `/v2`)."""
    principal: Principal | None = scope.get(PRINCIPAL_SCOPE_KEY)
    return principal


def error_body(code: str, message: str) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message}})


def _headers(scope: Scope) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in scope.get("headers", ()):
        out.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
    return out


def _credentials(headers: dict[str, list[str]], query: bytes, websocket: bool) -> tuple[str | None, str | None]:
    api_key = headers.get("x-api-key", [None])[0]
    bearer = None
    authorization = headers.get("authorization", [None])[0]
    if authorization is not None:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            bearer = value.strip()
    if api_key is None and websocket and query:
        api_key = parse_qs(query.decode("latin-1")).get("api_key", [None])[0]
    return api_key, bearer


class AccountsMiddleware:
    def __init__(self, app: ASGIApp, service: AccountsService) -> None:
        self.app = app
        self.service = service
        self.max_body = service.settings.max_request_bytes
        self.max_frame = service.settings.ws_max_frame_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if kind == "http":
            await self._http(scope, receive, send)
        elif scope["path"].startswith(PROTECTED_PREFIX):
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _principal(self, scope: Scope, headers: dict[str, list[str]]) -> Principal:
        client = scope.get("client")
        peer = client[0] if client else None
        address = self.service.client_address(peer, headers.get("x-forwarded-for", []))
        api_key, bearer = _credentials(headers, scope.get("query_string", b""), scope["type"] == "websocket")
        return await self.service.authenticate(api_key, bearer, address)

    # ---- HTTP ---------------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        length = headers.get("content-length", [None])[0]
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _respond(send, 413, "request_too_large", f"request bodies are limited to {self.max_body} bytes")
            return
        if length is None and "transfer-encoding" in headers:
            body = await _read_bounded(receive, self.max_body)
            if body is None:
                await _respond(send, 413, "request_too_large", f"request bodies are limited to {self.max_body} bytes")
                return
            receive = _replay(body, receive)
        if not scope["path"].startswith(PROTECTED_PREFIX):
            await self.app(scope, receive, send)
            return
        try:
            principal = await self._principal(scope, headers)
        except AuthError as exc:
            await _respond(send, exc.status, exc.code, exc.message, _encoded(exc.headers))
            return
        scope[PRINCIPAL_SCOPE_KEY] = principal
        feature = feature_for_path(scope["path"])
        if feature is not None and not principal.tier.allows(feature):
            needed = lowest_tier_with(self.service.tiers, feature) or "a higher"
            if principal.authenticated:
                await _respond(send, 403, "feature_not_in_tier", f"{feature} needs the {needed} tier or above")
            else:
                message = f"{feature} needs an API key of the {needed} tier or above"
                await _respond(send, 401, "unauthorized", message, _encoded({"WWW-Authenticate": CHALLENGE}))
            return
        decision = await self.service.hit(principal)
        scope[DECISION_SCOPE_KEY] = decision
        extra = [(k.lower().encode(), v.encode()) for k, v in decision.headers().items()]
        if not decision.allowed:
            await _respond(send, 429, "rate_limited", "too many requests; retry later", extra)
            return

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_limits)

    # ---- WebSocket ----------------------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        connect = await receive()
        if connect["type"] != "websocket.connect":
            return
        try:
            principal = await self._principal(scope, _headers(scope))
        except AuthError as exc:
            await _deny(scope, send, exc.status, exc.code, exc.message, _encoded(exc.headers))
            return
        scope[PRINCIPAL_SCOPE_KEY] = principal
        closing: list[asyncio.Task[None]] = []

        def close(reason: str) -> None:
            # The server answers a close by ending the app's pending receive with a disconnect.
            if not closing:
                closing.append(asyncio.create_task(_close(send, CLOSE_POLICY, reason)))

        connection_id = await self.service.open_connection(principal, close)
        if connection_id is None:
            limit = self.service.connection_limit(principal)
            who = f"the {principal.tier.name} tier" if principal.authenticated else "an anonymous address"
            message = f"{who} may hold {limit} concurrent WebSocket connections"
            await _deny(scope, send, 429, "too_many_connections", message)
            return
        try:
            await self.app(scope, self._guarded(connect, receive, send), send)
        finally:
            await self.service.close_connection(principal, connection_id)
            for task in closing:
                await task

    def _guarded(self, connect: Message, receive: Receive, send: Send) -> Receive:
        """The app's `receive`: replays the connect message and closes on a frame over the size limit."""
        pending: list[Message] = [connect]
        max_frame = self.max_frame

        async def guarded() -> Message:
            if pending:
                return pending.pop()
            message = await receive()
            if message["type"] == "websocket.receive":
                data = message.get("text") or message.get("bytes") or b""
                if len(data) > max_frame:
                    await _close(send, CLOSE_TOO_BIG, "frame too large")
                    return {"type": "websocket.disconnect", "code": CLOSE_TOO_BIG}
            return message

        return guarded


async def _close(send: Send, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):  # the client may be gone, or the app closed first
        await send({"type": "websocket.close", "code": code, "reason": reason})


def _encoded(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode(), value.encode()) for name, value in headers.items()]


async def _respond(
    send: Send, status: int, code: str, message: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = error_body(code, message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _deny(
    scope: Scope, send: Send, status: int, code: str, message: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Refuse a WebSocket before the upgrade: an HTTP answer where the server supports it, else a close."""
    if "websocket.http.response" in scope.get("extensions", {}):
        body = error_body(code, message)
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *(headers or []),
                ],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": CLOSE_POLICY, "reason": code})


async def _read_bounded(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None once it exceeds `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
