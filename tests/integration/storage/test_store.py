"""The store on real SQLite and PostgreSQL: schema, idempotent writes, exact big integers, rollback."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select

from onchain.domain.chain import BlockBundle
from onchain.domain.events import Event
from onchain.errors import StorageError
from onchain.schema import metadata
from onchain.storage import BlockWrite, Cursor, PoolRecord, Store, TokenRecord
from onchain.storage.migrate import current_revision, head_revision
from onchain.storage.tables import events, protocol_metrics, protocols, transactions
from tests.integration.storage.databases import dump
from tests.unit.ingest.bundles import etl_bundles, synthetic_chain

TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
WETH = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
USDT = "0xdac17f958d2ee523a2206206994597c13d831ec7"


def transfers(bundle: BlockBundle) -> list[Event]:
    """ERC-20 Transfer events read off the raw logs by hand (no decoder), values as exact ints."""
    out = []
    for log in bundle.logs:
        if len(log.topics) == 3 and log.topics[0] == TRANSFER and len(log.data) == 66:
            args = {"from": "0x" + log.topics[1][26:], "to": "0x" + log.topics[2][26:], "value": int(log.data, 16)}
            out.append(
                Event(
                    bundle.chain,
                    log.block_number,
                    log.block_hash,
                    log.transaction_hash,
                    log.transaction_index,
                    log.log_index,
                    log.address,
                    "erc20",
                    "Transfer",
                    None,
                    args,
                )
            )
    return out


@pytest.fixture
def real_blocks(chaindata: Path) -> list[BlockWrite]:
    return [BlockWrite(b, transfers(b)) for b in etl_bundles(chaindata / "ethereum-etl-17173049")]


async def test_migrations_build_exactly_the_declared_schema(store: Store) -> None:
    assert await current_revision(store.engine) == head_revision()
    async with store.engine.connect() as connection:
        diffs = await connection.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), metadata))
    assert diffs == []


async def test_reopen_is_a_no_op_and_keeps_data(store_url: str, real_blocks: list[BlockWrite]) -> None:
    first = await Store.open(store_url)
    await first.write_blocks(real_blocks)
    before = await dump(first)
    await first.close()
    second = await Store.open(store_url)
    try:
        assert await dump(second) == before
    finally:
        await second.close()


async def test_write_blocks_stores_everything_and_advances_the_cursor(
    store: Store, real_blocks: list[BlockWrite]
) -> None:
    cursor = await store.write_blocks(real_blocks)
    last = real_blocks[-1].bundle.block
    assert cursor == Cursor("ethereum", last.number, last.hash) == await store.cursor("ethereum")
    stored = await store.blocks("ethereum")
    assert [b.number for b in stored] == [17173049, 17173050]
    assert [b.log_count for b in stored] == [len(w.bundle.logs) for w in real_blocks]
    assert sum(b.log_count for b in stored) == 681
    assert sum(b.transaction_count for b in stored) == 298
    assert stored[0].base_fee_per_gas == real_blocks[0].bundle.block.base_fee_per_gas
    expected = [e for w in real_blocks for e in w.events]
    assert await store.events("ethereum") == expected
    assert await store.event_counts("ethereum") == {"erc20.Transfer": len(expected)}
    assert await store.block_hash("ethereum", 17173049) == real_blocks[0].bundle.block.hash
    assert await store.block_hash("ethereum", 17173048) is None
    assert (await store.latest_block("ethereum")).number == 17173050  # type: ignore[union-attr]
    assert (await store.heads())["ethereum"].hash == last.hash


async def test_rewriting_a_range_never_duplicates(store: Store, real_blocks: list[BlockWrite]) -> None:
    await store.write_blocks(real_blocks)
    once = await dump(store)
    await store.write_blocks(real_blocks)
    await store.write_blocks(real_blocks[1:])
    assert await dump(store) == once


async def test_integers_beyond_64_bits_round_trip_exactly(store: Store, real_blocks: list[BlockWrite]) -> None:
    bundle = real_blocks[0].bundle
    template = real_blocks[0].events[0]
    huge = {
        "max_uint256": 2**256 - 1,
        "min_int256": -(2**255),
        "amounts": [2**64, 2**64 + 1, 10**40],
        "nested": {"sqrtPriceX96": 1461446703485210103287273052203988822378723970341},
        "text": "ünïcode",
    }
    event = replace(template, args=huge)
    big_tx = replace(bundle.transactions[0], value=2**200 + 7)
    bundle = replace(bundle, transactions=(big_tx, *bundle.transactions[1:]))
    await store.write_blocks([BlockWrite(bundle, [event])])
    [stored] = await store.events("ethereum")
    assert stored.args == huge
    assert type(stored.args["max_uint256"]) is int
    real_values = [e.args["value"] for e in real_blocks[0].events]
    assert any(v >= 2**64 for v in real_values)  # the recorded data itself needs big integers
    await store.write_blocks(real_blocks[:1])
    assert [e.args["value"] for e in await store.events("ethereum")] == real_values


async def test_rollback_removes_everything_derived_from_orphaned_blocks(
    store: Store, real_blocks: list[BlockWrite]
) -> None:
    first, second = real_blocks
    pool = PoolRecord("ethereum", "0x" + "ab" * 20, "uniswap_v2", WETH, USDT, "uniswap-v2", None, "0x" + "cd" * 20,
                      second.bundle.block.number)
    listed = replace(pool, address="0x" + "ef" * 20, created_block=None)
    await store.upsert_pools([listed])
    await store.write_blocks([first, replace(second, pools=[pool])])
    protocol_id = str(uuid.uuid4())
    async with store.engine.begin() as connection:
        await connection.execute(protocols.insert().values(id=protocol_id, slug="uniswap-v2", name="Uniswap V2",
                                                           chain_id=1, category="Dexes"))
        for number in (first.bundle.block.number, second.bundle.block.number):
            await connection.execute(protocol_metrics.insert().values(
                id=str(uuid.uuid4()), protocol_id=protocol_id, metric_type="tvl", value=1.5,
                timestamp=datetime.now(UTC), chain_id=1, chain="ethereum", block_number=number))
    assert len(await store.pools("ethereum")) == 2
    cursor = await store.rollback_after("ethereum", first.bundle.block.number)
    assert cursor == Cursor("ethereum", first.bundle.block.number, first.bundle.block.hash)
    assert await store.cursor("ethereum") == cursor
    assert [b.number for b in await store.blocks("ethereum")] == [first.bundle.block.number]
    assert await store.events("ethereum") == list(first.events)
    assert await store.pools("ethereum") == [listed]
    async with store.engine.connect() as connection:
        kept = (await connection.execute(select(protocol_metrics.c.block_number))).scalars().all()
    assert kept == [first.bundle.block.number]
    # Rolling back below everything stored leaves no cursor.
    assert await store.rollback_after("ethereum", first.bundle.block.number - 1) is None
    assert await store.cursor("ethereum") is None
    assert await store.blocks("ethereum") == []


async def test_a_failed_write_leaves_nothing_behind(store: Store, real_blocks: list[BlockWrite]) -> None:
    first, second = real_blocks
    await store.write_blocks([first])
    before = await dump(store)
    duplicated = [*second.events, second.events[0]]  # same (chain, block, log_index) twice
    with pytest.raises(StorageError):
        await store.write_blocks([replace(second, events=duplicated)])
    assert await dump(store) == before
    with pytest.raises(ValueError):
        await store.write_blocks([second, first])


async def test_read_helpers_filter_as_documented(store: Store, chaindata: Path) -> None:
    templates = etl_bundles(chaindata / "ethereum-etl-17173049")
    chain = synthetic_chain(templates, 100, 4, "0x" + "00" * 32)
    await store.write_blocks([BlockWrite(b, transfers(b)) for b in chain])
    all_events = await store.events("ethereum")
    weth = await store.events("ethereum", address=WETH.upper().replace("0X", "0x"), from_block=101, to_block=102)
    assert weth and all(e.address == WETH and 101 <= e.block_number <= 102 for e in weth)
    assert weth == [e for e in all_events if e.address == WETH and 101 <= e.block_number <= 102]
    assert await store.events("ethereum", kinds=["uniswap_v2.Swap"]) == []
    assert await store.events("ethereum", kinds=["erc20.Transfer"], limit=3) == all_events[:3]
    assert await store.events("ethereum", limit=2, newest_first=True) == all_events[::-1][:2]
    assert await store.events("polygon") == []
    with pytest.raises(ValueError):
        await store.events(kinds=["Transfer"])
    assert [b.number for b in await store.blocks("ethereum", 101, 102)] == [101, 102]
    assert await store.block_hashes("ethereum", 99, 101) == {100: chain[0].block.hash, 101: chain[1].block.hash}
    token = TokenRecord("ethereum", USDT, "USDT", 6, "Tether USD")
    await store.upsert_tokens([token, TokenRecord("ethereum", WETH, "WETH", 18)])
    await store.upsert_tokens([replace(token, symbol="USDT0")])
    assert await store.token("ethereum", USDT) == replace(token, symbol="USDT0")
    assert [t.symbol for t in await store.tokens("ethereum")] == ["WETH", "USDT0"]  # by address
    await store.set_chain_id("ethereum", 1)
    assert await store.ping()


async def test_events_table_holds_one_row_per_log(store: Store, real_blocks: list[BlockWrite]) -> None:
    await store.write_blocks(real_blocks)
    await store.write_blocks(real_blocks)
    async with store.engine.connect() as connection:
        count = (await connection.execute(select(func.count()).select_from(events))).scalar_one()
    assert count == sum(len(w.events) for w in real_blocks)


async def test_rewriting_history_never_moves_the_cursor_back(store: Store, real_blocks: list[BlockWrite]) -> None:
    first, second = real_blocks
    await store.write_blocks(real_blocks)
    ahead = Cursor("ethereum", second.bundle.block.number, second.bundle.block.hash)
    assert await store.write_blocks([first]) == ahead
    assert await store.cursor("ethereum") == ahead


async def test_plain_urls_get_the_async_drivers(store_url: str) -> None:
    plain = store_url.replace("+aiosqlite", "").replace("postgresql+asyncpg", "postgres")
    store = await Store.open(plain)
    try:
        assert store.engine.dialect.driver in ("aiosqlite", "asyncpg")
        assert await store.ping()
    finally:
        await store.close()


async def test_unknown_gas_is_null_and_unbindable_values_are_storage_errors(
    store: Store, real_blocks: list[BlockWrite]
) -> None:
    bundle = real_blocks[0].bundle
    sentinel = replace(bundle.transactions[0], gas_used=2**64 - 1)  # mev-inspect's "unknown"
    await store.write_blocks([BlockWrite(replace(bundle, transactions=(sentinel, *bundle.transactions[1:])))])
    async with store.engine.connect() as connection:
        gas = (await connection.execute(select(transactions.c.gas_used).order_by(transactions.c.transaction_index)))
        assert gas.scalars().first() is None
    before = await dump(store)
    impossible = replace(bundle, block=replace(bundle.block, gas_used=2**64))
    with pytest.raises(StorageError):
        await store.write_blocks([BlockWrite(impossible)])
    assert await dump(store) == before
