"""Issue 20: a Redis that is away (bus and cache) costs the market service only what it would have sent:
every block of a batch is still folded and its metric points stored, the outage is logged once for
publishing and once for caching (no traceback per batch), and once Redis is back the next block's
changes are published and cached again. A redis-server of the test's own is stopped and started."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from onchain.bus import MemoryBus
from onchain.bus.redis import RedisBus, redis_client
from onchain.domain.topics import EVENTS
from onchain.ingest.pipeline import Pipeline
from onchain.metrics.service import MarketService
from onchain.protocols import Decoder
from onchain.storage import Store
from tests.integration.bus.own_redis import OwnRedis
from tests.unit.ingest.bundles import ListSource, etl_bundles

LOGGER = "onchain.metrics.service"
PREFIX = "market-outage:"


async def _batches(store: Store, chaindata: Path) -> list[dict[str, Any]]:
    """The recorded blocks stored, and the pipeline's `events` messages for them (one per block)."""
    recorded = etl_bundles(chaindata / "ethereum-etl-17173049")
    bus = MemoryBus()
    events = await bus.subscribe(EVENTS)
    await Pipeline("ethereum", ListSource(recorded), Decoder("ethereum"), store, bus, batch_blocks=1).run(  # type: ignore[arg-type]
        recorded[0].block.number, recorded[-1].block.number)
    batches = [(await events.get(timeout=5)).json() for _ in recorded]
    await bus.close()
    return batches


async def test_batches_are_folded_whole_while_redis_is_away_and_sent_again_after(
    store: Store, chaindata: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = await _batches(store, chaindata)
    redis = OwnRedis(tmp_path)
    redis.start()
    bus, cache, observer = RedisBus.from_url(redis.url, PREFIX), redis_client(redis.url), redis_client(redis.url)
    market = MarketService(store, bus, redis=cache, redis_prefix=PREFIX)
    caplog.set_level(logging.INFO, logger=LOGGER)
    try:
        redis.stop()
        (folded,) = await market.handle_events_message(first)
        assert market.state.heads["ethereum"][0] == first["to_block"]
        assert len(folded.updates) > 1  # each publish failed, one line logged for them all

        redis.start()
        prices = await bus.subscribe("prices")
        (result,) = await market.handle_events_message(second)
        assert market.state.heads["ethereum"][0] == second["to_block"]
        published = [u for u in result.updates if u.channel == "prices"]
        assert published, "the second block changes prices"
        received = (await asyncio.wait_for(prices.get(), 10)).json()
        assert received["id"] == published[0].id
        cached = await observer.get(f"{PREFIX}realtime:price:{published[0].id}")
        assert cached is not None and float(cached) == pytest.approx(published[0].value)
    finally:
        await bus.close()
        await cache.aclose()
        await observer.aclose()
        redis.stop()
    records = [r for r in caplog.records if r.name == LOGGER]
    assert all(r.exc_info is None for r in records), "a traceback was logged"
    lines = [r.getMessage() for r in records]
    assert len(lines) == 4, lines
    assert lines[0].startswith("market service (publishing updates on the bus) failing: BusError")
    assert lines[1].startswith("market service (caching latest values in redis) failing: ConnectionError")
    assert lines[2].startswith("market service (publishing updates on the bus) works again")
    assert lines[3].startswith("market service (caching latest values in redis) works again")
