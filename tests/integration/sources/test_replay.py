"""Replay: recorded mainnet data served by the local JSON-RPC server and read through the real client."""

from __future__ import annotations

from pathlib import Path

import pytest

from onchain.errors import NodeError
from onchain.sources.jsonrpc import JsonRpcClient
from onchain.sources.replay import ReplayServer, ReplaySource, read_bundles
from onchain.sources.rpc import RpcSource

ETL_HASHES = {
    17173049: ("0xaa5ab9bb22d8020d438496a7edb4eff508b1c5128b0dc01fdecf57f96aac1bb3",
               "0x918a700a8e7a9f3fe0b3ccb176c810ded08729331ceef8d6375af5d1eeeaa6c0"),
    17173050: ("0x5699ffb9477f70ec736463b144614356eb051936da75fcccec73d648f2e91de4",
               "0xaa5ab9bb22d8020d438496a7edb4eff508b1c5128b0dc01fdecf57f96aac1bb3"),
}
SWAP_V2 = "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822"
WETH_USDT_PAIR = "0x0d4a11d5eeaac28ec3f61d100daf4d40471f1852"


async def test_ethereum_etl_replay(chaindata: Path) -> None:
    async with ReplaySource(chaindata / "ethereum-etl-17173049") as source:
        assert await source.head() == 17173050
        bundles = [b async for b in source.bundles(0)]
        assert await source.block_hash(17173049) == ETL_HASHES[17173049][0]
    assert [b.block.number for b in bundles] == [17173049, 17173050]
    assert {b.block.number: (b.block.hash, b.block.parent_hash) for b in bundles} == ETL_HASHES
    assert sum(len(b.logs) for b in bundles) == 681
    assert sum(len(b.transactions) for b in bundles) == 298
    assert all(b.chain == "ethereum" and b.traces is None for b in bundles)


async def test_replay_range_and_direct_read_agree(chaindata: Path) -> None:
    path = chaindata / "ethereum-etl-17173049"
    async with ReplaySource(path) as source:
        only_second = [b async for b in source.bundles(17173050, 17173050)]
    assert [b.block.number for b in only_second] == [17173050]
    assert read_bundles(path)[1] == only_second[0]


async def test_mev_inspect_blocks_replay_with_traces(chaindata: Path) -> None:
    async with ReplaySource(chaindata / "mev-inspect-blocks") as source:
        bundles = [b async for b in source.bundles(0, 12_000_000)]
    assert [b.block.number for b in bundles] == [10921991, 11930296, 11931272, 11935012]
    first = bundles[0]
    assert first.block.hash == "0xb84b9cc2b12251b2c88edbdd781b82ae57bd9bc1a1f61a865b8ba103ae89751a"
    assert first.logs == () and first.traces is not None and len(first.traces) > len(first.transactions) > 0
    assert all(tx.status in (0, 1) and tx.gas_used is not None for tx in first.transactions)


async def test_erigon_block_18000000_replay(chaindata: Path) -> None:
    async with ReplaySource(chaindata / "erigon-rpc-tests") as source:
        bundles = [b async for b in source.bundles(18_000_000)]
    assert [(b.block.number, len(b.transactions), len(b.logs)) for b in bundles] == [(18_000_000, 94, 291)]


async def test_server_answers_like_a_node(chaindata: Path) -> None:
    async with ReplayServer(chaindata / "ethereum-etl-17173049") as server, \
            JsonRpcClient([server.url], max_attempts=1) as rpc:
        assert await rpc.call("eth_chainId") == "0x1"
        assert await rpc.call("eth_blockNumber") == hex(17173050)
        assert await rpc.call("eth_getBlockByNumber", ["0x1", True]) is None
        by_hash = await rpc.call("eth_getBlockByHash", [ETL_HASHES[17173050][0], False])
        assert by_hash["number"] == hex(17173050) and all(isinstance(t, str) for t in by_hash["transactions"])
        with pytest.raises(NodeError) as info:
            await rpc.call("trace_block", ["0x1060b39"])
        assert info.value.code == -32601
        swaps = await rpc.call("eth_getLogs", [{"fromBlock": hex(17173049), "toBlock": "latest",
                                                 "address": WETH_USDT_PAIR, "topics": [SWAP_V2]}])
        assert len(swaps) == 5
        one_block = await rpc.call("eth_getLogs", [{"blockHash": ETL_HASHES[17173049][0]}])
        receipts = await rpc.call("eth_getBlockReceipts", [hex(17173049)])
        assert len(one_block) == sum(len(r["logs"]) for r in receipts)
        tx_hash = receipts[0]["transactionHash"]
        assert (await rpc.call("eth_getTransactionReceipt", [tx_hash]))["gasUsed"] == receipts[0]["gasUsed"]
        batch = await rpc.batch([("eth_blockNumber", []), ("eth_getBlockByNumber", ["latest", False])])
        assert batch[1]["hash"] == ETL_HASHES[17173050][0]


async def test_server_serves_recorded_answers(chaindata: Path) -> None:
    async with ReplayServer(chaindata / "jsonrpc-samples") as server, JsonRpcClient([server.url]) as rpc:
        traces = await rpc.call("trace_block", ["0xf44f2"])
        assert traces and traces[0]["blockHash"].startswith("0x")
        receipt = await rpc.call("eth_getTransactionReceipt",
                                 ["0x04cbcb236043d8fb7839e07bbc7f5eed692fb2ca55d897f1101eac3e3ad4fab8"])
        assert receipt["logs"]


async def test_rpc_source_falls_back_to_get_logs(chaindata: Path) -> None:
    async with ReplayServer(chaindata / "ethereum-etl-17173049") as server:
        source = RpcSource("ethereum", JsonRpcClient([server.url]), use_block_receipts=False, traces=True)
        try:
            bundles = [b async for b in source.bundles(17173049, 17173050)]
        finally:
            await source.close()
    assert sum(len(b.logs) for b in bundles) == 681
    assert all(b.traces is None for b in bundles)  # the recording has no trace_block: detected, not fatal
    assert read_bundles(chaindata / "ethereum-etl-17173049")[0].logs == bundles[0].logs


async def test_rpc_source_detects_block_receipts(chaindata: Path) -> None:
    async with ReplayServer(chaindata / "ethereum-etl-17173049") as server:
        source = RpcSource("ethereum", JsonRpcClient([server.url]), batch_size=1)
        try:
            bundles = [b async for b in source.bundles(17173049, 17173050)]
            assert source.use_block_receipts is True
        finally:
            await source.close()
    assert [len(b.logs) for b in bundles] == [len(b.logs) for b in read_bundles(chaindata / "ethereum-etl-17173049")]


async def test_logs_outside_the_recording_are_refused_or_answered_as_recorded(chaindata: Path) -> None:
    async with ReplayServer(chaindata / "erigon-rpc-tests") as server, JsonRpcClient([server.url]) as rpc:
        with pytest.raises(NodeError):
            await rpc.call("eth_getLogs", [{"fromBlock": hex(17_999_999), "toBlock": hex(18_000_000)}])
        in_block = await rpc.call("eth_getLogs", [{"fromBlock": hex(18_000_000), "toBlock": hex(18_000_000)}])
        assert len(in_block) == 291
        transfer = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
        recorded = await rpc.call("eth_getLogs", [{"address": [], "fromBlock": "0xF42400", "toBlock": "0xF42403",
                                                   "topics": [[transfer]]}])
        assert recorded and all(log["topics"][0] == transfer for log in recorded)
