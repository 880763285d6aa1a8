"""The store: one interface over SQLite (default) and PostgreSQL.

Writes come from the ingest pipeline: `write_blocks` stores a contiguous run of blocks with their
transactions, decoded events and new pools, and advances the chain's cursor, all in one transaction.
It first deletes whatever the range already holds, so re-ingesting a range never duplicates a row.
`rollback_after` removes everything derived from blocks above a number (after a reorg).

Reads are small documented helpers (`events`, `pools`, `tokens`, `latest_block`, ...) returning plain
records; other layers needing their own queries use `store.engine` with the tables in
`onchain.storage.tables`. Event args come back as dicts with exact integers.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from sqlalchemy import Index, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.schema import CreateIndex, DropIndex

from onchain.codec import encode_args
from onchain.domain.events import Event
from onchain.errors import StorageError
from onchain.storage import database, migrate
from onchain.storage.bulk import insert_rows, upsert_ignore
from onchain.storage.loader_sql import ADVANCE_CURSOR_SQL, CURSOR_QUERY, replace_blocks_sql
from onchain.storage.records import BlockRecord, BlockWrite, Cursor, PoolRecord, PreparedBlocks, TokenRecord
from onchain.storage.rows import (
    BLOCK_COLUMNS,
    EVENT_COLUMNS,
    TX_COLUMNS,
    block_record,
    event_record,
    hex_int,
    pool_record,
    stored_gas,
    token_row,
)
from onchain.storage.sqlite_loader import SqliteLoader
from onchain.storage.tables import (
    BY_BLOCK,
    DERIVED_BY_BLOCK,
    blocks,
    chains,
    cursors,
    events,
    pools,
    transactions,
)
from onchain.storage.tables import tokens as tokens_table

# Indexes only reads use (events by emitting address): inserting into one costs more than the row itself
# (the addresses land all over it), building it once over a loaded table a fraction. `deferred_indexes`.
_LOOKUP_INDEXES: tuple[Index, ...] = tuple(index for index in events.indexes if index.name == "ix_events_address")


class Store:
    """Chain data and the seed's tables behind one async interface. Open with `await Store.open(url)`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._loader: SqliteLoader | None = None

    @classmethod
    async def open(cls, url: str, *, migrate_schema: bool = True) -> Store:
        """Connect and (by default) apply pending migrations, so a fresh database is ready to use."""
        engine = database.engine_for(url)
        store = cls(engine)
        if migrate_schema:
            try:
                await store.upgrade_schema()
            except StorageError:
                await engine.dispose()
                raise
            # A load killed inside `deferred_indexes` left them dropped; the next open restores them.
            await store.build_lookup_indexes()
        return store

    async def upgrade_schema(self) -> str | None:
        """Apply pending migrations; the revision the database is at afterwards (StorageError if it cannot)."""
        try:
            return await migrate.upgrade(self.engine)
        except database.DATABASE_ERRORS as exc:
            raise StorageError(f"cannot migrate {self.engine.url.render_as_string()}: {database.reason(exc)}") from exc

    async def close(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    def transaction(self, what: str) -> AbstractAsyncContextManager[AsyncConnection]:
        """One transaction (`database.transaction`), for the store and edge modules beside it (metric
        series), so their failures are StorageError too."""
        return database.transaction(self.engine, what)

    def reading(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A read connection (`database.reading`), for the store and edge modules beside it."""
        return database.reading(self.engine)

    # ---- writes -------------------------------------------------------------------------------------

    @asynccontextmanager
    async def deferred_indexes(self) -> AsyncIterator[None]:
        """For a long load: drop the lookup-only indexes, and build them once at the end (also on error).

        Writes, reads and every guarantee stay the same meanwhile; only reads by address are slower
        until the index is back. A process killed inside gets them back at its next `Store.open`.
        """
        async with self.transaction("dropping lookup indexes") as connection:
            for index in _LOOKUP_INDEXES:
                await connection.execute(DropIndex(index, if_exists=True))
        try:
            yield
        finally:
            await self.build_lookup_indexes()

    @asynccontextmanager
    async def bulk_load(self) -> AsyncIterator[bool]:
        """For a long load: the fastest way this backend takes many batches. Yields whether `write_blocks`
        now runs beside the caller (True: the caller may decode the next batch while one is written).

        The lookup indexes are dropped and rebuilt at the end (`deferred_indexes`) on every backend. On an
        SQLite file the writes also go to a child process (`SqliteLoader`), which inserts on the second
        core while the caller decodes. Either way each batch stays one transaction with its cursor.
        """
        database = self.engine.url.database or ""
        if self.dialect != "sqlite" or database in ("", ":memory:") or self._loader is not None:
            async with self.deferred_indexes():
                yield False
            return
        async with self.deferred_indexes():
            self._loader = await SqliteLoader.start(database)
            try:
                yield True
            finally:
                loader, self._loader = self._loader, None
                await loader.close()

    async def build_lookup_indexes(self) -> None:
        """Create the lookup indexes that are missing (none, unless a load dropped them)."""
        async with self.transaction("building lookup indexes") as connection:
            for index in _LOOKUP_INDEXES:
                await connection.execute(CreateIndex(index, if_not_exists=True))

    async def holds_fewer_events_than(self, count: int) -> bool:
        """Whether fewer than `count` events are stored (reads at most `count` rows, on any backend)."""
        held = select(func.count()).select_from(select(events.c.chain).limit(count).subquery())
        async with self.reading() as connection:
            return int((await connection.execute(held)).scalar_one()) < count

    async def write_blocks(self, batch: Sequence[BlockWrite], tokens: Sequence[TokenRecord] = ()) -> Cursor | None:
        """Store ascending blocks of one chain and advance its cursor to the last, atomically.

        Rows already stored for these block numbers are replaced, so a re-run writes the same rows once.
        Batches are usually contiguous runs; sparse ones (recordings with gaps) touch only their own numbers.
        `tokens` (metadata of the batch's new pools' tokens) are added in the same transaction unless known.
        The cursor moves to the batch's last block unless it already stands higher (history rewritten).
        Returns the chain's cursor after the write, None for an empty batch.
        """
        if not batch:
            return None
        return await self.commit_blocks(self.prepare_blocks(batch, tokens))

    def prepare_blocks(self, batch: Sequence[BlockWrite], tokens: Sequence[TokenRecord] = ()) -> PreparedBlocks:
        """`write_blocks`' first half, all CPU: check the batch and turn it into rows (during a `bulk_load` on
        SQLite, into the loader's request). A pipeline prepares the next batch while the last one commits."""
        if not batch:
            raise ValueError("prepare_blocks takes at least one block")
        chain = batch[0].bundle.chain
        numbers = [item.bundle.block.number for item in batch]
        if any(item.bundle.chain != chain for item in batch):
            raise ValueError("write_blocks takes blocks of one chain")
        if any(later <= earlier for earlier, later in itertools.pairwise(numbers)):
            raise ValueError(f"write_blocks takes ascending block numbers, got {numbers[0]}..{numbers[-1]}")
        block_rows: list[tuple[Any, ...]] = []
        tx_rows: list[tuple[Any, ...]] = []
        event_rows: list[tuple[Any, ...]] = []
        pool_rows: list[dict[str, Any]] = []
        for item in batch:
            block = item.bundle.block
            block_rows.append(
                (
                    chain,
                    block.number,
                    block.hash,
                    block.parent_hash,
                    block.timestamp,
                    block.miner,
                    hex_int(block.base_fee_per_gas),
                    block.gas_used,
                    len(item.bundle.transactions) or block.transaction_count,
                    len(item.bundle.logs),
                    len(item.events),
                )
            )
            tx_rows.extend(
                (
                    chain,
                    tx.block_number,
                    tx.transaction_index,
                    tx.hash,
                    tx.from_address,
                    tx.to_address,
                    str(tx.value),
                    hex_int(tx.gas_price),
                    stored_gas(tx.gas_used),
                    tx.status,
                )
                for tx in item.bundle.transactions
            )
            event_rows.extend(
                (
                    chain,
                    ev.block_number,
                    ev.log_index,
                    ev.block_hash,
                    ev.transaction_hash,
                    ev.transaction_index,
                    ev.address,
                    ev.family,
                    ev.name,
                    ev.protocol,
                    encode_args(ev.args),
                )
                for ev in item.events
            )
            pool_rows.extend(
                {
                    "chain": pool.chain,
                    "address": pool.address,
                    "protocol": pool.protocol,
                    "family": pool.family,
                    "token0": pool.token0,
                    "token1": pool.token1,
                    "fee": pool.fee,
                    "factory": pool.factory,
                    "created_block": pool.created_block,
                }
                for pool in item.pools
            )
        last = batch[-1].bundle.block
        prepared = PreparedBlocks(
            chain, numbers, block_rows, tx_rows, event_rows, pool_rows, [token_row(t) for t in tokens],
            Cursor(chain, last.number, last.hash),
        )
        if self._loader is not None:
            statements = replace_blocks_sql(prepared)
            statements.append((ADVANCE_CURSOR_SQL, [(chain, last.number, last.hash)]))
            prepared.loader_request = self._loader.request(statements, CURSOR_QUERY, (chain,))
        return prepared

    async def commit_blocks(self, prepared: PreparedBlocks) -> Cursor:
        """`write_blocks`' second half: one transaction writing what `prepare_blocks` made, cursor included."""
        chain, numbers, high = prepared.chain, prepared.numbers, prepared.numbers[-1]
        what = f"writing {chain} blocks {numbers[0]}..{high}"
        if prepared.loader_request is not None:
            if self._loader is None:
                raise StorageError(f"{what} failed: prepared for a bulk load that has ended")
            (number, block_hash), = await self._loader.run(what, prepared.loader_request)
            return Cursor(chain, number, block_hash)
        last = prepared.last
        async with self.transaction(what) as connection:
            await self._delete_blocks(connection, chain, numbers)
            await upsert_ignore(connection, chains, [{"name": chain, "chain_id": None}], ("name",))
            await insert_rows(connection, blocks, BLOCK_COLUMNS, prepared.block_rows)
            await insert_rows(connection, transactions, TX_COLUMNS, prepared.tx_rows)
            await insert_rows(connection, events, EVENT_COLUMNS, prepared.event_rows)
            await upsert_ignore(connection, pools, prepared.pool_rows, ("chain", "address"))
            await upsert_ignore(connection, tokens_table, prepared.token_rows, ("chain", "address"))
            ahead = (
                await connection.execute(select(cursors).where(cursors.c.chain == chain, cursors.c.block_number > high))
            ).one_or_none()
            if ahead is not None:
                # Rewriting older blocks (a replay of history) never moves the cursor back; only a rollback does.
                return Cursor(chain, ahead.block_number, ahead.block_hash)
            await self._set_cursor(connection, chain, last.block_number, last.block_hash)
        return last

    async def _delete_blocks(self, connection: AsyncConnection, chain: str, numbers: Sequence[int]) -> None:
        """Delete what is stored for these blocks: by range when they are contiguous, else number by number."""
        low, high = numbers[0], numbers[-1]
        contiguous = high - low + 1 == len(numbers)
        for table, column in BY_BLOCK:
            if contiguous:
                await connection.execute(delete(table).where(table.c.chain == chain, column.between(low, high)))
                continue
            for start in range(0, len(numbers), 500):
                chunk = numbers[start : start + 500]
                await connection.execute(delete(table).where(table.c.chain == chain, column.in_(chunk)))

    async def _set_cursor(self, connection: AsyncConnection, chain: str, number: int, block_hash: str) -> None:
        await connection.execute(delete(cursors).where(cursors.c.chain == chain))
        await connection.execute(cursors.insert().values(chain=chain, block_number=number, block_hash=block_hash))

    async def rollback_after(self, chain: str, number: int) -> Cursor | None:
        """Delete everything derived from blocks above `number` and move the cursor back to `number`.

        Returns the new cursor; None when block `number` itself is not stored (the cursor is then removed).
        """
        async with self.transaction(f"rolling back {chain} after {number}") as connection:
            for table, column in (*BY_BLOCK, *DERIVED_BY_BLOCK):
                await connection.execute(delete(table).where(table.c.chain == chain, column > number))
            kept_query = select(blocks.c.hash).where(blocks.c.chain == chain, blocks.c.number == number)
            kept = (await connection.execute(kept_query)).scalar_one_or_none()
            if kept is None:
                await connection.execute(delete(cursors).where(cursors.c.chain == chain))
                return None
            await self._set_cursor(connection, chain, number, kept)
            return Cursor(chain, number, kept)

    async def set_chain_id(self, chain: str, chain_id: int | None) -> None:
        """Record a chain's numeric id (the registry's), creating the chain row if needed."""
        async with self.transaction(f"saving chain {chain}") as connection:
            await upsert_ignore(connection, chains, [{"name": chain, "chain_id": chain_id}], ("name",))
            await connection.execute(update(chains).where(chains.c.name == chain).values(chain_id=chain_id))

    async def upsert_tokens(self, records: Iterable[TokenRecord]) -> int:
        """Insert or refresh token metadata (symbol, name, decimals); returns how many were given."""
        rows = [token_row(t) for t in records]
        if not rows:
            return 0
        table = tokens_table
        async with self.transaction("saving tokens") as connection:
            for chain in {row["chain"] for row in rows}:
                addresses = [row["address"] for row in rows if row["chain"] == chain]
                for start in range(0, len(addresses), 500):
                    chunk = addresses[start : start + 500]
                    await connection.execute(delete(table).where(table.c.chain == chain, table.c.address.in_(chunk)))
            await connection.execute(table.insert(), rows)
        return len(rows)

    async def upsert_pools(self, records: Iterable[PoolRecord]) -> int:
        """Add pools known without a creation event (config, lists); existing rows are left as they are."""
        rows = [
            {
                "chain": p.chain,
                "address": p.address,
                "protocol": p.protocol,
                "family": p.family,
                "token0": p.token0,
                "token1": p.token1,
                "fee": p.fee,
                "factory": p.factory,
                "created_block": p.created_block,
            }
            for p in records
        ]
        async with self.transaction("saving pools") as connection:
            await upsert_ignore(connection, pools, rows, ("chain", "address"))
        return len(rows)

    # ---- reads --------------------------------------------------------------------------------------

    async def cursor(self, chain: str) -> Cursor | None:
        """The last committed block of `chain`, None before the first write."""
        async with self.reading() as connection:
            row = (await connection.execute(select(cursors).where(cursors.c.chain == chain))).one_or_none()
        return None if row is None else Cursor(row.chain, row.block_number, row.block_hash)

    async def block_hash(self, chain: str, number: int) -> str | None:
        query = select(blocks.c.hash).where(blocks.c.chain == chain, blocks.c.number == number)
        async with self.reading() as connection:
            return (await connection.execute(query)).scalar_one_or_none()

    async def block_hashes(self, chain: str, low: int, high: int) -> dict[int, str]:
        """Stored hashes of blocks `low..high` inclusive, by number (missing numbers are absent)."""
        in_range = (blocks.c.chain == chain) & blocks.c.number.between(low, high)
        query = select(blocks.c.number, blocks.c.hash).where(in_range)
        async with self.reading() as connection:
            return {number: block_hash for number, block_hash in await connection.execute(query)}

    async def latest_block(self, chain: str) -> BlockRecord | None:
        """The highest stored block of `chain` (its head as far as we know)."""
        async with self.reading() as connection:
            row = (
                await connection.execute(
                    select(blocks).where(blocks.c.chain == chain).order_by(blocks.c.number.desc()).limit(1)
                )
            ).one_or_none()
        return None if row is None else block_record(row)

    async def heads(self) -> dict[str, BlockRecord]:
        """The highest stored block of every chain, by chain name."""
        async with self.reading() as connection:
            top = select(blocks.c.chain, func.max(blocks.c.number).label("number")).group_by(blocks.c.chain).subquery()
            rows = (
                await connection.execute(
                    select(blocks).join(top, (blocks.c.chain == top.c.chain) & (blocks.c.number == top.c.number))
                )
            ).all()
        return {row.chain: block_record(row) for row in rows}

    async def blocks(self, chain: str, from_block: int | None = None, to_block: int | None = None) -> list[BlockRecord]:
        """Stored blocks of `chain` in ascending order, optionally within `from_block..to_block` inclusive."""
        query = select(blocks).where(blocks.c.chain == chain)
        if from_block is not None:
            query = query.where(blocks.c.number >= from_block)
        if to_block is not None:
            query = query.where(blocks.c.number <= to_block)
        async with self.reading() as connection:
            rows = (await connection.execute(query.order_by(blocks.c.number))).all()
        return [block_record(row) for row in rows]

    async def events(
        self,
        chain: str | None = None,
        *,
        kinds: Sequence[str] | None = None,
        address: str | None = None,
        protocol: str | None = None,
        from_block: int | None = None,
        to_block: int | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Event]:
        """Decoded events in chain order, filtered by any of: chain, kinds (`"uniswap_v2.Swap"`, i.e.
        `family.name`), emitting address, protocol slug, block range (inclusive). `limit` caps the count.
        """
        query = select(events)
        if chain is not None:
            query = query.where(events.c.chain == chain)
        if kinds:
            pairs = [kind.split(".", 1) for kind in kinds]
            if any(len(pair) != 2 for pair in pairs):
                raise ValueError(f"event kinds look like family.Name, got {list(kinds)}")
            condition = None
            for family, name in pairs:
                clause = (events.c.family == family) & (events.c.name == name)
                condition = clause if condition is None else condition | clause
            query = query.where(condition)  # type: ignore[arg-type]
        if address is not None:
            query = query.where(events.c.address == address.lower())
        if protocol is not None:
            query = query.where(events.c.protocol == protocol)
        if from_block is not None:
            query = query.where(events.c.block_number >= from_block)
        if to_block is not None:
            query = query.where(events.c.block_number <= to_block)
        order = (events.c.chain, events.c.block_number, events.c.log_index)
        query = query.order_by(*(column.desc() for column in order) if newest_first else order)
        if limit is not None:
            query = query.limit(limit)
        async with self.reading() as connection:
            rows = (await connection.execute(query)).all()
        return [event_record(row) for row in rows]

    async def event_counts(self, chain: str | None = None) -> dict[str, int]:
        """Stored events per kind (`family.name`)."""
        query = select(events.c.family, events.c.name, func.count()).group_by(events.c.family, events.c.name)
        if chain is not None:
            query = query.where(events.c.chain == chain)
        async with self.reading() as connection:
            rows = (await connection.execute(query)).all()
        return {f"{family}.{name}": count for family, name, count in rows}

    async def pools(self, chain: str | None = None, protocol: str | None = None) -> list[PoolRecord]:
        """Known pools, optionally of one chain and/or protocol slug, ordered by chain and address."""
        query = select(pools)
        if chain is not None:
            query = query.where(pools.c.chain == chain)
        if protocol is not None:
            query = query.where(pools.c.protocol == protocol)
        async with self.reading() as connection:
            rows = (await connection.execute(query.order_by(pools.c.chain, pools.c.address))).all()
        return [pool_record(row) for row in rows]

    async def pool(self, chain: str, address: str) -> PoolRecord | None:
        query = select(pools).where(pools.c.chain == chain, pools.c.address == address.lower())
        async with self.reading() as connection:
            row = (await connection.execute(query)).one_or_none()
        return None if row is None else pool_record(row)

    async def tokens(self, chain: str | None = None) -> list[TokenRecord]:
        query = select(tokens_table)
        if chain is not None:
            query = query.where(tokens_table.c.chain == chain)
        async with self.reading() as connection:
            rows = (await connection.execute(query.order_by(tokens_table.c.chain, tokens_table.c.address))).all()
        return [TokenRecord(row.chain, row.address, row.symbol, row.decimals, row.name) for row in rows]

    async def token(self, chain: str, address: str) -> TokenRecord | None:
        query = select(tokens_table).where(tokens_table.c.chain == chain, tokens_table.c.address == address.lower())
        async with self.reading() as connection:
            row = (await connection.execute(query)).one_or_none()
        return None if row is None else TokenRecord(row.chain, row.address, row.symbol, row.decimals, row.name)

    async def ping(self) -> bool:
        """True when the database answers (for /health)."""
        try:
            async with self.reading() as connection:
                await connection.execute(select(1))
        except StorageError:
            return False
        return True
