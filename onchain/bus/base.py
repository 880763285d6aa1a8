"""The bus interface: topics carry JSON messages from the pipeline to everyone downstream.

Delivery is fan-out and at-most-once: every current subscriber of a topic gets each message published
after it subscribed; nothing is replayed. Messages are published only after the data they describe
is committed, so a subscriber may always read the store for more.

The topics and their payloads (JSON objects; integers exact, any size) are defined in
`onchain.domain.topics`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from onchain.codec import dumps
from onchain.errors import OnchainError


class BusError(OnchainError):
    """The message broker refused or dropped a publish or subscribe."""


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    data: bytes

    def json(self) -> Any:
        """The payload decoded (stdlib json: orjson would turn integers beyond 64 bits into floats)."""
        return json.loads(self.data)


def encode(payload: bytes | dict[str, Any]) -> bytes:
    """JSON bytes with exact integers of any size."""
    return payload if isinstance(payload, bytes) else dumps(payload)


class Subscription(Protocol):
    """Messages of one topic in publication order; iterate it, and close it when done."""

    topic: str

    def __aiter__(self) -> AsyncIterator[Message]: ...

    async def get(self, timeout: float | None = None) -> Message:
        """The next message; raises TimeoutError after `timeout` seconds without one."""
        ...

    async def close(self) -> None: ...


class Bus(Protocol):
    async def publish(self, topic: str, payload: bytes | dict[str, Any]) -> None:
        """Send to every current subscriber of `topic`; dicts are encoded as JSON."""
        ...

    async def subscribe(self, topic: str) -> Subscription:
        """A subscription that receives every message published after this call returns."""
        ...

    def may_have_subscribers(self, topic: str) -> bool:
        """False only when nobody can receive `topic` now, so a publisher may skip building the payload."""
        ...

    async def close(self) -> None: ...
