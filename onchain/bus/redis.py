"""Redis pub/sub bus: fan-out to every process (each api replica) subscribed to a topic.

Channels are `{prefix}{topic}` so several deployments or test runs share one Redis safely.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from onchain.bus.base import BusError, Message, encode


class RedisSubscription:
    def __init__(self, pubsub: PubSub, topic: str, channel: str) -> None:
        self.topic = topic
        self._pubsub = pubsub
        self._channel = channel
        self._closed = False

    async def get(self, timeout: float | None = None) -> Message:
        if self._closed:
            raise StopAsyncIteration
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                raw = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=remaining)
            except RedisError as exc:
                raise BusError(f"redis subscription to {self._channel} failed: {exc}") from exc
            if raw is not None and raw.get("type") == "message":
                return Message(self.topic, raw["data"])
            if deadline is not None and loop.time() >= deadline:
                raise TimeoutError(f"no message on {self.topic} within {timeout}s")

    async def __aiter__(self) -> AsyncIterator[Message]:
        while not self._closed:
            yield await self.get()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._pubsub.unsubscribe(self._channel)
        finally:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]


class RedisBus:
    def __init__(self, client: Redis, prefix: str = "onchain:") -> None:
        self.client = client
        self.prefix = prefix
        self._subscriptions: list[RedisSubscription] = []

    @classmethod
    def from_url(cls, url: str, prefix: str = "onchain:") -> RedisBus:
        return cls(Redis.from_url(url), prefix)

    def channel(self, topic: str) -> str:
        return f"{self.prefix}{topic}"

    async def publish(self, topic: str, payload: bytes | dict[str, Any]) -> None:
        try:
            await self.client.publish(self.channel(topic), encode(payload))
        except RedisError as exc:
            raise BusError(f"redis publish to {self.channel(topic)} failed: {exc}") from exc

    def may_have_subscribers(self, topic: str) -> bool:
        return True  # other processes may listen; only Redis knows

    async def subscribe(self, topic: str, timeout: float = 5.0) -> RedisSubscription:
        """Returns once Redis has confirmed the subscription, so no later publish is missed."""
        channel = self.channel(topic)
        pubsub = self.client.pubsub()
        try:
            await pubsub.subscribe(channel)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                reply = await pubsub.get_message(timeout=max(0.0, deadline - loop.time()))
                if reply is not None and reply.get("type") == "subscribe":
                    break
                if loop.time() >= deadline:
                    raise BusError(f"redis did not confirm the subscription to {channel} within {timeout}s")
        except RedisError as exc:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            raise BusError(f"redis subscribe to {channel} failed: {exc}") from exc
        subscription = RedisSubscription(pubsub, topic, channel)
        self._subscriptions.append(subscription)
        return subscription

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        for subscription in self._subscriptions:
            await subscription.close()
        self._subscriptions.clear()
        await self.client.aclose()
