"""Price engine edge cases: thin pools, outliers, stale inputs, oracle precedence, deepest paths."""

from __future__ import annotations

import math

import pytest

from onchain.pricing import (
    OracleAnswer,
    PoolQuote,
    PricingConfig,
    compute_prices,
    default_anchors,
    weighted_median,
)
from onchain.pricing.feeds import DAI, USDC, USDT, WETH, mainnet_feeds

NOW = 1_683_030_011
BLOCK = 17_173_050
ANCHORS = {"ethereum": default_anchors()["ethereum"]}
TOKEN = "ethereum:0x1111111111111111111111111111111111111111"
OTHER = "ethereum:0x2222222222222222222222222222222222222222"
# Reserves of the Uniswap V2 WETH/USDT pair after block 17173050 (whole tokens).
WETH_USDT = PoolQuote("ethereum:0x0d4a11d5eeaac28ec3f61d100daf4d40471f1852", WETH, USDT,
                      16245.773375299514, 29720007.471465, BLOCK, NOW)


def quote(pool: str, token0: str, token1: str, amount0: float, amount1: float, timestamp: int = NOW) -> PoolQuote:
    return PoolQuote(f"ethereum:0x{pool * 40}", token0, token1, amount0, amount1, BLOCK, timestamp)


def test_stablecoins_are_pegged_and_weth_comes_from_the_pool() -> None:
    result = compute_prices([WETH_USDT], [], ANCHORS, now=NOW, block=BLOCK)
    assert {USDC, USDT, DAI} <= result.keys()
    assert result[USDT].price_usd == 1.0 and result[USDT].source == "peg"
    weth = result[WETH]
    assert weth.price_usd == pytest.approx(29720007.471465 / 16245.773375299514)
    assert weth.source == "dex" and weth.sources == (WETH_USDT.pool,)
    assert weth.block == BLOCK and weth.timestamp == NOW and not weth.stale
    assert 0 < weth.confidence <= 1
    # The native coin shares wrapped ether's price.
    assert result["ethereum:0x" + "0" * 40].price_usd == weth.price_usd


def test_thin_pool_is_rejected() -> None:
    thin = quote("a", TOKEN, USDC, 1_000.0, 2_000.0)  # 4,000 USD of depth, under the 10,000 floor
    result = compute_prices([WETH_USDT, thin], [], ANCHORS, now=NOW, block=BLOCK)
    assert TOKEN not in result
    lowered = compute_prices([WETH_USDT, thin], [], ANCHORS, now=NOW, block=BLOCK,
                             config=PricingConfig(min_liquidity_usd=1_000.0))
    assert lowered[TOKEN].price_usd == pytest.approx(2.0)


def test_outlier_pool_is_rejected_and_survivors_are_liquidity_weighted() -> None:
    deep = quote("a", TOKEN, USDC, 1_000_000.0, 2_000_000.0)  # 2.00
    deep2 = quote("b", TOKEN, USDT, 500_000.0, 1_010_000.0)  # 2.02
    outlier = quote("c", TOKEN, DAI, 100_000.0, 300_000.0)  # 3.00, 50% off
    result = compute_prices([WETH_USDT, deep, deep2, outlier], [], ANCHORS, now=NOW, block=BLOCK)
    price = result[TOKEN]
    weighted = (2.0 * 4_000_000 + 2.02 * 2_020_000) / (4_000_000 + 2_020_000)
    assert price.price_usd == pytest.approx(weighted)
    assert outlier.pool not in price.sources
    assert price.sources == (deep.pool, deep2.pool)


def test_stale_pool_price_is_marked_and_trusted_less() -> None:
    day_old = quote("a", TOKEN, USDC, 1_000_000.0, 2_000_000.0, timestamp=NOW - 2 * 86_400)
    fresh = quote("a", TOKEN, USDC, 1_000_000.0, 2_000_000.0)
    stale_price = compute_prices([day_old], [], ANCHORS, now=NOW, block=BLOCK)[TOKEN]
    fresh_price = compute_prices([fresh], [], ANCHORS, now=NOW, block=BLOCK)[TOKEN]
    assert stale_price.stale and not fresh_price.stale
    assert stale_price.confidence == pytest.approx(fresh_price.confidence * 0.5, rel=1e-3)


def test_stale_oracle_answer_is_marked() -> None:
    feed = mainnet_feeds()["ethereum:0x37bc7498f4ff12c19678ee8fe19d713b87f6a9e6"]
    answer = OracleAnswer(feed.id, WETH, "USD", 1830.5, NOW - 3 * 3_600, BLOCK - 900, feed.heartbeat)
    result = compute_prices([WETH_USDT], [answer], ANCHORS, now=NOW, block=BLOCK)
    assert result[WETH].source == "chainlink" and result[WETH].stale
    assert result[WETH].price_usd == 1830.5


def test_chainlink_usd_feed_wins_over_pools() -> None:
    answer = OracleAnswer("ethereum:0x37bc7498f4ff12c19678ee8fe19d713b87f6a9e6", WETH, "USD", 1831.0, NOW - 60, BLOCK)
    result = compute_prices([WETH_USDT], [answer], ANCHORS, now=NOW, block=BLOCK)
    assert result[WETH].price_usd == 1831.0 and not result[WETH].stale
    assert result[WETH].sources == (answer.feed,)


def test_eth_quoted_feed_is_priced_through_weth() -> None:
    # LINK / ETH answer of block 17173049 (aggregator 0xbba1...): 0.00374992 ETH.
    link = "ethereum:0x514910771af9ca656af840dff83e8264ecf986ca"
    answer = OracleAnswer("ethereum:0xbba12740de905707251525477bad74985dec46d2", link, "ETH", 0.00374992,
                          1_683_029_999, 17_173_049, 86_400)
    result = compute_prices([WETH_USDT], [answer], ANCHORS, now=NOW, block=BLOCK)
    assert result[link].source == "chainlink"
    assert result[link].price_usd == pytest.approx(0.00374992 * result[WETH].price_usd)
    assert result[link].confidence < result[WETH].confidence


def test_deepest_path_beats_a_thinner_direct_pool() -> None:
    # TOKEN/USDC directly (20k deep) says 1.50; TOKEN/WETH (20M deep) says 2.00 through WETH.
    direct = quote("a", TOKEN, USDC, 6_666.0, 10_000.0)
    through_weth = quote("b", TOKEN, WETH, 5_000_000.0, 5_000_000.0 * 2.0 / (29720007.471465 / 16245.773375299514))
    result = compute_prices([WETH_USDT, direct, through_weth], [], ANCHORS, now=NOW, block=BLOCK)
    assert result[TOKEN].price_usd == pytest.approx(2.0)
    assert result[TOKEN].sources == (through_weth.pool,)


def test_unreachable_tokens_get_no_price() -> None:
    island = quote("a", TOKEN, OTHER, 1_000_000.0, 1_000_000.0)
    result = compute_prices([island], [], ANCHORS, now=NOW, block=BLOCK)
    assert TOKEN not in result and OTHER not in result


def test_weighted_median() -> None:
    assert weighted_median([(1.0, 1.0), (2.0, 1.0), (100.0, 1.0)]) == 2.0
    assert weighted_median([(1.0, 10.0), (2.0, 1.0), (100.0, 1.0)]) == 1.0
    assert math.isfinite(weighted_median([(5.0, 0.5)]))
