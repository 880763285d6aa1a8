"""Prices, TVL and volume on blocks 17173049-50, checked against figures computed here from raw logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from onchain.metrics.state import MarketState
from onchain.pricing.feeds import USDT, WETH
from tests.unit.metrics.realdata import SYNC, V2_SWAP, etl_blocks, etl_rows, fold, market_for, word

UNI_WETH_USDT = "0x0d4a11d5eeaac28ec3f61d100daf4d40471f1852"
SUSHI_WETH_USDT = "0x06da0fd433c1a5d7a4faa01111c044910a184553"
LINK = "ethereum:0x514910771af9ca656af840dff83e8264ecf986ca"


@pytest.fixture(scope="module")
def market(chaindata: Path) -> MarketState:
    state, decoder = market_for()
    fold(state, decoder, etl_blocks(chaindata))
    return state


def last_reserves(chaindata: Path, pool: str) -> tuple[int, int]:
    syncs = [r for r in etl_rows(chaindata, "logs.json") if r["address"] == pool and r["topics"][0] == SYNC]
    last = max(syncs, key=lambda r: (r["block_number"], r["log_index"]))
    return word(last["data"], 0), word(last["data"], 1)


def test_weth_price_within_one_percent_of_the_deepest_stablecoin_pool(chaindata: Path, market: MarketState) -> None:
    # Both WETH/USDT pairs (token0 WETH 18 decimals, token1 USDT 6) from their last Sync; the deeper decides.
    pools = {pool: last_reserves(chaindata, pool) for pool in (UNI_WETH_USDT, SUSHI_WETH_USDT)}
    deepest = max(pools, key=lambda pool: pools[pool][1])
    weth_raw, usdt_raw = pools[deepest]
    expected = (usdt_raw / 1e6) / (weth_raw / 1e18)
    price = market.prices[WETH]
    assert deepest == UNI_WETH_USDT
    assert expected == pytest.approx(1829.4, abs=1)
    assert price.price_usd == pytest.approx(expected, rel=0.01)
    assert price.source == "dex" and price.sources[0] == f"ethereum:{UNI_WETH_USDT}" and price.block == 17173050
    assert market.prices[USDT].price_usd == 1.0


def test_pool_tvl_and_volume_match_the_raw_logs(chaindata: Path, market: MarketState) -> None:
    weth_raw, usdt_raw = last_reserves(chaindata, UNI_WETH_USDT)
    # A constant-product pool holds equal value on both sides at its own price: TVL is twice the USDT side.
    expected_tvl = 2 * usdt_raw / 1e6
    swaps = [r for r in etl_rows(chaindata, "logs.json") if r["address"] == UNI_WETH_USDT and r["topics"][0] == V2_SWAP]
    # Swap(amount0In, amount1In, amount0Out, amount1Out): the USDT side of every swap, in dollars.
    expected_volume = sum(word(r["data"], 1) + word(r["data"], 3) for r in swaps) / 1e6
    view = market.pool_view(f"ethereum:{UNI_WETH_USDT}")
    assert view is not None
    assert len(swaps) == 5
    assert view["reserves"] == [pytest.approx(weth_raw / 1e18), pytest.approx(usdt_raw / 1e6)]
    assert view["tvl"] == pytest.approx(expected_tvl, rel=0.01)
    assert view["volume24h"] == pytest.approx(expected_volume, rel=0.005)
    assert view["fees24h"] == pytest.approx(view["volume24h"] * 0.003)
    assert view["protocol"] == "uniswap-v2" and view["block"] == 17173050
    assert [t["symbol"] for t in view["tokens"]] == ["WETH", "USDT"]


def test_link_priced_from_its_eth_feed(market: MarketState) -> None:
    link = market.prices[LINK]
    assert link.source == "chainlink"
    assert link.price_usd == pytest.approx(0.00374992 * market.prices[WETH].price_usd)


def test_protocol_tvl_sums_its_pools(market: MarketState) -> None:
    summary = market.protocol_summary("sushiswap")
    view = market.pool_view(f"ethereum:{SUSHI_WETH_USDT}")
    assert view is not None
    assert summary["tvl"] == pytest.approx(view["tvl"])
    assert summary["chainTvls"] == {"ethereum": pytest.approx(view["tvl"])}
    assert summary["volume24h"] == pytest.approx(view["volume24h"])
