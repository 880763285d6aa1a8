"""The devnet on a real anvil: contracts deployed, a swap decoded and attributed, traffic moving prices."""

from __future__ import annotations

import socket

import pytest

from onchain.devnet.anvil import DevnetError, find_anvil
from onchain.devnet.deployment import DEVNET_CHAIN, Devnet, pair_init_code_hash
from onchain.devnet.traffic import TrafficGenerator
from onchain.devnet.wallet import calldata
from onchain.domain.chain import Log
from onchain.protocols.create2 import v2_pair_address
from onchain.protocols.registry import Decoder
from onchain.sources.parse import parse_log

pytestmark = pytest.mark.devnet

# The creation code hash of the npm @uniswap/v2-core UniswapV2Pair: the same one mainnet's factory uses.
MAINNET_V2_INIT_CODE_HASH = "0x96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f"


async def _logs(devnet: Devnet, from_block: int, to_block: int) -> list[Log]:
    raw = await devnet.call("eth_getLogs", [{"fromBlock": hex(from_block), "toBlock": hex(to_block)}])
    return [parse_log(item) for item in raw]


async def test_a_taken_port_fails_with_anvils_reason() -> None:
    if find_anvil() is None:
        pytest.skip("anvil not installed (node_modules/.bin/anvil); run `make install`")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        devnet = Devnet(port=taken.getsockname()[1])
        with pytest.raises(DevnetError, match="in use"):
            await devnet.start()
        await devnet.close()


def test_pair_init_code_hash_is_uniswaps() -> None:
    assert pair_init_code_hash() == MAINNET_V2_INIT_CODE_HASH


async def test_deploys_tokens_pools_and_feeds(devnet: Devnet) -> None:
    deployment = devnet.deployment
    assert deployment is not None
    assert deployment.chain_id == 31337
    assert {t.symbol: t.decimals for t in deployment.tokens.values()} == {"WETH": 18, "USDC": 6, "DAI": 18, "WBTC": 8}
    for token in deployment.tokens.values():
        (symbol,) = await devnet.read(token.address, "symbol()", ["string"])
        (decimals,) = await devnet.read(token.address, "decimals()", ["uint8"])
        assert (symbol, decimals) == (token.symbol, token.decimals)
    assert len(deployment.pools) == 5
    for pool in deployment.pools:
        assert pool.token0.address < pool.token1.address
        (on_chain,) = await devnet.read(
            deployment.factory, "getPair(address,address)", ["address"], pool.token1.address, pool.token0.address
        )
        assert on_chain == pool.address
        assert v2_pair_address(deployment.factory, pool.token0.address, pool.token1.address,
                               deployment.init_code_hash) == pool.address  # fmt: skip
        reserve0, reserve1, _ = await devnet.read(pool.address, "getReserves()", ["uint112", "uint112", "uint32"])
        assert reserve0 > 0 and reserve1 > 0
    eth_usd = next(f for f in deployment.feeds if f.description == "ETH / USD")
    _, answer, _, updated_at, _ = await devnet.read(
        eth_usd.address, "latestRoundData()", ["uint80", "int256", "uint256", "uint256", "uint80"]
    )
    assert answer == 3_000 * 10**8
    assert updated_at > 0
    config = deployment.factory_config()
    assert (config.protocol, config.chain, config.address) == ("uniswap-v2", DEVNET_CHAIN, deployment.factory)


async def test_swap_decodes_as_uniswap_v2_swap_and_sync(devnet: Devnet) -> None:
    deployment = devnet.deployment
    assert deployment is not None
    decoder = Decoder(DEVNET_CHAIN, factories=[deployment.factory_config()])
    setup = decoder.decode(await _logs(devnet, 0, await devnet.block_number()))
    created = [e for e in setup.events if e.kind == "uniswap_v2.PairCreated"]
    assert len(created) == 5
    assert {e.protocol for e in created} == {"uniswap-v2"}
    assert {p.address for p in setup.new_pools} == {p.address for p in deployment.pools}
    assert not setup.unproven_pools

    pool = deployment.pool("WETH", "USDC")
    trader = deployment.accounts[5]
    reserve0, reserve1, _ = await devnet.read(pool.address, "getReserves()", ["uint112", "uint112", "uint32"])
    weth_in = 10**18
    zero_for_one = pool.token0.symbol == "WETH"
    reserve_in, reserve_out = (reserve0, reserve1) if zero_for_one else (reserve1, reserve0)
    usdc_out = weth_in * 997 * reserve_out // (reserve_in * 1000 + weth_in * 997)
    outs = (0, usdc_out) if zero_for_one else (usdc_out, 0)
    first = await devnet.block_number() + 1
    await devnet.transact([
        (trader, deployment.weth.address, calldata("transfer(address,uint256)", pool.address, weth_in), 90_000, 0),
        (trader, pool.address, calldata("swap(uint256,uint256,address,bytes)", *outs, trader, b""), 200_000, 0),
    ])  # fmt: skip

    result = decoder.decode(await _logs(devnet, first, await devnet.block_number()))
    by_kind = {e.kind: e for e in result.events}
    assert set(by_kind) == {"erc20.Transfer", "uniswap_v2.Swap", "uniswap_v2.Sync"}
    swap, sync = by_kind["uniswap_v2.Swap"], by_kind["uniswap_v2.Sync"]
    assert swap.address == sync.address == pool.address
    assert swap.protocol == sync.protocol == "uniswap-v2"
    in_key, out_key = ("amount0In", "amount1Out") if zero_for_one else ("amount1In", "amount0Out")
    assert swap.args[in_key] == weth_in
    assert swap.args[out_key] == usdc_out
    assert swap.args["to"] == trader
    expected_reserves = (reserve0 + weth_in, reserve1 - usdc_out) if zero_for_one else (
        reserve0 - usdc_out, reserve1 + weth_in)  # fmt: skip
    assert (sync.args["reserve0"], sync.args["reserve1"]) == expected_reserves


async def test_traffic_moves_prices_and_never_reverts(manual_devnet: Devnet) -> None:
    deployment = manual_devnet.deployment
    assert deployment is not None
    eth_usd = next(f for f in deployment.feeds if f.description == "ETH / USD")
    traffic = TrafficGenerator(manual_devnet, seed=11, tx_per_block=6)
    before = {s.pool.address: s.reserve1 / s.reserve0 for s in await traffic.pair_states()}
    start = await manual_devnet.block_number()

    await traffic.run(steps=25)

    assert await manual_devnet.block_number() == start + 25
    totals = traffic.totals
    assert totals.failed == 0
    assert totals.swaps > 0 and totals.mints + totals.burns > 0 and totals.oracle_updates > 0
    after = {s.pool.address: s.reserve1 / s.reserve0 for s in await traffic.pair_states()}
    assert all(after[address] != before[address] for address in before)
    (answer,) = await manual_devnet.read(eth_usd.address, "latestAnswer()", ["int256"])
    assert answer != 3_000 * 10**8
    # The arbitrageur keeps every pool within a few percent of the fair price the oracle follows.
    for state in await traffic.pair_states():
        fair = traffic.fair_prices[state.pool.token0.symbol]
        assert abs(traffic.pool_price(state) / fair - 1) < 0.05

    decoder = Decoder(DEVNET_CHAIN, factories=[deployment.factory_config()])
    events = decoder.decode(await _logs(manual_devnet, 0, await manual_devnet.block_number())).events
    kinds = {e.kind for e in events}
    assert {"uniswap_v2.Swap", "uniswap_v2.Sync", "uniswap_v2.Mint", "chainlink.AnswerUpdated", "weth.Deposit"} <= kinds


async def test_same_seed_sends_the_same_traffic(manual_devnet: Devnet) -> None:
    """Two generators with one seed plan identical transactions from the same chain state."""
    snapshot = await manual_devnet.snapshot()
    first = TrafficGenerator(manual_devnet, seed=3)
    await first.run(steps=5)
    reserves_first = [(s.reserve0, s.reserve1) for s in await first.pair_states()]
    await manual_devnet.revert(snapshot)
    second = TrafficGenerator(manual_devnet, seed=3)
    await second.run(steps=5)
    assert [(s.reserve0, s.reserve1) for s in await second.pair_states()] == reserves_first
    assert second.totals == first.totals
