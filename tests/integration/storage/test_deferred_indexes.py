"""A long load builds the events-by-address index once at the end: same database, index always back."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from onchain.bus import MemoryBus
from onchain.domain.chain import BlockBundle
from onchain.errors import MalformedResponseError
from onchain.ingest.pipeline import Pipeline
from onchain.protocols import Decoder
from onchain.storage import Store
from tests.integration.storage.databases import dump
from tests.unit.ingest.bundles import ListSource, etl_bundles, synthetic_chain

GENESIS = "0x" + "00" * 32


@pytest.fixture
def chain(chaindata: Path) -> list[BlockBundle]:
    return synthetic_chain(etl_bundles(chaindata / "ethereum-etl-17173049"), 100, 6, GENESIS)


async def _event_indexes(store: Store) -> set[str]:
    def names(connection: Connection) -> set[str]:
        return {str(index["name"]) for index in inspect(connection).get_indexes("events")}

    async with store.engine.connect() as connection:
        return await connection.run_sync(names)


def _pipeline(store: Store, source: ListSource, defer_from: int) -> Pipeline:
    return Pipeline("ethereum", source, Decoder("ethereum"), store, MemoryBus(), batch_blocks=2,  # type: ignore[arg-type]
                    defer_indexes_from=defer_from)


async def test_deferred_load_gives_the_same_database(store: Store, chain: list[BlockBundle]) -> None:
    assert "ix_events_address" in await _event_indexes(store)
    async with store.deferred_indexes():
        assert "ix_events_address" not in await _event_indexes(store)
    assert "ix_events_address" in await _event_indexes(store)
    await _pipeline(store, ListSource(chain), defer_from=10**9).run(100, 105)
    kept = await dump(store)
    await store.rollback_after("ethereum", 99)
    assert await store.holds_fewer_events_than(1)
    await _pipeline(store, ListSource(chain), defer_from=2).run(100, 105)
    assert await dump(store) == kept
    assert "ix_events_address" in await _event_indexes(store)
    assert not await store.holds_fewer_events_than(len(kept["events"]))
    assert await store.holds_fewer_events_than(len(kept["events"]) + 1)


async def test_index_is_back_after_a_failed_load(store: Store, chain: list[BlockBundle]) -> None:
    with pytest.raises(MalformedResponseError):
        await _pipeline(store, ListSource(chain, fail_at=103), defer_from=2).run(100, 105)
    assert "ix_events_address" in await _event_indexes(store)
    assert [b.number for b in await store.blocks("ethereum")] == [100, 101, 102]


async def test_a_load_killed_with_the_index_dropped_gets_it_back_at_the_next_open(store_url: str) -> None:
    store = await Store.open(store_url)
    async with store.engine.begin() as connection:  # what a process killed inside a load leaves behind
        await connection.execute(text("DROP INDEX ix_events_address"))
    assert "ix_events_address" not in await _event_indexes(store)
    await store.close()
    reopened = await Store.open(store_url)
    try:
        assert "ix_events_address" in await _event_indexes(reopened)
    finally:
        await reopened.close()
