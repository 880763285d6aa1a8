"""Recorded mainnet blocks replayed through the real pipeline and market service while a WebSocket
client listens: every price change the market publishes reaches the client, in block order, with
sequence numbers that have no gaps; blocks and swaps arrive too."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from onchain.api import create_app
from onchain.bus import MemoryBus
from onchain.config import Settings
from onchain.ingest.pipeline import Pipeline
from onchain.metrics.service import MarketService
from onchain.protocols.registry import Decoder
from onchain.sources.replay import ReplaySource
from onchain.storage.store import Store
from tests.integration.api.conftest import LocalRuntime, serving

WETH = "ethereum:0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
BLOCKS = [17173049, 17173050]
SWAPS = 79  # 69 Uniswap V2 and 10 V3 swaps in these two blocks


async def test_replayed_blocks_stream_to_a_websocket_client(chaindata: Path, tmp_path: Path) -> None:
    runtime = LocalRuntime(await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'ws.db'}"), MemoryBus())
    market = MarketService(runtime.store, runtime.bus)
    await market.start()
    published = await runtime.bus.subscribe("prices")
    app = create_app(Settings(data_dir=tmp_path), runtime, market=market)
    source = ReplaySource(chaindata / "ethereum-etl-17173049")
    try:
        async with serving(app) as address, connect(f"ws://{address}/v2/realtime") as ws:
            for channel in ("prices", "blocks", "swaps"):
                await ws.send(json.dumps({"type": "subscribe", "channel": channel}))
            subscribed = 0
            while subscribed < 3:
                subscribed += json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "subscribed"

            await Pipeline("ethereum", source, Decoder("ethereum"), runtime.store, runtime.bus,
                           allow_gaps=True).run(*BLOCKS)
            async with asyncio.timeout(30):
                while market.state.heads.get("ethereum", (0, 0))[0] < BLOCKS[-1]:
                    await asyncio.sleep(0.01)
            expected: list[dict[str, Any]] = []
            while True:
                try:
                    expected.append((await published.get(timeout=0.5)).json())
                except TimeoutError:
                    break
            assert any(u["id"] == WETH for u in expected)

            received: dict[str, list[dict[str, Any]]] = {"prices": [], "blocks": [], "swaps": []}
            async with asyncio.timeout(30):
                while (len(received["prices"]) < len(expected) or len(received["blocks"]) < len(BLOCKS)
                       or len(received["swaps"]) < SWAPS):
                    decoded = json.loads(await ws.recv())
                    for message in decoded if isinstance(decoded, list) else [decoded]:
                        if message["type"] == "update":
                            received[message["channel"]].append(message)
    finally:
        await published.close()
        await market.stop()
        await source.close()
        await runtime.bus.close()
        await runtime.store.close()

    prices = received["prices"]
    assert [m["seq"] for m in prices] == list(range(1, len(expected) + 1))
    assert [m["data"] for m in prices] == expected  # every change, as the market published it
    weth = [m["data"] for m in prices if m["data"]["id"] == WETH]
    assert [u["block"] for u in weth] == BLOCKS
    assert weth[-1]["value"] == pytest.approx(1830, rel=0.02)  # the recorded WETH/USDT pool says ~1,830
    assert [m["data"]["value"] for m in received["blocks"]] == BLOCKS
    assert [m["seq"] for m in received["blocks"]] == [1, 2]
    assert len(received["swaps"]) == SWAPS
    assert all(m["data"]["tx"].startswith("0x") and m["data"]["block"] in BLOCKS for m in received["swaps"])
