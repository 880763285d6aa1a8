"""The bus feed outlives messages its handlers fail on: each is skipped, logged rate-limited, counted."""

from __future__ import annotations

import asyncio
import logging

import orjson
import pytest

from onchain.api.ws_feed import Feed
from onchain.api.ws_hub import Hub
from onchain.bus import MemoryBus
from onchain.domain.topics import EVENTS

DEADLINE = 10.0
SWAP = {"chain": "ethereum", "block_number": 17173049, "address": "0xpool", "family": "uniswap_v2",
        "name": "Swap", "protocol": "uniswap-v2", "transaction_hash": "0xtx", "log_index": 3,
        "args": {"amount0In": 2**70}}


async def test_a_message_of_an_unforeseen_shape_is_skipped_and_the_feed_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub, bus = Hub(), MemoryBus()
    feed = Feed(bus, hub)
    caplog.set_level(logging.WARNING, logger="onchain.api.ws_feed")
    await feed.start()
    try:
        for bad in ([1, 2], {"events": [None]}, {"events": "swap"}, [3], [4]):  # AttributeError in _swaps
            await bus.publish(EVENTS, orjson.dumps(bad))
        await bus.publish(EVENTS, {"events": [SWAP]})
        async with asyncio.timeout(DEADLINE):
            while hub.logs["swaps"].seq < 1:
                await asyncio.sleep(0.01)
        assert feed.running
        assert feed.errors == 5
        assert hub.logs["swaps"].history[-1].id == "ethereum:0xpool"
    finally:
        await feed.stop()
    lines = [r.getMessage() for r in caplog.records if r.name == "onchain.api.ws_feed"]
    assert len(lines) == 1, lines  # rate-limited: the first skip, not one line each
    assert lines[0].startswith("websocket feed: malformed events messages: skipped 1 (1 in all)")
    assert "AttributeError" in lines[0]
    assert all(r.exc_info is None for r in caplog.records)
