"""Issue 20: analytics outlives a bus that is away: a batch is still observed, the outage is logged once
(no traceback per batch), and the risk the bus refused goes out with the next batch once Redis is back
(it is not counted as published). A redis-server of the test's own is stopped and started."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from onchain.analytics.service import AnalyticsService
from onchain.bus.redis import RedisBus
from onchain.domain.topics import RISK
from onchain.metrics.service import MarketService
from onchain.storage import Store
from tests.integration.bus.own_redis import OwnRedis
from tests.integration.metrics.test_market_redis_outage import _batches

LOGGER = "onchain.analytics.service"


async def test_risk_refused_by_the_bus_goes_out_once_it_is_back(
    store: Store, chaindata: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = await _batches(store, chaindata)
    market = MarketService(store)
    redis = OwnRedis(tmp_path)
    redis.start()
    bus = RedisBus.from_url(redis.url, "analytics-outage:")
    analytics = AnalyticsService(market, bus)
    caplog.set_level(logging.INFO, logger=LOGGER)
    try:
        redis.stop()
        await market.handle_events_message(first)
        await analytics.handle_events(first)
        assert analytics.heads["ethereum"][0] == first["to_block"]
        refused = {update["id"] for update in analytics._risk_updates("ethereum")}
        assert refused, "the first batch gives protocols a risk to publish"

        redis.start()
        risk = await bus.subscribe(RISK)
        await market.handle_events_message(second)
        await analytics.handle_events(second)
        received: set[str] = set()
        while not refused <= received:  # the second batch may change other protocols' risk too
            received.add((await asyncio.wait_for(risk.get(), 10)).json()["id"])
    finally:
        await bus.close()
        redis.stop()
    records = [r for r in caplog.records if r.name == LOGGER]
    assert all(r.exc_info is None for r in records), "a traceback was logged"
    lines = [r.getMessage() for r in records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("analytics (publishing anomalies and risk on the bus) failing: BusError")
    assert lines[1].startswith("analytics (publishing anomalies and risk on the bus) works again")
