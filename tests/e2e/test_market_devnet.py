"""The demo chain end to end: anvil with real Uniswap V2 pairs and price feeds, traffic, the pipeline,
the market service. Prices come from the devnet's feeds, TVL and volumes from its pairs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from onchain.bus import MemoryBus
from onchain.devnet.anvil import find_anvil
from onchain.devnet.deployment import ARTIFACTS, DEVNET_CHAIN, Devnet
from onchain.devnet.traffic import TrafficGenerator
from onchain.ingest.pipeline import Pipeline
from onchain.metrics.service import MarketService
from onchain.protocols.registry import Decoder
from onchain.sources.jsonrpc import JsonRpcClient
from onchain.sources.rpc import RpcSource
from onchain.storage.store import Store

pytestmark = pytest.mark.devnet


@pytest.fixture
async def devnet() -> AsyncIterator[Devnet]:
    if find_anvil() is None or not (ARTIFACTS / "PriceFeed.json").exists():
        pytest.skip("anvil or compiled devnet contracts missing; run `make install`")
    async with Devnet(mining="manual") as net:
        yield net


async def test_devnet_prices_tvl_and_volumes_move_with_blocks(devnet: Devnet, tmp_path: Path) -> None:
    deployment = devnet.deployment
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'devnet.db'}")
    bus = MemoryBus()
    market = MarketService(store, bus)
    market.configure_devnet(deployment)
    prices = await bus.subscribe("prices")
    await market.start()
    try:
        await TrafficGenerator(devnet, seed=7, tx_per_block=6).run(steps=40)
        head = await devnet.block_number()
        source = RpcSource(DEVNET_CHAIN, JsonRpcClient([devnet.rpc_url]), poll_interval=0.05)
        decoder = Decoder(DEVNET_CHAIN, factories=[deployment.factory_config()])
        await Pipeline(DEVNET_CHAIN, source, decoder, store, bus, batch_delay=0.0).run(0, head)
        async with asyncio.timeout(30):
            while market.state.heads.get(DEVNET_CHAIN, (0, 0))[0] < head:
                await asyncio.sleep(0.01)
        weth = f"{DEVNET_CHAIN}:{deployment.weth.address}"
        price = market.state.prices[weth]
        assert price.source == "chainlink"
        assert 1_000 < price.price_usd < 10_000
        summary = market.state.protocol_summary("uniswap-v2")
        assert summary["chains"] == [DEVNET_CHAIN]
        assert 10_000_000 < summary["tvl"] < 100_000_000  # 20M USD of opening depth, give or take the market
        assert summary["volume24h"] > 0 and summary["fees24h"] == pytest.approx(summary["volume24h"] * 0.003)
        updates = []
        while True:
            try:
                updates.append((await prices.get(timeout=0.2)).json())
            except TimeoutError:
                break
        weth_updates = [u for u in updates if u["id"] == weth]
        assert len({u["value"] for u in weth_updates}) > 1, "the WETH price should move as the feed is updated"
        assert [u["block"] for u in updates] == sorted(u["block"] for u in updates)
    finally:
        await prices.close()
        await market.stop()
        await store.close()
