"""Redis pub/sub bus: fan-out to every process (each api replica) subscribed to a topic.

Channels are `{prefix}{topic}` so several deployments or test runs share one Redis safely.

Subscriptions heal themselves: when the connection to Redis drops (a restart, a failover), each
subscription resubscribes with capped exponential backoff while its consumer waits in `get`, so no
consumer has to handle it. The bus logs one line when the first subscription is lost and one when the
last is back, however many there are and however long it takes. What was published meanwhile is lost,
as the bus promises no more than at-most-once delivery.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from onchain.bus.base import BusError, Message, encode

log = logging.getLogger(__name__)

RESUBSCRIBE_FIRST_DELAY = 0.1
RESUBSCRIBE_MAX_DELAY = 5.0
CONFIRM_TIMEOUT = 5.0


async def _confirmed_pubsub(client: Redis, channel: str, timeout: float) -> PubSub:
    """A pubsub subscribed to `channel`, returned once Redis confirmed it (so no later publish is missed)."""
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(channel)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            reply = await pubsub.get_message(timeout=max(0.0, deadline - loop.time()))
            if reply is not None and reply.get("type") == "subscribe":
                return pubsub
            if loop.time() >= deadline:
                raise BusError(f"redis did not confirm the subscription to {channel} within {timeout}s")
    except BaseException:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        raise


class RedisSubscription:
    """One channel's messages; `connected` is False from a lost connection until it is resubscribed."""

    def __init__(self, bus: RedisBus, pubsub: PubSub, topic: str, channel: str) -> None:
        self.topic = topic
        self._bus = bus
        self._pubsub: PubSub | None = pubsub
        self._channel = channel
        self._closed = False
        self._delay = RESUBSCRIBE_FIRST_DELAY
        self._next_attempt = 0.0

    @property
    def connected(self) -> bool:
        return self._pubsub is not None

    async def get(self, timeout: float | None = None) -> Message:
        if self._closed:
            raise StopAsyncIteration
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            pubsub = self._pubsub if self._pubsub is not None else await self._resubscribe(deadline)
            if pubsub is not None:
                try:
                    raw = await pubsub.get_message(ignore_subscribe_messages=True, timeout=remaining)
                except (RedisError, OSError) as exc:
                    await self._lose(exc)
                    continue
                if raw is not None and raw.get("type") == "message":
                    return Message(self.topic, raw["data"])
            if deadline is not None and loop.time() >= deadline:
                raise TimeoutError(f"no message on {self.topic} within {timeout}s")

    async def _lose(self, exc: BaseException) -> None:
        pubsub, self._pubsub = self._pubsub, None
        self._bus._lost(self, exc)
        self._delay = RESUBSCRIBE_FIRST_DELAY
        self._next_attempt = asyncio.get_running_loop().time() + self._delay
        if pubsub is not None:
            await _discard(pubsub)

    async def _resubscribe(self, deadline: float | None) -> PubSub | None:
        """One attempt once the backoff delay has passed (None if `deadline` comes first or it fails)."""
        loop = asyncio.get_running_loop()
        wake = self._next_attempt if deadline is None else min(self._next_attempt, deadline)
        await asyncio.sleep(max(0.0, wake - loop.time()))
        if loop.time() < self._next_attempt:
            return None
        try:
            self._pubsub = await _confirmed_pubsub(self._bus.client, self._channel, CONFIRM_TIMEOUT)
        except (RedisError, OSError, BusError):
            self._delay = min(self._delay * 2, RESUBSCRIBE_MAX_DELAY)
            self._next_attempt = loop.time() + self._delay
            return None
        self._bus._back(self)
        return self._pubsub

    async def __aiter__(self) -> AsyncIterator[Message]:
        while not self._closed:
            yield await self.get()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._bus._forget(self)
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is None:
            return
        try:
            await pubsub.unsubscribe(self._channel)
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]


async def _discard(pubsub: PubSub) -> None:
    """Drop a pubsub whose connection failed; closing a dead connection may fail too, which is fine."""
    try:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
    except (RedisError, OSError) as exc:
        log.debug("closing a failed redis pubsub: %s", exc)


def redis_client(url: str) -> Redis:
    """A client with one immediate retry per command: after a Redis restart the pooled connections are
    dead, and without it the first command on each would fail although Redis is back. Every Redis
    client of the platform (bus, rate and connection limits, market cache) is made here."""
    return Redis.from_url(url, retry=Retry(NoBackoff(), 1))


class RedisBus:
    def __init__(self, client: Redis, prefix: str = "onchain:") -> None:
        self.client = client
        self.prefix = prefix
        self._subscriptions: list[RedisSubscription] = []
        self._outage_started: float | None = None

    @classmethod
    def from_url(cls, url: str, prefix: str = "onchain:") -> RedisBus:
        return cls(redis_client(url), prefix)

    def channel(self, topic: str) -> str:
        return f"{self.prefix}{topic}"

    async def publish(self, topic: str, payload: bytes | dict[str, Any]) -> None:
        try:
            await self.client.publish(self.channel(topic), encode(payload))
        except RedisError as exc:
            raise BusError(f"redis publish to {self.channel(topic)} failed: {exc}") from exc

    def may_have_subscribers(self, topic: str) -> bool:
        return True  # other processes may listen; only Redis knows

    async def subscribe(self, topic: str, timeout: float = CONFIRM_TIMEOUT) -> RedisSubscription:
        """Returns once Redis has confirmed the subscription, so no later publish is missed."""
        channel = self.channel(topic)
        try:
            pubsub = await _confirmed_pubsub(self.client, channel, timeout)
        except RedisError as exc:
            raise BusError(f"redis subscribe to {channel} failed: {exc}") from exc
        subscription = RedisSubscription(self, pubsub, topic, channel)
        self._subscriptions.append(subscription)
        return subscription

    def disconnected_topics(self) -> list[str]:
        """Topics with a subscription in this process that is not receiving now (waiting to resubscribe)."""
        return sorted({s.topic for s in self._subscriptions if not s.connected})

    def _lost(self, subscription: RedisSubscription, exc: BaseException) -> None:
        log.debug("bus: lost the redis subscription to %s: %s", subscription.topic, exc)
        if self._outage_started is None:
            self._outage_started = time.monotonic()
            log.warning("bus: lost the redis subscription to %s (%s); resubscribing every subscription "
                        "with backoff", self.channel(subscription.topic), exc)

    def _back(self, subscription: RedisSubscription) -> None:
        log.debug("bus: resubscribed to %s", subscription.topic)
        self._outage_over()

    def _outage_over(self) -> None:
        if self._outage_started is None or self.disconnected_topics():
            return
        log.warning("bus: every redis subscription is back (%d, after %.1fs); receiving again",
                    len(self._subscriptions), time.monotonic() - self._outage_started)
        self._outage_started = None

    def _forget(self, subscription: RedisSubscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
            self._outage_over()

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.close()
        self._subscriptions.clear()
        await self.client.aclose()
