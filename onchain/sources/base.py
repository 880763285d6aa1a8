"""The one interface every chain source implements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from onchain.domain.chain import BlockBundle


class Source(Protocol):
    """A chain's blocks in order. Live sources follow the head; recorded ones end."""

    chain: str

    async def head(self) -> int:
        """The newest block number the source can deliver."""
        ...

    async def block_hash(self, number: int) -> str | None:
        """The canonical hash at `number` now (None if unknown); used to find reorgs."""
        ...

    def bundles(self, start: int, end: int | None = None) -> AsyncIterator[BlockBundle]:
        """Bundles from `start` to `end` inclusive; `end=None` follows the head forever."""
        ...

    async def close(self) -> None: ...
