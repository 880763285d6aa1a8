"""`onchain.client` against a real uvicorn server: REST calls, error mapping, a stream that resumes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from onchain.api import create_app
from onchain.client import ApiRequestError, OnchainClient, Update
from onchain.config import Settings
from onchain.metrics.service import MarketService
from tests.integration.api.conftest import LocalRuntime, serving

WETH = "ethereum:0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"


@pytest.fixture
async def served(runtime: LocalRuntime, settings: Settings) -> AsyncIterator[tuple[LocalRuntime, Any, str]]:
    market = MarketService(runtime.store, runtime.bus)
    await market.start()
    app = create_app(settings, runtime, market=market)
    try:
        async with serving(app) as address:
            yield runtime, app, f"http://{address}"
    finally:
        await market.stop()


async def test_rest_calls_and_errors(served: Any) -> None:
    _runtime, _app, url = served
    async with OnchainClient(url) as client:
        assert (await client.health())["status"] == "healthy"
        chains = await client.chains()
        assert any(c["slug"] == "ethereum" and c["chainId"] == 1 for c in chains)
        assert "onchain_websocket_active_connections" in await client.metrics()
        assert await client.prices([WETH]) == {}
        with pytest.raises(ApiRequestError) as caught:
            await client.pool("not-a-pool-id")
        assert caught.value.status == 422 and caught.value.code.startswith("invalid")
        with pytest.raises(ApiRequestError) as missing:
            await client.protocol("no-such-protocol")
        assert missing.value.status == 404


async def test_stream_reconnects_and_resumes_without_loss(served: Any) -> None:
    runtime, _app, url = served
    client = OnchainClient(url)
    stream = client.subscribe("prices", token_ids=[WETH])
    received: list[Update] = []

    async def consume() -> None:
        async for update in stream:
            received.append(update)
            if len(received) == 30:
                return

    consumer = asyncio.create_task(consume())
    async with asyncio.timeout(10):
        while stream.last_seq is None:  # set by the server's `subscribed` reply
            await asyncio.sleep(0.005)
    for block in range(30):
        if block == 10:
            async with asyncio.timeout(10):
                while len(received) < 10:
                    await asyncio.sleep(0.005)
            assert stream._ws is not None
            stream._ws.transport.abort()  # the network drops the connection
        await runtime.bus.publish(
            "prices", {"id": WETH, "value": 1830.0 + block, "timestamp": block, "change24h": None, "block": block}
        )
        await asyncio.sleep(0.005)
    await asyncio.wait_for(consumer, 20)
    await stream.close()
    await client.aclose()
    assert [u.seq for u in received] == list(range(1, 31))
    assert [u.block for u in received] == list(range(30))
    assert stream.reconnects >= 1 and stream.gaps == 0
