"""Token buckets for request rates, and counters for concurrent WebSocket connections.

A tier's bucket holds `requests_per_minute` tokens and refills at that many per minute, so a client may
burst up to a minute's allowance and then continues at the steady rate. In one process the buckets live
in memory; with `ONCHAIN_REDIS_URL` set they live in Redis and are updated by one Lua script per request
(atomic, timed by the Redis server's clock), so several api processes enforce one shared limit. If
Redis stops answering, each process falls back to its own in-memory buckets rather than refusing or
waving through everything.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from onchain.bus.redis import redis_client

log = logging.getLogger(__name__)

MAX_LOCAL_BUCKETS = 100_000
CONNECTION_TTL_SECONDS = 90.0


@dataclass(frozen=True, slots=True)
class Decision:
    """One bucket check. Times are seconds from now: `retry_after` until a token is due (0 when
    allowed), `reset_after` until the bucket is full again."""

    allowed: bool
    limit: int
    remaining: int
    retry_after: float
    reset_after: float

    def headers(self) -> dict[str, str]:
        """`X-RateLimit-*` (Reset in whole seconds from now), plus `Retry-After` when refused."""
        out = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset_after)),
        }
        if not self.allowed:
            out["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        return out


def decide(tokens: float, capacity: int, cost: int, allowed: bool) -> Decision:
    """The decision for a bucket left holding `tokens` after a check."""
    rate = capacity / 60.0
    retry_after = 0.0 if allowed else (cost - tokens) / rate
    return Decision(allowed, capacity, max(0, math.floor(tokens)), retry_after, (capacity - tokens) / rate)


def refill(tokens: float, last: float, now: float, capacity: int) -> float:
    """Tokens after refilling from `last` to `now` (a clock that went backwards adds nothing)."""
    return min(float(capacity), tokens + max(0.0, now - last) * capacity / 60.0)


def refusal_at(look: Decision, cost: int = 1) -> Decision | None:
    """What a hit of `cost` would get, from a look at the bucket (a hit of cost 0, which spends
    nothing): the refusal, or None if it would pass."""
    if look.remaining >= cost:
        return None
    if look.limit <= 0:
        return denied_outright()
    tokens = look.limit - look.reset_after * look.limit / 60.0
    return decide(tokens, look.limit, cost, False)


def denied_outright() -> Decision:
    """A tier with a zero allowance: nothing ever passes."""
    return Decision(False, 0, 0, 60.0, 0.0)


class RateLimiter(Protocol):
    async def hit(self, subject: str, capacity: int, cost: int = 1) -> Decision: ...

    async def close(self) -> None: ...


class LocalRateLimiter:
    """Buckets in this process's memory, keyed by subject (user id or client address)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._clock = clock

    async def hit(self, subject: str, capacity: int, cost: int = 1) -> Decision:
        return self.hit_now(subject, capacity, cost, self._clock())

    def hit_now(self, subject: str, capacity: int, cost: int, now: float) -> Decision:
        if capacity <= 0:
            return denied_outright()
        state = self._buckets.get(subject)
        tokens = float(capacity) if state is None else refill(state[0], state[1], now, capacity)
        allowed = tokens >= cost
        if allowed:
            tokens -= cost
        if len(self._buckets) >= MAX_LOCAL_BUCKETS and subject not in self._buckets:
            self._forget_full(now)
        self._buckets[subject] = (tokens, now)
        return decide(tokens, capacity, cost, allowed)

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have had a minute to refill completely (they equal a fresh bucket)."""
        stale = [key for key, (_, last) in self._buckets.items() if now - last >= 60.0]
        for key in stale:
            del self._buckets[key]
        if len(self._buckets) >= MAX_LOCAL_BUCKETS:
            self._buckets.clear()

    async def close(self) -> None:
        self._buckets.clear()


# KEYS[1] bucket; ARGV: capacity, cost. Returns {allowed, tokens-as-string} (Lua numbers would be truncated).
_BUCKET_LUA = """
local capacity = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local rate = capacity / 60.0
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local last = tonumber(state[2])
if tokens == nil or last == nil then
  tokens = capacity
  last = now
end
if now > last then
  tokens = math.min(capacity, tokens + (now - last) * rate)
  last = now
end
local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'ts', string.format('%.6f', last))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate * 1000) + 1000)
return {allowed, string.format('%.6f', tokens)}
"""


class RedisRateLimiter:
    """Buckets in Redis under `{prefix}ratelimit:{subject}`, shared by every process on that Redis."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_BUCKET_LUA)
        self._fallback = LocalRateLimiter()
        self._degraded = False

    @classmethod
    def from_url(cls, url: str, prefix: str) -> RedisRateLimiter:
        return cls(redis_client(url), prefix)

    async def hit(self, subject: str, capacity: int, cost: int = 1) -> Decision:
        if capacity <= 0:
            return denied_outright()
        try:
            allowed, tokens = await self._script(keys=[f"{self._prefix}ratelimit:{subject}"], args=[capacity, cost])
        except RedisError as exc:
            if not self._degraded:
                log.warning("rate limits fall back to this process (redis: %s)", exc)
                self._degraded = True
            return await self._fallback.hit(subject, capacity, cost)
        if self._degraded:
            log.info("rate limits shared through redis again")
            self._degraded = False
        return decide(float(tokens), capacity, cost, bool(allowed))

    async def close(self) -> None:
        await self._redis.aclose()


class ConnectionLimiter(Protocol):
    async def acquire(self, subject: str, connection_id: str, limit: int) -> bool: ...

    async def release(self, subject: str, connection_id: str) -> None: ...

    async def count(self, subject: str) -> int: ...

    async def refresh(self, held: dict[str, str]) -> None:
        """Keep the given connections (id -> subject) alive; Redis entries expire if a process dies."""
        ...

    async def close(self) -> None: ...


class LocalConnectionLimiter:
    def __init__(self) -> None:
        self._open: dict[str, set[str]] = {}

    async def acquire(self, subject: str, connection_id: str, limit: int) -> bool:
        held = self._open.setdefault(subject, set())
        if len(held) >= limit:
            return False
        held.add(connection_id)
        return True

    async def release(self, subject: str, connection_id: str) -> None:
        held = self._open.get(subject)
        if held is not None:
            held.discard(connection_id)
            if not held:
                del self._open[subject]

    async def count(self, subject: str) -> int:
        return len(self._open.get(subject, ()))

    async def refresh(self, held: dict[str, str]) -> None:
        return None

    async def close(self) -> None:
        self._open.clear()


# KEYS[1] sorted set of connection ids scored by expiry; ARGV: member, limit, ttl seconds. Returns 1 if admitted.
_ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(ttl))
return 1
"""

_COUNT_LUA = """
local t = redis.call('TIME')
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(t[1]) + tonumber(t[2]) / 1000000)
return redis.call('ZCARD', KEYS[1])
"""


class RedisConnectionLimiter:
    """Open connections per subject in Redis (`{prefix}wsconn:{subject}`), expiring unless refreshed."""

    def __init__(self, redis: Redis, prefix: str, ttl: float = CONNECTION_TTL_SECONDS) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl
        self._acquire = redis.register_script(_ACQUIRE_LUA)
        self._count = redis.register_script(_COUNT_LUA)
        self._fallback = LocalConnectionLimiter()

    @classmethod
    def from_url(cls, url: str, prefix: str) -> RedisConnectionLimiter:
        return cls(redis_client(url), prefix)

    def _key(self, subject: str) -> str:
        return f"{self._prefix}wsconn:{subject}"

    async def acquire(self, subject: str, connection_id: str, limit: int) -> bool:
        if limit <= 0:
            return False
        try:
            return bool(await self._acquire(keys=[self._key(subject)], args=[connection_id, limit, self._ttl]))
        except RedisError as exc:
            log.warning("connection limits fall back to this process (redis: %s)", exc)
            return await self._fallback.acquire(subject, connection_id, limit)

    async def release(self, subject: str, connection_id: str) -> None:
        await self._fallback.release(subject, connection_id)
        try:
            await self._redis.zrem(self._key(subject), connection_id)
        except RedisError as exc:
            log.warning("could not release a connection slot in redis (it expires by itself): %s", exc)

    async def count(self, subject: str) -> int:
        try:
            return int(await self._count(keys=[self._key(subject)]))
        except RedisError:
            return await self._fallback.count(subject)

    async def refresh(self, held: dict[str, str]) -> None:
        if not held:
            return
        try:
            now = float((await self._redis.time())[0])
            async with self._redis.pipeline(transaction=False) as pipe:
                for connection_id, subject in held.items():
                    pipe.zadd(self._key(subject), {connection_id: now + self._ttl}, xx=True)
                    pipe.expire(self._key(subject), math.ceil(self._ttl))
                await pipe.execute()
        except RedisError as exc:
            log.warning("could not refresh connection slots in redis: %s", exc)

    async def close(self) -> None:
        await self._redis.aclose()
