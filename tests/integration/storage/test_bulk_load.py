"""Long loads: same database as batch-by-batch writes, whatever the backend does to go faster.

On an SQLite file a long load writes through the loader process, beside the decoding; on PostgreSQL it
builds the events-by-address index once at the end. Either way: same rows, same cursor, whole
transactions only (also when the load fails or the process is killed), indexes always back.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from onchain.bus import MemoryBus
from onchain.domain.chain import BlockBundle
from onchain.errors import MalformedResponseError, StorageError
from onchain.ingest.pipeline import Pipeline
from onchain.protocols import Decoder
from onchain.storage import BlockWrite, PoolRecord, Store, TokenRecord
from onchain.storage.sqlite_loader import SqliteLoader
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


async def test_long_load_gives_the_same_database(store: Store, chain: list[BlockBundle]) -> None:
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


async def test_an_sqlite_long_load_writes_through_the_loader_process(tmp_path: Path, chain: list[BlockBundle]) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'onchain.db'}")
    try:
        async with store.bulk_load() as beside:
            assert beside
            loader = store._loader
            assert loader is not None
            await store.write_blocks([BlockWrite(bundle) for bundle in chain[:3]])
        assert store._loader is None
        assert loader._process.returncode == 0
        assert [b.number for b in await store.blocks("ethereum")] == [100, 101, 102]
    finally:
        await store.close()


async def test_loader_writes_equal_batch_writes_for_every_kind_of_batch(
    tmp_path: Path, chain: list[BlockBundle]
) -> None:
    """Contiguous and sparse batches, new pools and tokens, and a rewrite of history below the cursor."""
    pool = PoolRecord("ethereum", "0x" + "ab" * 20, "uniswap_v2", "0x" + "01" * 20, "0x" + "02" * 20,
                      "uniswap_v2", 3000, "0x" + "cd" * 20, 101)
    token = TokenRecord("ethereum", "0x" + "01" * 20, "ONE", 18, "One")
    writes = [BlockWrite(b, Decoder("ethereum").decode(b.logs).events) for b in chain]
    writes[1] = BlockWrite(writes[1].bundle, writes[1].events, [pool])
    dumps = []
    for bulk in (False, True):
        store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / f'bulk-{bulk}.db'}")
        try:
            async with store.bulk_load() if bulk else contextlib.nullcontext(False) as beside:
                assert beside is bulk
                cursors = [
                    await store.write_blocks(writes[0:2], tokens=[token]),
                    await store.write_blocks([writes[2], writes[4]]),  # sparse: 102 and 104
                    await store.write_blocks(writes[3:6]),
                    await store.write_blocks(writes[0:2], tokens=[token]),  # history again: cursor stays at 105
                ]
            assert [(c.block_number, c.block_hash) for c in cursors if c is not None] == [
                (101, chain[1].block.hash), (104, chain[4].block.hash), (105, chain[5].block.hash),
                (105, chain[5].block.hash),
            ]
            dumps.append(await dump(store))
        finally:
            await store.close()
    assert dumps[0] == dumps[1]
    assert len(dumps[0]["events"]) == sum(len(w.events) for w in writes)
    assert dumps[0]["pools"] and dumps[0]["tokens"]


async def test_a_failed_loader_transaction_leaves_nothing_and_the_loader_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "loader.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    loader = await SqliteLoader.start(str(path))
    try:
        insert = "INSERT INTO t (k, v) VALUES (?, ?)"
        count = ("SELECT count(*) FROM t", ())
        with pytest.raises(StorageError, match="writing things failed: IntegrityError: UNIQUE constraint failed"):
            await loader.run("writing things", loader.request([(insert, [(1, "a"), (2, "b")]), (insert, [(1, "c")])],
                                                              *count))
        assert await loader.run("writing", loader.request([(insert, [(3, "c")])], *count)) == [[1]]
    finally:
        await loader.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT k, v FROM t").fetchall() == [(3, "c")]


async def test_a_dead_loader_process_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "loader.db"
    sqlite3.connect(path).close()
    loader = await SqliteLoader.start(str(path))
    loader._process.kill()
    loader._process.wait()
    with pytest.raises(StorageError, match="the SQLite loader process stopped"):
        await loader.run("writing", loader.request([("CREATE TABLE t (k INTEGER)", [()])], "SELECT 1", ()))
    await loader.close()


_LOAD_SCRIPT = """
import asyncio, sys
from pathlib import Path
from onchain.bus import MemoryBus
from onchain.ingest.pipeline import Pipeline
from onchain.protocols import Decoder
from onchain.storage import BlockWrite, PoolRecord, Store, TokenRecord
from onchain.storage.sqlite_loader import SqliteLoader
from tests.unit.ingest.bundles import ListSource, etl_bundles, synthetic_chain

class SlowSource(ListSource):
    async def bundles(self, start, end=None):
        async for bundle in super().bundles(start, end):
            await asyncio.sleep(float(sys.argv[3]))
            yield bundle

async def main():
    chain = synthetic_chain(etl_bundles(Path(sys.argv[2])), 100, 60, "0x" + "00" * 32)
    store = await Store.open(sys.argv[1])
    pipeline = Pipeline("ethereum", SlowSource(chain), Decoder("ethereum"), store, MemoryBus(), batch_blocks=3,
                        defer_indexes_from=2)
    await pipeline.run(100, 159)
    await store.close()

asyncio.run(main())
"""


async def test_a_long_load_killed_then_rerun_equals_one_clean_run(tmp_path: Path, chaindata: Path) -> None:
    dataset = str(chaindata / "ethereum-etl-17173049")
    root = Path(__file__).resolve().parents[3]

    def load(url: str, delay: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", _LOAD_SCRIPT, url, dataset, delay], cwd=root,
                                stderr=subprocess.PIPE)

    clean = tmp_path / "clean.db"
    assert load(f"sqlite:///{clean}", "0").wait(120) == 0
    crashed = tmp_path / "crashed.db"
    process = load(f"sqlite:///{crashed}", "0.05")
    try:
        deadline = time.monotonic() + 60
        while (_committed(crashed) or 0) < 110:
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "no batch was committed"
            await asyncio.sleep(0.05)
    finally:
        process.kill()
        process.communicate(timeout=30)
    assert (_committed(crashed) or 0) < 159
    assert load(f"sqlite:///{crashed}", "0").wait(120) == 0
    stores = [await Store.open(f"sqlite+aiosqlite:///{path}") for path in (clean, crashed)]
    try:
        assert await dump(stores[0]) == await dump(stores[1])
    finally:
        for store in stores:
            await store.close()


def _committed(path: Path) -> int | None:
    if not path.exists():
        return None
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
    try:
        row = connection.execute("SELECT block_number FROM cursors WHERE chain = 'ethereum'").fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        connection.close()
    return None if row is None else int(row[0])
