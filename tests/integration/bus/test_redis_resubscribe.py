"""A Redis subscription outlives a restart of Redis: it resubscribes by itself, says so once, and the
bus names its topics as disconnected only while it is away (what `/health` reports)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from onchain.bus.redis import RedisBus
from tests.integration.bus.own_redis import OwnRedis

DEADLINE = 30.0


async def test_subscriptions_resubscribe_after_redis_restarts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    redis = OwnRedis(tmp_path)
    redis.start()
    bus = RedisBus.from_url(redis.url, prefix="resubscribe:")
    caplog.set_level(logging.WARNING, logger="onchain.bus.redis")
    try:
        blocks, events = await bus.subscribe("blocks"), await bus.subscribe("events")
        await bus.publish("blocks", {"n": 1})
        assert (await blocks.get(timeout=5)).json() == {"n": 1}

        redis.stop()
        for subscription in (blocks, events):  # waiting consumers notice and keep waiting: no error
            with pytest.raises(TimeoutError):
                await subscription.get(timeout=0.5)
        assert bus.disconnected_topics() == ["blocks", "events"]

        redis.start()
        async with asyncio.timeout(DEADLINE):
            while bus.disconnected_topics():  # each resubscribes while its consumer waits in get()
                for subscription in (blocks, events):
                    with pytest.raises(TimeoutError):
                        await subscription.get(timeout=0.2)
        await bus.publish("blocks", {"n": 2})
        await bus.publish("events", {"n": 3})
        assert (await blocks.get(timeout=5)).json() == {"n": 2}
        assert (await events.get(timeout=5)).json() == {"n": 3}
    finally:
        await bus.close()
        redis.stop()
    messages = [record.getMessage() for record in caplog.records]
    assert sum("lost the redis subscription" in m for m in messages) == 1, messages
    assert sum("every redis subscription is back" in m for m in messages) == 1, messages
