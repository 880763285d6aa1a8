"""In-process fan-out bus: the embedded default when no Redis is configured."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from onchain.bus.base import Message, encode

_CLOSED = Message("", b"")


class MemorySubscription:
    """A bounded queue per subscriber. When full the oldest message is dropped (and counted), so a slow
    subscriber never blocks the publisher, which is the ingest pipeline."""

    def __init__(self, bus: MemoryBus, topic: str, maxsize: int) -> None:
        self.topic = topic
        self.dropped = 0
        self._bus = bus
        self._queue: asyncio.Queue[Message] = asyncio.Queue(maxsize)
        self._closed = False

    def _deliver(self, message: Message) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(message)

    async def get(self, timeout: float | None = None) -> Message:
        if self._closed and self._queue.empty():
            raise StopAsyncIteration
        message = await asyncio.wait_for(self._queue.get(), timeout)
        if message is _CLOSED:
            self._closed = True
            raise StopAsyncIteration
        return message

    async def __aiter__(self) -> AsyncIterator[Message]:
        while True:
            try:
                yield await self.get()
            except StopAsyncIteration:
                return

    async def close(self) -> None:
        if not self._closed:
            self._bus._remove(self)
            self._end()

    def _end(self) -> None:
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(_CLOSED)


class MemoryBus:
    def __init__(self, queue_size: int = 10_000) -> None:
        self._queue_size = queue_size
        self._subscribers: dict[str, list[MemorySubscription]] = {}

    async def publish(self, topic: str, payload: bytes | dict[str, Any]) -> None:
        subscribers = self._subscribers.get(topic)
        if not subscribers:
            return
        message = Message(topic, encode(payload))
        for subscription in subscribers:
            subscription._deliver(message)

    def may_have_subscribers(self, topic: str) -> bool:
        return bool(self._subscribers.get(topic))

    async def subscribe(self, topic: str) -> MemorySubscription:
        subscription = MemorySubscription(self, topic, self._queue_size)
        self._subscribers.setdefault(topic, []).append(subscription)
        return subscription

    def _remove(self, subscription: MemorySubscription) -> None:
        subscribers = self._subscribers.get(subscription.topic, [])
        if subscription in subscribers:
            subscribers.remove(subscription)

    async def close(self) -> None:
        """Ends every subscription's iteration."""
        for subscribers in self._subscribers.values():
            for subscription in subscribers:
                subscription._end()
        self._subscribers.clear()
