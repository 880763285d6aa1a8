"""The FastAPI application: REST routes, `/v2/realtime`, `/health`, `/metrics` and the dashboard.

`create_app(settings, runtime)` builds everything from what it is given (no globals), so a test, a
replica or `onchain demo` each get their own hub, counters and bus feed. The bus feed starts with
the app's lifespan; run the app under uvicorn with `uvicorn_config()` to get the fast WebSocket path.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, MutableMapping
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from onchain import __version__
from onchain.accounts.install import install_accounts
from onchain.alerts.store import AlertStore
from onchain.api.deps import EndpointReporter, Runtime
from onchain.api.errors import JSONBytesResponse, StorageFailureMiddleware, install_error_handlers
from onchain.api.routes import ROUTERS
from onchain.api.telemetry import Telemetry
from onchain.api.ws import RealtimeLimits
from onchain.api.ws import router as realtime_router
from onchain.api.ws_feed import Feed
from onchain.api.ws_hub import Hub
from onchain.api.ws_sinks import RawSendMiddleware
from onchain.chains.registry import ChainRegistry
from onchain.config import Settings

if TYPE_CHECKING:
    import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STATIC_DIR = Path(str(resources.files("onchain.api").joinpath("static")))

# The dashboard loads only its own files and talks only to this origin (REST and /v2/realtime).
DASHBOARD_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
    ),
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}
COMMON_HEADERS = {"x-content-type-options": "nosniff"}
_API_HEADERS = [(k.encode(), v.encode()) for k, v in COMMON_HEADERS.items()]
_DASHBOARD_HEADERS = [*_API_HEADERS, *((k.encode(), v.encode()) for k, v in DASHBOARD_HEADERS.items())]


def relative_locations(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Redirects (the router's trailing-slash ones) as paths on this server: an absolute Location would
    be built from the request's Host header, which the caller chooses. Leading slashes collapse to one,
    so a path like `//evil.example/` cannot become a scheme-relative URL to another host."""
    out = []
    for name, value in headers:
        if name.lower() == b"location":
            parts = urlsplit(value.decode("latin-1"))
            path = "/" + parts.path.lstrip("/")
            value = urlunsplit(("", "", path, parts.query, parts.fragment)).encode("latin-1")
        out.append((name, value))
    return out


class HttpEdgeMiddleware:
    """Times every REST response by route template and adds security headers (strict ones on the dashboard)."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        encoded = _DASHBOARD_HEADERS if path == "/" or path.startswith("/static/") else _API_HEADERS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                if 300 <= message["status"] < 400:
                    headers = relative_locations(headers)
                message["headers"] = [*headers, *encoded]
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.telemetry.response_time.labels(scope["method"], template).observe(time.perf_counter() - start)


def create_app(
    settings: Settings,
    runtime: Runtime,
    *,
    market: Any = None,
    rpc_clients: Mapping[str, EndpointReporter] | None = None,
    hub: Hub | None = None,
    limits: RealtimeLimits | None = None,
    chains: ChainRegistry | None = None,
) -> FastAPI:
    """The whole HTTP/WebSocket surface over `runtime` (store and bus).

    `market` is the pricing/metrics service the market routes read (`app.state.market`);
    `rpc_clients` (chain name -> JSON-RPC client) feed /health's external_apis.
    """
    hub = hub or Hub()
    telemetry = Telemetry(hub)
    feed = Feed(runtime.bus, hub)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await feed.start()
        try:
            yield
        finally:
            await feed.stop()

    app = FastAPI(
        title="onchain-services",
        version=__version__,
        description="Real-time on-chain DeFi data: prices, TVL, volumes, chains; live over /v2/realtime.",
        default_response_class=JSONBytesResponse,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.runtime = runtime
    app.state.market = market
    app.state.rpc_clients = dict(rpc_clients or {})
    app.state.hub = hub
    app.state.feed = feed
    app.state.telemetry = telemetry
    app.state.realtime_limits = limits or RealtimeLimits()
    app.state.chains = chains or ChainRegistry.load(settings)
    app.state.started_at = time.time()

    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(realtime_router)

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # auth, tiers, rate limits, size limits (inside CORS); the alert quota and erase reach the alert store
    install_accounts(app, settings, runtime, AlertStore(runtime.store.engine))
    app.add_middleware(StorageFailureMiddleware)  # a database gone during authentication: 503, not 500
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
            max_age=600,
        )
    app.add_middleware(HttpEdgeMiddleware, telemetry=telemetry)
    app.add_middleware(RawSendMiddleware)
    return app


def uvicorn_config(app: FastAPI, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> uvicorn.Config:
    """How to serve the app: no WebSocket compression, so every client can share one frame's bytes.

    uvicorn is imported here, by the processes that serve, not by everything that imports the app.
    """
    import uvicorn

    defaults: dict[str, Any] = {
        "ws_per_message_deflate": False,
        "ws_max_size": 1 << 20,
        "log_level": "warning",
        "access_log": False,
        "lifespan": "on",
        # Client addresses come from the TCP peer; X-Forwarded-For only via ONCHAIN_TRUSTED_PROXIES (accounts).
        "proxy_headers": False,
    }
    return uvicorn.Config(app, host=host, port=port, **(defaults | options))
