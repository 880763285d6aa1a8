"""A whole day (2024-01-05) of the Uniswap V3 USDC/WETH 0.05% pool: 24 h volume, hourly series, price."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from onchain.metrics.state import MarketState
from onchain.pricing.feeds import WETH
from tests.unit.metrics.realdata import DEMETER, USDC_WETH_005, V3_SWAP, demeter_blocks, fold, market_for, word

DAY_START = int(datetime(2024, 1, 5, tzinfo=UTC).timestamp())
POOL_ID = f"ethereum:{USDC_WETH_005}"


@pytest.fixture(scope="module")
def market(chaindata: Path) -> MarketState:
    state, decoder = market_for()
    fold(state, decoder, demeter_blocks(chaindata))
    return state


def raw_swaps(chaindata: Path) -> list[dict[str, str]]:
    with (chaindata / DEMETER / f"ethereum-{USDC_WETH_005}-2024-01-05.raw.csv").open() as handle:
        return [row for row in csv.DictReader(handle) if json.loads(row["topics"])[0] == V3_SWAP]


def test_24h_volume_and_fees(chaindata: Path, market: MarketState) -> None:
    swaps = raw_swaps(chaindata)
    # Swap data words: amount0 (USDC, signed), amount1, sqrtPriceX96, liquidity, tick.
    usdc_volume = sum(abs(word(row["data"], 0, signed=True)) for row in swaps) / 1e6
    view = market.pool_view(POOL_ID)
    assert view is not None
    assert len(swaps) == 6046
    assert usdc_volume == pytest.approx(246_966_136.90, abs=0.01)
    assert view["volume24h"] == pytest.approx(usdc_volume, rel=0.005)
    assert view["fees24h"] == pytest.approx(view["volume24h"] * 0.0005)
    # Balances are unknown without the pool's history since Initialize: no TVL is invented.
    assert view["reserves"] is None and view["tvl"] is None


def test_hourly_volume_in_chain_time(chaindata: Path, market: MarketState) -> None:
    expected: dict[int, float] = defaultdict(float)
    for row in raw_swaps(chaindata):
        when = datetime.strptime(row["block_timestamp"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        expected[int(when.timestamp()) // 3600 * 3600] += abs(word(row["data"], 0, signed=True)) / 1e6
    series = market.series("uniswap-v3", "volume", None, None)
    assert [point["timestamp"] for point in series] == [DAY_START + 3600 * hour for hour in range(24)]
    for point in series:
        assert point["value"] == pytest.approx(expected[point["timestamp"]], rel=0.005)
    daily = market.series("uniswap-v3", "volume", None, None, interval=86_400)
    assert daily == [{"timestamp": DAY_START, "value": pytest.approx(sum(expected.values()), rel=0.005)}]
    assert market.series("uniswap-v3", "volume", DAY_START + 3600, DAY_START + 7200) == series[1:3]


def test_weth_price_follows_the_pool(chaindata: Path, market: MarketState) -> None:
    last = raw_swaps(chaindata)[-1]
    sqrt_price = word(last["data"], 2) / 2**96
    expected = 1 / (sqrt_price**2) * 1e12  # USDC per WETH from token1/token0 in raw units
    price = market.prices[WETH]
    assert price.price_usd == pytest.approx(expected, rel=1e-9)
    assert price.block == 18944480 and price.sources == (POOL_ID,)
    assert market.flags == []
