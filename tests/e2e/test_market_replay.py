"""Replay recorded mainnet blocks through the real pipeline into SQLite, then ask the REST API.

The figures are checked against what the raw logs say, computed here without the product's code:
WETH's price from the deepest WETH/stablecoin pair's last Sync, the pair's TVL from its reserves and
its volume from its Swap logs. A second market service on the same database (what `onchain serve`
does after `onchain replay`) must answer the same from storage alone.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from onchain.api.app import create_app
from onchain.bus import MemoryBus
from onchain.config import Settings
from onchain.ingest.pipeline import Pipeline
from onchain.metrics.series import read_points
from onchain.metrics.service import MarketService
from onchain.protocols.registry import Decoder
from onchain.sources.replay import ReplaySource
from onchain.storage.store import Store

ETL = "ethereum-etl-17173049"
PAIR = "0x0d4a11d5eeaac28ec3f61d100daf4d40471f1852"
SUSHI_PAIR = "0x06da0fd433c1a5d7a4faa01111c044910a184553"
WETH = "ethereum:0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
USDT = "ethereum:0xdac17f958d2ee523a2206206994597c13d831ec7"
SYNC = "0x1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1"
SWAP = "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822"


@dataclass
class Runtime:
    store: Store
    bus: MemoryBus


def word(data: str, index: int) -> int:
    return int(data[2 + 64 * index: 66 + 64 * index], 16)


def raw_logs(chaindata: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (chaindata / ETL / "logs.json").read_text().splitlines() if line]


def independent(chaindata: Path) -> dict[str, float]:
    logs = raw_logs(chaindata)
    reserves = {}
    for pair in (PAIR, SUSHI_PAIR):  # token0 WETH (18 decimals), token1 USDT (6)
        syncs = [r for r in logs if r["address"] == pair and r["topics"][0] == SYNC]
        last = max(syncs, key=lambda r: (r["block_number"], r["log_index"]))
        reserves[pair] = (word(last["data"], 0) / 1e18, word(last["data"], 1) / 1e6)
    deepest = max(reserves, key=lambda pair: reserves[pair][1])
    swaps = [r for r in logs if r["address"] == PAIR and r["topics"][0] == SWAP]
    return {
        "weth": reserves[deepest][1] / reserves[deepest][0],
        "tvl": 2 * reserves[PAIR][1],
        "volume": sum(word(r["data"], 1) + word(r["data"], 3) for r in swaps) / 1e6,
    }


@pytest.fixture
async def replayed(chaindata: Path, tmp_path: Path) -> AsyncIterator[tuple[Store, MemoryBus, MarketService, list[Any]]]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'onchain.db'}")
    bus = MemoryBus()
    market = MarketService(store, bus)
    prices = await bus.subscribe("prices")
    await market.start()
    source = ReplaySource(chaindata / ETL)
    try:
        pipeline = Pipeline("ethereum", source, Decoder("ethereum"), store, bus, allow_gaps=True)
        await pipeline.run(17173049, 17173050)
        async with asyncio.timeout(30):
            while market.state.heads.get("ethereum", (0, 0))[0] < 17173050:
                await asyncio.sleep(0.01)
        updates = []
        while True:
            try:
                updates.append((await prices.get(timeout=0.2)).json())
            except TimeoutError:
                break
        yield store, bus, market, updates
    finally:
        await prices.close()
        await market.stop()
        await source.close()
        await store.close()


def client_for(store: Store, bus: MemoryBus, market: MarketService, tmp_path: Path) -> httpx.AsyncClient:
    app = create_app(Settings(data_dir=tmp_path), Runtime(store, bus), market=market)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_rest_answers_match_the_raw_logs(chaindata: Path, tmp_path: Path, replayed: Any) -> None:
    store, bus, market, updates = replayed
    expected = independent(chaindata)
    async with client_for(store, bus, market, tmp_path) as client:
        answer = (await client.get("/v2/realtime/prices", params={"coins": f"{WETH},{USDT}"})).json()
        weth = answer["coins"][WETH]
        assert weth["price"] == pytest.approx(expected["weth"], rel=0.01)
        assert weth["symbol"] == "WETH" and weth["decimals"] == 18 and 0 < weth["confidence"] <= 1
        assert weth["timestamp"] == 1683030011
        assert answer["coins"][USDT]["price"] == 1.0

        pool = (await client.get(f"/v2/pools/ethereum:{PAIR}")).json()
        assert {"id", "protocol", "chain", "tokens", "reserves", "tvl", "volume24h", "fees24h", "block"} <= pool.keys()
        assert pool["tvl"] == pytest.approx(expected["tvl"], rel=0.01)
        assert pool["volume24h"] == pytest.approx(expected["volume"], rel=0.005)
        assert pool["protocol"] == "uniswap-v2" and pool["block"] == 17173050

        protocols = (await client.get("/v2/protocols")).json()["protocols"]
        uniswap = next(p for p in protocols if p["id"] == "uniswap-v2")
        assert uniswap["name"] == "Uniswap V2" and uniswap["tvl"] >= pool["tvl"]
        assert (await client.get("/v2/realtime/tvl")).json()["protocols"]["uniswap-v2"]["tvl"] == uniswap["tvl"]
        volumes = (await client.get("/v2/realtime/volumes")).json()["protocols"]
        assert volumes["uniswap-v2"]["volume24h"] == pytest.approx(uniswap["volume24h"])
        series = (await client.get("/v2/protocols/uniswap-v2/metrics",
                                   params={"metric": "tvl", "interval": "block"})).json()
        assert [p["value"] for p in series["points"]][-1] == pytest.approx(uniswap["tvl"])

        for path, status, code in (
            (f"/v2/pools/ethereum:{'0' * 40}", 404, "pool_not_found"),
            ("/v2/pools/ethereum:0xnothex", 422, "invalid_pool_id"),
            ("/v2/protocols/no-such-protocol", 404, "protocol_not_found"),
            ("/v2/protocols/Bad_Slug!", 422, "invalid_slug"),
            ("/v2/realtime/prices?coins=weth", 422, "invalid_coin_id"),
        ):
            response = await client.get(path)
            assert response.status_code == status, path
            assert response.json()["error"]["code"] == code
        bad_metric = await client.get("/v2/protocols/uniswap-v2/metrics", params={"metric": "nope"})
        assert bad_metric.status_code == 422 and "code" in bad_metric.json()["error"]

    weth_updates = [u for u in updates if u["id"] == WETH]
    assert [u["block"] for u in weth_updates] == [17173049, 17173050]
    assert set(weth_updates[0]) >= {"id", "value", "timestamp", "change24h", "block"}
    assert weth_updates[-1]["value"] == pytest.approx(expected["weth"], rel=0.01)


async def test_a_fresh_service_rebuilds_the_same_answers_from_storage(replayed: Any) -> None:
    store, _, market, _ = replayed
    served = MarketService(store)
    assert await served.rebuild() == 2
    live = market.state.pool_view(f"ethereum:{PAIR}")
    assert served.state.pool_view(f"ethereum:{PAIR}") == live
    assert served.state.prices[WETH] == market.state.prices[WETH]
    points = await read_points(store, "uniswap-v2", "tvl", "block", None, None)
    # One point per block, rewritten by the rebuild rather than doubled.
    assert [ts for ts, _, _ in points] == [1683029999, 1683030011]
    assert points[-1][2] == pytest.approx(served.state.protocol_summary("uniswap-v2")["tvl"])


@pytest.mark.redis
async def test_values_are_cached_under_the_seed_keys(replayed: Any, redis_url: str, unique_prefix: str) -> None:
    from redis.asyncio import Redis

    store, _, market, _ = replayed
    redis = Redis.from_url(redis_url)
    try:
        cached = MarketService(store, redis=redis, redis_prefix=f"{unique_prefix}:")
        await cached.rebuild()
        price = await redis.get(f"{unique_prefix}:realtime:price:{WETH}")
        tvl = await redis.get(f"{unique_prefix}:realtime:tvl:uniswap-v2")
        volume = await redis.get(f"{unique_prefix}:realtime:volume:uniswap-v2")
        assert price is not None and tvl is not None and volume is not None
        assert float(price) == market.state.prices[WETH].price_usd
        assert float(tvl) == pytest.approx(market.state.protocol_summary("uniswap-v2")["tvl"])
    finally:
        keys = [key async for key in redis.scan_iter(f"{unique_prefix}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
