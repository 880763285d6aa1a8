"""Issue 20: the market service's reorg follower outlives a database outage (SQLite and PostgreSQL).

A reorg makes the market rebuild its state from storage; when the database is away the rebuild fails
half-way, so it is retried (one log line for the outage, one for its end) until the state is whole again,
instead of the task ending silently and the market staying empty until the next reorg.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from onchain.bus import MemoryBus
from onchain.domain.topics import REORG
from onchain.ingest.pipeline import Pipeline
from onchain.metrics.service import MarketService
from onchain.outage import Backoff
from onchain.protocols import Decoder
from onchain.storage import Store
from tests.integration.storage.outage import database_gone
from tests.unit.ingest.bundles import ListSource, etl_bundles

DEADLINE = 15.0
FAILED_TRIES = 3
LOGGER = "onchain.metrics.service"


async def logged(caplog: pytest.LogCaptureFixture, what: str, times: int = 1) -> list[str]:
    deadline = time.monotonic() + DEADLINE
    while True:
        records = [r for r in caplog.records if r.name == LOGGER]
        assert all(r.exc_info is None for r in records), "a traceback was logged"
        found = [r.getMessage() for r in records]
        if sum(what in line for line in found) >= times:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what!r} in {found}"
        await asyncio.sleep(0.02)


async def test_a_rebuild_after_a_reorg_is_retried_until_the_database_answers(
    store: Store, chaindata: Path, caplog: pytest.LogCaptureFixture
) -> None:
    recorded = etl_bundles(chaindata / "ethereum-etl-17173049")
    bus = MemoryBus()
    await Pipeline("ethereum", ListSource(recorded), Decoder("ethereum"), store, bus).run(  # type: ignore[arg-type]
        recorded[0].block.number, recorded[-1].block.number)
    caplog.set_level(logging.INFO, logger=LOGGER)
    market = MarketService(store, bus, retry=Backoff(0.02, 0.1))
    await market.start()
    try:
        whole = dict(market.state.heads)
        assert whole["ethereum"][0] == recorded[-1].block.number
        async with database_gone(store):
            await bus.publish(REORG, {"chain": "ethereum", "ancestor": recorded[0].block.number})
            await logged(caplog, "rebuilding after a reorg) failing")
            await asyncio.sleep(0.3)  # a few more tries while the database stays away
            assert market.state.heads != whole  # the failed rebuild left the state partial
        lines = await logged(caplog, "rebuilding after a reorg) works again")
        assert market.state.heads == whole
        assert len(lines) == 2
        assert lines[0].startswith("market service (rebuilding after a reorg) failing: StorageError")
        assert lines[1].startswith("market service (rebuilding after a reorg) works again")
    finally:
        await market.stop()
