"""Replay pacing: deliver recorded blocks at a multiple of the chain's own clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from onchain.domain.chain import BlockBundle
from onchain.sources.base import Source


class Paced:
    """Wraps a source so block N+1 arrives (timestamp gap / `speed`) seconds after block N.

    `speed=1` is real time, `speed=10` ten times faster. Gaps are capped at `max_gap` chain seconds, so a
    recording of blocks years apart (selected MEV blocks) still replays block by block.
    """

    def __init__(self, source: Source, speed: float, max_gap: float = 12.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.source = source
        self.chain = source.chain
        self.speed = speed
        self.max_gap = max_gap

    async def head(self) -> int:
        return await self.source.head()

    async def block_hash(self, number: int) -> str | None:
        return await self.source.block_hash(number)

    async def bundles(self, start: int, end: int | None = None) -> AsyncIterator[BlockBundle]:
        previous: int | None = None
        async for bundle in self.source.bundles(start, end):
            if previous is not None:
                gap = min(max(bundle.block.timestamp - previous, 0), self.max_gap)
                await asyncio.sleep(gap / self.speed)
            previous = bundle.block.timestamp
            yield bundle

    async def close(self) -> None:
        await self.source.close()
