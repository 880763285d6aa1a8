"""Issue 20: the ingest `onchain serve` runs in the background across a database outage (SQLite and
PostgreSQL), and what /health says meanwhile.

While the database is away the chain's ingest is `stalled` in /health (the database itself unhealthy);
when it is back the ingest goes on and stores every block once. An ingest that failed for good (a source
sending garbage) is `stopped` there, where before only a lag growing later would have shown it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from onchain.api import create_app
from onchain.bus import MemoryBus
from onchain.config import Settings
from onchain.errors import MalformedResponseError
from onchain.metrics.service import MarketService
from onchain.runtime import Runtime
from onchain.storage import Store
from tests.integration.api.conftest import serving
from tests.integration.storage.outage import database_gone
from tests.integration.storage.test_pipeline_outage import DEADLINE, GatedSource, until
from tests.unit.ingest.bundles import ListSource, etl_bundles


async def test_background_ingest_is_stalled_in_health_while_the_database_is_away_then_goes_on(
    store: Store, chaindata: Path, tmp_path: Path
) -> None:
    first, second = etl_bundles(chaindata / "ethereum-etl-17173049")
    source = GatedSource([first, second], gated=second.block.number)
    runtime = Runtime(Settings(data_dir=tmp_path), store, MemoryBus())
    app = create_app(Settings(data_dir=tmp_path), runtime, market=MarketService(store, runtime.bus))
    async with serving(app) as address, httpx.AsyncClient(base_url=f"http://{address}", timeout=10) as api:
        ingest = runtime.start_ingest(source, start=first.block.number)
        try:
            await until(lambda: source.waiting.is_set(), "the first block")
            await until(lambda: "ethereum" in runtime.ingesting, "the pipeline")
            async with database_gone(store):
                source.gate.set()
                await until(lambda: runtime.ingest_states() == {"ethereum": "stalled"} or ingest.done(), "a stall")
                assert not ingest.done(), "the ingest stopped while the database was away"
                answer = await api.get("/health")
                assert answer.status_code == 503
                body = answer.json()
                assert body["services"]["ingest"] == "degraded"
                assert body["chains"]["ethereum"]["ingest"] == "stalled"
            stats = await asyncio.wait_for(ingest, DEADLINE)
        finally:
            ingest.cancel()
        assert (stats.blocks, stats.last_block) == (2, second.block.number)
        assert [b.number for b in await store.blocks("ethereum")] == [first.block.number, second.block.number]
        body = (await api.get("/health")).json()
        assert body["status"] == "healthy" and "ingest" not in body["chains"]["ethereum"]
    await runtime.bus.close()


async def test_an_ingest_that_failed_for_good_is_stopped_in_health(
    store: Store, chaindata: Path, tmp_path: Path
) -> None:
    recorded = etl_bundles(chaindata / "ethereum-etl-17173049")
    runtime = Runtime(Settings(data_dir=tmp_path), store, MemoryBus())
    ingest = runtime.start_ingest(ListSource(recorded, fail_at=recorded[1].block.number),
                                  start=recorded[0].block.number)
    with pytest.raises(MalformedResponseError):
        await asyncio.wait_for(ingest, DEADLINE)
    assert runtime.ingest_states() == {"ethereum": "stopped"}
    app = create_app(Settings(data_dir=tmp_path), runtime, market=MarketService(store, runtime.bus))
    async with serving(app) as address, httpx.AsyncClient(base_url=f"http://{address}", timeout=10) as api:
        body = (await api.get("/health")).json()
    assert body["status"] == "degraded" and body["services"]["ingest"] == "degraded"
    assert body["chains"]["ethereum"]["ingest"] == "stopped"
    await runtime.bus.close()
