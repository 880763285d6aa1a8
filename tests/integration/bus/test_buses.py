"""Both buses honour one contract: fan-out to current subscribers, order kept, exact big integers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from onchain.bus import Bus, MemoryBus
from onchain.bus.redis import RedisBus
from onchain.domain.topics import BLOCKS, EVENTS
from onchain.ingest.pipeline import Pipeline
from onchain.protocols import Decoder
from onchain.storage import Store
from tests.unit.ingest.bundles import ListSource, etl_bundles


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def bus(request: pytest.FixtureRequest, unique_prefix: str) -> AsyncIterator[Bus]:
    opened: Bus
    if request.param == "memory":
        opened = MemoryBus()
    else:
        opened = RedisBus.from_url(request.getfixturevalue("redis_url"), prefix=f"{unique_prefix}:")
    try:
        yield opened
    finally:
        await opened.close()


async def test_every_subscriber_gets_every_message_in_order(bus: Bus) -> None:
    first = await bus.subscribe("blocks")
    second = await bus.subscribe("blocks")
    other = await bus.subscribe("reorg")
    payloads = [{"chain": "ethereum", "number": n, "amount": 2**200 + n} for n in range(5)]
    for payload in payloads:
        await bus.publish("blocks", payload)
    await bus.publish("reorg", b'{"depth":1}')
    for subscription in (first, second):
        got = [(await subscription.get(timeout=5)).json() for _ in payloads]
        assert got == payloads
    message = await other.get(timeout=5)
    assert (message.topic, message.data) == ("reorg", b'{"depth":1}')
    with pytest.raises(TimeoutError):
        await first.get(timeout=0.2)


async def test_a_closed_subscription_stops_receiving(bus: Bus) -> None:
    kept = await bus.subscribe("events")
    dropped = await bus.subscribe("events")
    await dropped.close()
    await bus.publish("events", {"n": 1})
    assert (await kept.get(timeout=5)).json() == {"n": 1}
    await kept.close()


async def test_iteration_yields_messages(bus: Bus) -> None:
    subscription = await bus.subscribe("blocks")
    await bus.publish("blocks", {"n": 1})
    await bus.publish("blocks", {"n": 2})
    seen = []
    async for message in subscription:
        seen.append(message.json()["n"])
        if len(seen) == 2:
            break
    assert seen == [1, 2]


async def test_memory_bus_drops_oldest_for_a_slow_subscriber() -> None:
    bus = MemoryBus(queue_size=3)
    slow = await bus.subscribe("blocks")
    for n in range(5):
        await bus.publish("blocks", {"n": n})
    assert [(await slow.get(timeout=1)).json()["n"] for _ in range(3)] == [2, 3, 4]
    assert slow.dropped == 2
    await bus.close()
    assert [m async for m in slow] == []


async def test_redis_channels_carry_the_prefix(redis_url: str, unique_prefix: str) -> None:
    bus = RedisBus.from_url(redis_url, prefix=f"{unique_prefix}:")
    other = RedisBus.from_url(redis_url, prefix=f"{unique_prefix}-other:")
    try:
        mine = await bus.subscribe("blocks")
        await other.publish("blocks", {"n": "elsewhere"})
        await bus.publish("blocks", {"n": "here"})
        assert (await mine.get(timeout=5)).json() == {"n": "here"}
        assert await bus.client.pubsub_numsub(f"{unique_prefix}:blocks") == [(f"{unique_prefix}:blocks".encode(), 1)]
    finally:
        await bus.close()
        await other.close()


async def test_pipeline_announces_committed_blocks_over_redis(
    redis_url: str, unique_prefix: str, chaindata: Path, tmp_path: Path
) -> None:
    bus = RedisBus.from_url(redis_url, prefix=f"{unique_prefix}:")
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'onchain.db'}")
    try:
        blocks = await bus.subscribe(BLOCKS)
        events = await bus.subscribe(EVENTS)
        bundles = etl_bundles(chaindata / "ethereum-etl-17173049")
        pipeline = Pipeline("ethereum", ListSource(bundles), Decoder("ethereum"), store, bus)  # type: ignore[arg-type]
        stats = await pipeline.run(17173049, 17173050)
        numbers = [(await blocks.get(timeout=5)).json()["number"] for _ in bundles]
        assert numbers == [17173049, 17173050]
        received = []
        while not received or received[-1]["to_block"] < 17173050:
            received.append((await events.get(timeout=5)).json())
        published = [event for message in received for event in message["events"]]
        assert len(published) == sum(stats.events.values())
        stored = {(e.block_number, e.log_index): e.args for e in await store.events("ethereum")}
        assert all(stored[(e["block_number"], e["log_index"])] == e["args"] for e in published)
        assert any(isinstance(v, int) and v >= 2**64 for e in published for v in e["args"].values())
    finally:
        await bus.close()
        await store.close()
