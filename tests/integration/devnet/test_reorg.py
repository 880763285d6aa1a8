"""THE reorg test: anvil reverts to a snapshot and mines a different branch; the pipeline must notice by
parent hash, roll back what it stored from the orphaned blocks, re-ingest, and end equal to the chain."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from onchain.bus.memory import MemoryBus
from onchain.devnet.deployment import DEVNET_CHAIN, Devnet
from onchain.devnet.traffic import TrafficGenerator
from onchain.domain.topics import REORG
from onchain.ingest.pipeline import Pipeline
from onchain.protocols.registry import Decoder
from onchain.sources.jsonrpc import JsonRpcClient
from onchain.sources.parse import parse_log
from onchain.sources.rpc import RpcSource
from onchain.storage.store import Store

pytestmark = pytest.mark.devnet


def _pipeline(devnet: Devnet, store: Store, bus: MemoryBus) -> Pipeline:
    assert devnet.deployment is not None
    source = RpcSource(DEVNET_CHAIN, JsonRpcClient([devnet.rpc_url]), poll_interval=0.05)
    decoder = Decoder(DEVNET_CHAIN, factories=[devnet.deployment.factory_config()])
    return Pipeline(DEVNET_CHAIN, source, decoder, store, bus, batch_delay=0.0)


async def _canonical_events(devnet: Devnet, decoder: Decoder, head: int) -> list[tuple[int, str, int, str]]:
    raw = await devnet.call("eth_getLogs", [{"fromBlock": "0x0", "toBlock": hex(head)}])
    events = decoder.decode(parse_log(item) for item in raw).events
    return [(e.block_number, e.transaction_hash, e.log_index, e.kind) for e in events]


async def _assert_store_equals_chain(devnet: Devnet, store: Store, tip: int) -> None:
    """Blocks, events, pools and cursor in the database are exactly those of the canonical chain up to `tip`."""
    deployment = devnet.deployment
    assert deployment is not None
    canonical = {n: (await devnet.call("eth_getBlockByNumber", [hex(n), False]))["hash"] for n in range(tip + 1)}
    assert {b.number: b.hash for b in await store.blocks(DEVNET_CHAIN)} == canonical
    decoder = Decoder(DEVNET_CHAIN, factories=[deployment.factory_config()])
    expected = await _canonical_events(devnet, decoder, tip)
    events = await store.events(DEVNET_CHAIN)
    assert [(e.block_number, e.transaction_hash, e.log_index, e.kind) for e in events] == expected
    assert {e.block_hash for e in events} <= set(canonical.values())
    assert {p.address for p in await store.pools(DEVNET_CHAIN)} == {p.address for p in deployment.pools}
    cursor = await store.cursor(DEVNET_CHAIN)
    assert cursor is not None
    assert (cursor.block_number, cursor.block_hash) == (tip, canonical[tip])


async def test_reorg_rolls_back_orphaned_blocks_and_reingests_the_canonical_branch(
    manual_devnet: Devnet, tmp_path: Path
) -> None:
    deployment = manual_devnet.deployment
    assert deployment is not None
    await TrafficGenerator(manual_devnet, seed=1).run(steps=2)
    fork_point = await manual_devnet.block_number()
    snapshot = await manual_devnet.snapshot()
    await TrafficGenerator(manual_devnet, seed=2).run(steps=3)
    old_tip = await manual_devnet.block_number()
    orphaned = {
        n: await manual_devnet.call("eth_getBlockByNumber", [hex(n), False]) for n in range(fork_point + 1, old_tip + 1)
    }

    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'reorg.db'}")
    bus = MemoryBus()
    reorgs = await bus.subscribe(REORG)
    try:
        first = _pipeline(manual_devnet, store, bus)
        await first.run(0, old_tip)
        await first.source.close()
        orphaned_swaps = await store.events(DEVNET_CHAIN, kinds=["uniswap_v2.Swap"], from_block=fork_point + 1)
        assert orphaned_swaps, "the branch about to be orphaned carried swaps"

        # The chain forgets blocks fork_point+1.. and grows a longer branch of other transactions.
        await manual_devnet.revert(snapshot)
        assert await manual_devnet.block_number() == fork_point
        await TrafficGenerator(manual_devnet, seed=3).run(steps=5)
        new_tip = await manual_devnet.block_number()
        assert new_tip == old_tip + 2

        second = _pipeline(manual_devnet, store, bus)
        stats = await second.run(None, new_tip)
        await second.source.close()

        assert stats.reorgs == 1
        assert stats.orphaned_blocks == old_tip - fork_point
        message = (await reorgs.get(timeout=5)).json()
        assert (message["ancestor"], message["orphaned_from"], message["orphaned_to"]) == (
            fork_point, fork_point + 1, old_tip)  # fmt: skip

        await _assert_store_equals_chain(manual_devnet, store, new_tip)
        stored_hashes = {b.number: b.hash for b in await store.blocks(DEVNET_CHAIN)}
        assert all(orphaned[n]["hash"] != stored_hashes[n] for n in orphaned)
        orphaned_txs = {e.transaction_hash for e in orphaned_swaps}
        assert not orphaned_txs & {e.transaction_hash for e in await store.events(DEVNET_CHAIN)}
    finally:
        await reorgs.close()
        await store.close()


async def _wait_for_cursor(store: Store, number: int, block_hash: str) -> None:
    """Until the pipeline has committed `number` with this hash; bounded so a bug fails instead of hanging."""
    for _ in range(400):
        cursor = await store.cursor(DEVNET_CHAIN)
        if cursor is not None and (cursor.block_number, cursor.block_hash) == (number, block_hash):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"pipeline never committed block {number} {block_hash}")


async def test_reorg_while_following_the_head(manual_devnet: Devnet, tmp_path: Path) -> None:
    """The live path: the pipeline follows the head when the chain switches branch under it."""
    await TrafficGenerator(manual_devnet, seed=4).run(steps=2)
    snapshot = await manual_devnet.snapshot()
    fork_point = await manual_devnet.block_number()
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'live.db'}")
    pipeline = _pipeline(manual_devnet, store, MemoryBus())
    following = asyncio.create_task(pipeline.run(0, None))
    try:
        await TrafficGenerator(manual_devnet, seed=5).run(steps=2)
        old_tip = await manual_devnet.block_number()
        old_hash = (await manual_devnet.call("eth_getBlockByNumber", [hex(old_tip), False]))["hash"]
        await _wait_for_cursor(store, old_tip, old_hash)

        await manual_devnet.revert(snapshot)
        await TrafficGenerator(manual_devnet, seed=6).run(steps=4)
        new_tip = await manual_devnet.block_number()
        new_hash = (await manual_devnet.call("eth_getBlockByNumber", [hex(new_tip), False]))["hash"]
        await _wait_for_cursor(store, new_tip, new_hash)

        assert pipeline.stats.reorgs == 1
        assert pipeline.stats.orphaned_blocks == old_tip - fork_point
        await _assert_store_equals_chain(manual_devnet, store, new_tip)
    finally:
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following
        await pipeline.source.close()
        await store.close()
