"""REST edges of the app in-process (ASGI) over real storage: errors, /health, /metrics, /openapi.json,
/v2/chains with recorded mainnet blocks, dashboard security headers, CORS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from onchain.api import create_app
from onchain.bus import MemoryBus
from onchain.config import Settings
from onchain.ingest.pipeline import Pipeline
from onchain.metrics.service import MarketService
from onchain.protocols.registry import Decoder
from onchain.sources.replay import ReplaySource
from onchain.storage.store import Store
from tests.integration.api.conftest import LocalRuntime

ETL = "ethereum-etl-17173049"


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
async def replayed(runtime: LocalRuntime, chaindata: Path) -> LocalRuntime:
    """Two recorded mainnet blocks pushed through the real pipeline into the store."""
    source = ReplaySource(chaindata / ETL)
    try:
        await Pipeline("ethereum", source, Decoder("ethereum"), runtime.store, runtime.bus, allow_gaps=True).run(
            17173049, 17173050
        )
    finally:
        await source.close()
    return runtime


@pytest.fixture
async def api(replayed: LocalRuntime, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    market = MarketService(replayed.store)
    await market.rebuild()
    app = create_app(settings, replayed, market=market)
    async with app.router.lifespan_context(app), client_for(app) as client:
        yield client


async def test_health_reports_each_service_and_the_stored_head(api: httpx.AsyncClient) -> None:
    response = await api.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert {"database", "cache", "websocket", "external_apis"} <= body["services"].keys()
    assert body["services"]["database"] == "healthy" and body["services"]["websocket"] == "healthy"
    head = body["chains"]["ethereum"]
    assert head["head"] == 17173050 and head["timestamp"] == 1683030011 and head["live"] is False
    assert head["lagSeconds"] > 0
    assert body["timestamp"].endswith("Z")


async def test_health_is_503_when_the_database_is_down(settings: Settings) -> None:
    store = await Store.open("postgresql+asyncpg://nobody@127.0.0.1:1/none", migrate_schema=False)
    bus = MemoryBus()
    app = create_app(settings, LocalRuntime(store, bus))
    try:
        async with app.router.lifespan_context(app), client_for(app) as client:
            response = await client.get("/health")
            assert response.status_code == 503
            assert response.json()["status"] == "unhealthy"
            assert response.json()["services"]["database"] == "unhealthy"
            chains = await client.get("/v2/chains")
            assert chains.status_code == 503
            assert chains.json() == {"error": {"code": "storage_unavailable",
                                               "message": "the database is not answering; retry later"}}
    finally:
        await bus.close()
        await store.close()


async def test_chains_list_the_registry_with_stored_heads(api: httpx.AsyncClient) -> None:
    chains = (await api.get("/v2/chains")).json()["chains"]
    assert len(chains) >= 100
    ethereum = next(c for c in chains if c["slug"] == "ethereum")
    assert ethereum["chainId"] == 1 and ethereum["nativeCurrency"]["symbol"] == "ETH"
    assert ethereum["head"] == {
        "number": 17173050,
        "hash": "0x5699ffb9477f70ec736463b144614356eb051936da75fcccec73d648f2e91de4",
        "timestamp": 1683030011,
    }
    assert next(c for c in chains if c["slug"] == "polygon")["head"] is None


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/v2/nothing-here", 404, "not_found"),
        ("POST", "/health", 405, "method_not_allowed"),
        ("GET", "/v2/pools/not-a-pool", 422, "invalid_pool_id"),
        ("GET", "/v2/protocols/uniswap-v2/metrics?metric=nope", 422, "invalid_request"),
        ("GET", "/v2/protocols/no-such-protocol", 404, "protocol_not_found"),
    ],
)
async def test_client_mistakes_are_json_4xx(api: httpx.AsyncClient, method: str, path: str, status: int,
                                            code: str) -> None:
    response = await api.request(method, path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code and isinstance(error["message"], str) and error["message"]


async def test_metrics_expose_the_named_series(api: httpx.AsyncClient) -> None:
    await api.get("/v2/realtime/prices")
    text = (await api.get("/metrics")).text
    for name in (
        "onchain_websocket_active_connections",
        'onchain_api_response_time_seconds_count{method="GET",route="/v2/realtime/prices"} 1.0',
        'onchain_database_query_time_seconds_count{operation="heads"}',
        "onchain_cache_hit_ratio",
        'onchain_ingest_head_block{chain="ethereum"} 1.717305e+07',
        'onchain_ingest_lag_seconds{chain="ethereum"}',
        "onchain_websocket_messages_delivered_total",
    ):
        assert name in text, name


async def test_openapi_lists_every_endpoint(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    for path in ("/health", "/metrics", "/v2/chains", "/v2/realtime/prices", "/v2/pools/{pool_id}"):
        assert path in spec["paths"], path
    docs = await api.get("/docs")
    assert docs.status_code == 200 and "openapi.json" in docs.text


async def test_dashboard_is_served_with_security_headers(api: httpx.AsyncClient) -> None:
    page = await api.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
    script = await api.get("/static/vendor/uPlot.iife.min.js")
    assert script.status_code == 200 and "content-security-policy" in script.headers
    assert "content-security-policy" not in (await api.get("/health")).headers


async def test_cors_is_off_unless_configured(replayed: LocalRuntime, tmp_path: Path) -> None:
    origin = "https://dashboard.example"
    closed = create_app(Settings(data_dir=tmp_path), replayed)
    opened = create_app(Settings(data_dir=tmp_path, cors_origins=[origin]), replayed)
    async with client_for(closed) as client:
        assert "access-control-allow-origin" not in (await client.get("/health", headers={"Origin": origin})).headers
    async with client_for(opened) as client:
        response = await client.get("/health", headers={"Origin": origin})
        assert response.headers["access-control-allow-origin"] == origin
