"""The live RPC path against a real node: anvil with the devnet's contracts (skipped without anvil)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest

from onchain.devnet.anvil import find_anvil
from onchain.devnet.deployment import Devnet
from onchain.sources.jsonrpc import JsonRpcClient
from onchain.sources.rpc import RpcSource
from onchain.sources.tokens_live import fetch_token_metadata

pytestmark = [pytest.mark.devnet, pytest.mark.skipif(find_anvil() is None, reason="anvil not installed")]


@pytest.fixture
async def devnet() -> AsyncIterator[Devnet]:
    async with Devnet() as node:
        yield node


async def test_token_metadata_from_deployed_contracts(devnet: Devnet) -> None:
    deployment = devnet.deployment
    assert deployment is not None
    async with JsonRpcClient([devnet.rpc_url]) as rpc:
        assert await fetch_token_metadata(rpc, deployment.weth.address) == ("WETH", 18)
        for token in deployment.tokens.values():
            assert await fetch_token_metadata(rpc, token.address.upper().replace("0X", "0x")) == (
                token.symbol, token.decimals)
        assert await fetch_token_metadata(rpc, deployment.deployer) is None  # an account, not a contract
        assert await fetch_token_metadata(rpc, deployment.factory) is None  # a contract without symbol()


async def test_rpc_source_backfills_the_devnet(devnet: Devnet) -> None:
    source = RpcSource("devnet", JsonRpcClient([devnet.rpc_url]), traces=True, batch_size=4)
    try:
        head = await source.head()
        bundles = [b async for b in source.bundles(0, head)]
        assert source.use_block_receipts is True
        assert all(b.traces is not None for b in bundles)  # anvil offers trace_block
        assert [b.block.number for b in bundles] == list(range(head + 1))
        for parent, child in itertools.pairwise(bundles):
            assert child.block.parent_hash == parent.block.hash
        assert await source.block_hash(head) == bundles[-1].block.hash
        logs = await source.client.call("eth_getLogs", [{"fromBlock": "0x0", "toBlock": hex(head)}])
        assert sum(len(b.logs) for b in bundles) == len(logs) > 0
        assert all(tx.status == 1 for b in bundles for tx in b.transactions)
    finally:
        await source.close()
