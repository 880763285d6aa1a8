"""The ingest pipeline on real recorded blocks into real databases: counts, idempotence, resume,
reorgs (forks built from the recorded blocks), malformed input, and publish-after-commit."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import pytest

from onchain.bus import MemoryBus
from onchain.domain.chain import BlockBundle, Log
from onchain.domain.topics import BLOCKS, EVENTS, REORG
from onchain.errors import InconsistentDataError, MalformedResponseError, ReorgError
from onchain.ingest.pipeline import Pipeline
from onchain.protocols import Decoder
from onchain.protocols.create2 import v2_pair_address
from onchain.protocols.uniswap_v2 import FACTORIES, PAIR_CREATED
from onchain.storage import Store
from tests.integration.storage.databases import dump
from tests.unit.ingest.bundles import ListSource, etl_bundles, fake_hash, synthetic_chain

GENESIS = "0x" + "00" * 32
TOKEN_A = "0x" + "a1" * 20
TOKEN_B = "0x" + "b2" * 20


@pytest.fixture
def recorded(chaindata: Path) -> list[BlockBundle]:
    return etl_bundles(chaindata / "ethereum-etl-17173049")


def pipeline(store: Store, source: ListSource, bus: MemoryBus | None = None, **options: int) -> Pipeline:
    return Pipeline("ethereum", source, Decoder("ethereum"), store, bus or MemoryBus(), **options)  # type: ignore[arg-type]


def with_new_pair(bundle: BlockBundle) -> tuple[BlockBundle, str]:
    """The bundle plus a PairCreated log from the real Uniswap V2 factory for a pair of made-up tokens."""
    factory = next(f for f in FACTORIES if f.chain == "ethereum" and f.protocol == "uniswap-v2")
    pair = v2_pair_address(factory.address, TOKEN_A, TOKEN_B, factory.init_code_hash)
    last = bundle.logs[-1]
    log = Log(
        block_number=bundle.block.number,
        block_hash=bundle.block.hash,
        transaction_hash=last.transaction_hash,
        transaction_index=last.transaction_index,
        log_index=last.log_index + 1,
        address=factory.address,
        topics=(PAIR_CREATED, "0x" + "00" * 12 + TOKEN_A[2:], "0x" + "00" * 12 + TOKEN_B[2:]),
        data="0x" + "00" * 12 + pair[2:] + f"{424242:064x}",
    )
    return replace(bundle, logs=(*bundle.logs, log)), pair


async def test_recorded_blocks_are_decoded_stored_and_announced_after_commit(
    store: Store, recorded: list[BlockBundle]
) -> None:
    bus = MemoryBus()
    blocks_seen = await bus.subscribe(BLOCKS)
    events_seen = await bus.subscribe(EVENTS)
    stats = await pipeline(store, ListSource(recorded), bus).run(17173049, 17173050)
    assert (stats.blocks, stats.logs) == (2, 681)
    assert dict(stats.events) == await store.event_counts("ethereum")
    assert stats.events["uniswap_v2.Swap"] > 0 and stats.protocols["uniswap-v2"] > 0
    assert sum(stats.events.values()) == len(await store.events("ethereum"))
    cursor = await store.cursor("ethereum")
    assert cursor is not None and cursor.block_number == 17173050
    announced = [(await blocks_seen.get(timeout=1)).json() for _ in recorded]
    assert [m["number"] for m in announced] == [17173049, 17173050]
    assert sum(m["events"] for m in announced) == sum(stats.events.values())
    batches = []
    while not batches or batches[-1]["to_block"] < 17173050:
        batches.append((await events_seen.get(timeout=1)).json())
    assert batches[0]["from_block"] == 17173049
    assert all(b["from_block"] == a["to_block"] + 1 for a, b in itertools.pairwise(batches))
    published = [e for batch in batches for e in batch["events"]]
    assert published[0]["kind"] == f"{published[0]['family']}.{published[0]['name']}"
    stored = await store.events("ethereum")
    assert [(e["block_number"], e["log_index"], e["args"]) for e in published] == [
        (e.block_number, e.log_index, e.args) for e in stored
    ]


async def test_ingesting_twice_leaves_the_database_as_after_once(store: Store, recorded: list[BlockBundle]) -> None:
    await pipeline(store, ListSource(recorded)).run(17173049, 17173050, resume=False)
    once = await dump(store)
    again = await pipeline(store, ListSource(recorded)).run(17173049, 17173050, resume=False)
    assert again.blocks == 2
    assert await dump(store) == once


async def test_a_restart_resumes_after_the_cursor(store: Store, recorded: list[BlockBundle]) -> None:
    chain = synthetic_chain(recorded, 1000, 6, GENESIS)
    source = ListSource(chain, fail_at=1003)
    with pytest.raises(MalformedResponseError):
        await pipeline(store, source).run(1000, 1005)
    cursor = await store.cursor("ethereum")
    assert cursor is not None and cursor.block_number == 1002
    source = ListSource(chain)
    stats = await pipeline(store, source).run(1000, 1005)
    assert source.requests == [(1003, 1005)]
    assert (stats.first_block, stats.last_block, stats.blocks) == (1003, 1005, 3)
    resumed = await dump(store)
    await store.rollback_after("ethereum", 999)
    await pipeline(store, ListSource(chain)).run(1000, 1005)
    assert await dump(store) == resumed


async def test_a_reorg_rolls_back_to_the_common_ancestor_and_reingests(
    store_url: str, store: Store, recorded: list[BlockBundle]
) -> None:
    old = synthetic_chain(recorded, 100, 6, GENESIS)  # 100..105
    orphan_with_pair, pair = with_new_pair(old[4])  # block 104 creates a pool, later orphaned
    old[4] = orphan_with_pair
    old[5] = replace(old[5], block=replace(old[5].block, parent_hash=orphan_with_pair.block.hash))
    old[5] = replace(old[5], logs=tuple(replace(log, block_hash=old[5].block.hash) for log in old[5].logs))
    new = old[:3] + synthetic_chain(recorded, 103, 5, old[2].block.hash, salt="fork")  # 100..107
    bus = MemoryBus()
    reorgs = await bus.subscribe(REORG)
    first = pipeline(store, ListSource(old), bus)
    await first.run(100, 105)
    assert (await store.pool("ethereum", pair)) is not None
    assert pair in first.decoder.pools
    moved = pipeline(store, ListSource(new), bus)
    stats = await moved.run(100, 107)  # resumes at 106, whose parent is not our 105
    message = (await reorgs.get(timeout=1)).json()
    assert message == {
        "chain": "ethereum",
        "ancestor": 102,
        "ancestor_hash": old[2].block.hash,
        "orphaned_from": 103,
        "orphaned_to": 105,
        "depth": 3,
    }
    assert (stats.reorgs, stats.orphaned_blocks) == (1, 3)
    assert await store.pool("ethereum", pair) is None
    assert pair not in moved.decoder.pools
    assert [b.hash for b in await store.blocks("ethereum")] == [b.block.hash for b in new]
    # The database now equals a clean ingest of the new canonical chain.
    reorged = await dump(store)
    await store.rollback_after("ethereum", 99)
    await pipeline(store, ListSource(new)).run(100, 107)
    assert await dump(store) == reorged


async def test_a_reorg_deeper_than_the_limit_is_refused(store: Store, recorded: list[BlockBundle]) -> None:
    old = synthetic_chain(recorded, 100, 6, GENESIS)
    new = old[:1] + synthetic_chain(recorded, 101, 6, old[0].block.hash, salt="deep")
    await pipeline(store, ListSource(old)).run(100, 105)
    with pytest.raises(ReorgError):
        await pipeline(store, ListSource(new), max_reorg_depth=3).run(100, 106)
    assert [b.hash for b in await store.blocks("ethereum")] == [b.block.hash for b in old]


async def test_malformed_blocks_are_refused_and_nothing_of_them_is_written(
    store: Store, recorded: list[BlockBundle]
) -> None:
    chain = synthetic_chain(recorded, 500, 3, GENESIS)
    bad = chain[2]
    wrong_log = replace(bad.logs[0], block_hash=fake_hash("elsewhere"))
    chain[2] = replace(bad, logs=(wrong_log, *bad.logs[1:]))
    with pytest.raises(InconsistentDataError):
        await pipeline(store, ListSource(chain)).run(500, 502)
    assert [b.number for b in await store.blocks("ethereum")] == [500, 501]
    assert {e.block_number for e in await store.events("ethereum")} == {500, 501}
    cursor = await store.cursor("ethereum")
    assert cursor is not None and cursor.block_number == 501
    skipped = synthetic_chain(recorded, 600, 3, GENESIS)
    del skipped[1]  # the source jumps from 600 to 602
    source = ListSource(skipped)
    source.by_number[601] = skipped[1]
    with pytest.raises(InconsistentDataError, match="expected block 601"):
        await pipeline(store, source).run(600, 601)


async def test_one_block_batches_give_the_same_database(store: Store, recorded: list[BlockBundle]) -> None:
    chain = synthetic_chain(recorded, 10, 4, GENESIS)
    await pipeline(store, ListSource(chain)).run(10, 13)
    batched = await dump(store)
    await store.rollback_after("ethereum", 9)
    await pipeline(store, ListSource(chain), batch_blocks=1).run(10, 13)
    assert await dump(store) == batched
