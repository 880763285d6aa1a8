"""Issue 20: an ingest pipeline following a chain survives its database going away (SQLite and PostgreSQL).

The database goes while a block that creates a pool is being decoded, and comes back after several
failed tries: the pipeline goes on from its cursor and the database ends up as an uninterrupted run
leaves it (every block once, every event once, the new pool recorded), with one log line for the
outage and one for its end. When it goes between a batch's commit and its MEV findings, the findings
are stored once it is back, without ingesting the batch again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from onchain.analytics.mev.service import MevService
from onchain.bus import MemoryBus
from onchain.domain.chain import BlockBundle
from onchain.ingest.pipeline import Pipeline
from onchain.ingest.stats import IngestStats
from onchain.outage import Backoff
from onchain.protocols import Decoder
from onchain.storage import Store
from onchain.storage.records import BlockWrite
from tests.integration.storage.databases import dump, fresh_postgres
from tests.integration.storage.outage import database_gone
from tests.integration.storage.test_pipeline import with_new_pair
from tests.unit.ingest.bundles import ListSource, etl_bundles

DEADLINE = 30.0
FAILED_TRIES = 4


class GatedSource(ListSource):
    """Recorded blocks that stop before block `gated` until `gate` is set, on the first pass only."""

    def __init__(self, bundles: list[BlockBundle], gated: int) -> None:
        super().__init__(bundles)
        self.gated = gated
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()

    async def bundles(self, start: int, end: int | None = None) -> AsyncIterator[BlockBundle]:
        async for bundle in super().bundles(start, end):
            if bundle.block.number == self.gated and not self.gate.is_set():
                self.waiting.set()
                await self.gate.wait()
            yield bundle


async def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


@asynccontextmanager
async def another_database(store: Store, tmp_path: Path) -> AsyncIterator[Store]:
    """An empty database on the same backend as `store`."""
    if store.dialect == "sqlite":
        async with await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'reference.db'}") as reference:
            yield reference
        return
    server = store.engine.url.render_as_string(hide_password=False)
    async with fresh_postgres(server) as url, await Store.open(url) as reference:
        yield reference


def following(store: Store, source: ListSource, **options: object) -> Pipeline:
    return Pipeline("ethereum", source, Decoder("ethereum"), store, MemoryBus(), batch_delay=0.01,  # type: ignore[arg-type]
                    **options)


async def test_a_following_pipeline_outlives_the_database_going_away_and_stores_each_block_once(
    store: Store, chaindata: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = etl_bundles(chaindata / "ethereum-etl-17173049")
    second, pair = with_new_pair(second)
    source = GatedSource([first, second], gated=second.block.number)
    committed: list[int | None] = []

    def on_commit(stats: IngestStats) -> None:
        committed.append(stats.last_block)

    caplog.set_level(logging.INFO, logger="onchain.ingest.pipeline")
    pipeline = following(store, source, retry_storage=Backoff(0.02, 0.1), on_commit=on_commit)
    running = asyncio.create_task(pipeline.run(first.block.number, None))
    try:
        await until(lambda: committed == [first.block.number] and source.waiting.is_set(), "the first block")
        async with database_gone(store):
            source.gate.set()  # the second block comes, is decoded (learning the pool) and fails to commit
            await until(lambda: pipeline.storing.failures >= FAILED_TRIES or running.done(), "failed tries")
            assert not running.done(), "the pipeline stopped while the database was away"
        stats = await asyncio.wait_for(running, DEADLINE)
    finally:
        running.cancel()
    assert committed == [first.block.number, second.block.number]
    assert not pipeline.storing.failing

    async with another_database(store, tmp_path) as reference:
        uninterrupted = await following(reference, ListSource([first, second])).run(first.block.number, None)
        per_block = [(b.number, b.event_count) for b in await reference.blocks("ethereum")]
        assert [(b.number, b.event_count) for b in await store.blocks("ethereum")] == per_block
        assert await dump(store) == await dump(reference)
    events = await store.events("ethereum")
    assert len({(e.block_number, e.log_index) for e in events}) == len(events) == sum(n for _, n in per_block)
    assert stats.summary() == uninterrupted.summary()
    assert pair in {pool.address for pool in await store.pools("ethereum")}

    records = [r for r in caplog.records if r.name == "onchain.ingest.pipeline" and "ingest of" in r.getMessage()]
    assert all(r.exc_info is None for r in records), "a traceback was logged"
    assert [r.getMessage().split(":")[0].split(" after")[0] for r in records] == [
        "ingest of ethereum failing", "ingest of ethereum works again"
    ]


async def test_mev_detection_the_database_failed_after_a_commit_runs_again_without_ingesting_twice(
    store: Store, chaindata: Path
) -> None:
    first, second = etl_bundles(chaindata / "ethereum-etl-17173049")
    source = ListSource([first, second])
    mev = MevService(store, MemoryBus())
    calls: list[list[int]] = []

    async def after_commit(batch: Sequence[BlockWrite]) -> None:
        numbers = [write.bundle.block.number for write in batch]
        calls.append(numbers)
        if numbers == [second.block.number] and calls.count(numbers) == 1:
            async with database_gone(store):  # gone between the blocks' commit and their MEV findings
                await mev.committed(batch)
        await mev.committed(batch)

    pipeline = following(store, source, batch_blocks=1, retry_storage=Backoff(0.02, 0.1), after_commit=after_commit)
    stats = await asyncio.wait_for(pipeline.run(first.block.number, None), DEADLINE)
    assert calls == [[first.block.number], [second.block.number], [second.block.number]]
    assert source.requests == [(first.block.number, None), (second.block.number + 1, None)]  # nothing re-ingested
    assert (stats.blocks, mev.stats.blocks) == (2, 2)
    assert [b.number for b in await store.blocks("ethereum")] == [first.block.number, second.block.number]
