"""Issue 20: the Redis rate and connection limiters carry on through a Redis restart without a failed
command: the pooled connections the restart killed are retried at once on a new one (as the bus does),
so no "could not release a connection slot ... Connection closed by server" and no fall-back to this
process's buckets once Redis is back. A redis-server of the test's own is restarted."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from onchain.accounts.ratelimit import RedisConnectionLimiter, RedisRateLimiter
from tests.integration.bus.own_redis import OwnRedis

LOGGER = "onchain.accounts.ratelimit"


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    redis = OwnRedis(tmp_path)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


def restart(redis: OwnRedis) -> None:
    redis.stop()
    redis.start()


async def test_connection_slots_go_through_redis_right_after_a_restart(
    own_redis: OwnRedis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    limiter = RedisConnectionLimiter.from_url(own_redis.url, "restart:")
    observer = Redis.from_url(own_redis.url)
    try:
        assert await limiter.acquire("user:a", "first", 2)
        await limiter.refresh({"first": "user:a"})
        restart(own_redis)
        await limiter.release("user:a", "first")  # the slot went with the restart; releasing it must not fail
        restart(own_redis)
        assert await limiter.acquire("user:a", "second", 2)
        assert await observer.zrange("restart:wsconn:user:a", 0, -1) == [b"second"]  # held in Redis, not locally
        restart(own_redis)
        await limiter.refresh({"second": "user:a"})
    finally:
        await limiter.close()
        await observer.aclose()
    assert [r.getMessage() for r in caplog.records if r.name == LOGGER] == []


async def test_rate_limits_stay_shared_right_after_a_restart(
    own_redis: OwnRedis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    limiter = RedisRateLimiter.from_url(own_redis.url, "restart:")
    try:
        assert (await limiter.hit("user:b", 10)).remaining == 9
        restart(own_redis)
        assert (await limiter.hit("user:b", 10)).remaining == 9  # a fresh bucket in the restarted Redis
        assert (await limiter.hit("user:b", 10)).remaining == 8
    finally:
        await limiter.close()
    assert [r.getMessage() for r in caplog.records if r.name == LOGGER] == []
