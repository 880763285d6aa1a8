"""The jump guard on a real deep pool, lending TVL, and chain-time windows."""

from __future__ import annotations

from pathlib import Path

import pytest

from onchain.domain.chain import Block
from onchain.domain.events import Event
from onchain.metrics.guards import GuardConfig, JumpGuard
from onchain.metrics.state import MarketState
from onchain.metrics.windows import DAY, HOUR, LevelHistory, RollingSum
from onchain.pricing.feeds import USDC, WETH
from tests.unit.metrics.realdata import etl_blocks, fold, market_for

PAIR = "0x0d4a11d5eeaac28ec3f61d100daf4d40471f1852"
START = 17173050
T0 = 1683030011


def sync(number: int, reserve0: int, reserve1: int) -> Event:
    return Event("ethereum", number, "0x" + "00" * 32, "0x" + "11" * 32, 0, 0, PAIR, "uniswap_v2", "Sync",
                 "uniswap-v2", {"reserve0": reserve0, "reserve1": reserve1})


def block(number: int) -> Block:
    return Block(number, "0x" + "00" * 32, "0x" + "00" * 32, T0 + 12 * (number - START))


@pytest.fixture
def market(chaindata: Path) -> MarketState:
    state, decoder = market_for()
    fold(state, decoder, etl_blocks(chaindata))
    return state


def test_tenfold_jump_on_a_deep_pool_is_flagged_then_confirmed(market: MarketState) -> None:
    view = market.pool_view(f"ethereum:{PAIR}")
    assert view is not None
    honest = market.prices[WETH].price_usd
    weth_raw, usdt_raw = int(view["reserves"][0] * 10**18), int(view["reserves"][1] * 10**6)
    forged = sync(START + 1, weth_raw // 10, usdt_raw)  # WETH x10 in one block
    result = market.apply("ethereum", block(START + 1), [forged])
    assert [flag.id for flag in result.flags] == [f"ethereum:{PAIR}"]
    assert "jump x10" in result.flags[0].reason
    assert market.prices[WETH].price_usd == pytest.approx(honest, rel=0.01)
    assert not [u for u in result.updates if u.channel == "prices" and u.id == WETH]
    assert market.pool_view(f"ethereum:{PAIR}")["flagged"] is True  # type: ignore[index]
    # The same level two more blocks in a row: a real move, accepted.
    market.apply("ethereum", block(START + 2), [sync(START + 2, weth_raw // 10, usdt_raw)])
    confirmed = market.apply("ethereum", block(START + 3), [sync(START + 3, weth_raw // 10, usdt_raw)])
    assert confirmed.flags == []
    assert market.prices[WETH].price_usd > 5 * honest


def test_thin_pools_are_not_guarded() -> None:
    guard = JumpGuard(GuardConfig())
    assert guard.check("p", 1.0, 1, 5_000_000.0) is None
    assert guard.check("p", 10.0, 2, 50_000.0) is None
    assert guard.accepted("p") == 10.0


def test_lending_tvl_is_supplied_minus_borrowed(market: MarketState) -> None:
    def aave(name: str, number: int, **args: object) -> Event:
        return Event("ethereum", number, "0x" + "00" * 32, "0x" + "22" * 32, 0, 0,
                     "0x87870bca3f3fd6335c3f4ce8392d69350b4fa4e2", "aave_v3", name, "aave-v3", dict(args))

    usdc = USDC.split(":")[1]
    weth = WETH.split(":")[1]
    market.apply("ethereum", block(START + 1), [
        aave("Supply", START + 1, reserve=usdc, amount=5_000_000 * 10**6),
        aave("Supply", START + 1, reserve=weth, amount=1_000 * 10**18),
        aave("Borrow", START + 1, reserve=usdc, amount=2_000_000 * 10**6),
    ])
    weth_price = market.prices[WETH].price_usd
    summary = market.protocol_summary("aave-v3")
    assert summary["borrowed"] == pytest.approx(2_000_000)
    assert summary["tvl"] == pytest.approx(5_000_000 + 1_000 * weth_price - 2_000_000)
    market.apply("ethereum", block(START + 2), [
        aave("Repay", START + 2, reserve=usdc, amount=500_000 * 10**6, useATokens=False),
        aave("Withdraw", START + 2, reserve=weth, amount=100 * 10**18),
    ])
    summary = market.protocol_summary("aave-v3")
    assert summary["borrowed"] == pytest.approx(1_500_000)
    assert summary["tvl"] == pytest.approx(5_000_000 + 900 * market.prices[WETH].price_usd - 1_500_000)
    assert summary["category"] == "Lending"


def test_rolling_sum_ends_at_chain_time() -> None:
    window = RollingSum()
    window.add(0, 5.0)
    window.add(HOUR, 7.0)
    window.add(DAY + HOUR, 11.0)
    assert window.total(DAY) == 7.0  # the point at 0 is exactly 24 h old: out
    assert window.total(DAY + HOUR) == 11.0
    assert window.hourly == {0: 5.0, HOUR: 7.0, DAY + HOUR: 11.0}
    assert window.previous_total(DAY + HOUR) is None
    window.add(2 * DAY + HOUR, 1.0)
    assert window.previous_total(2 * DAY + HOUR) == 11.0


def test_change24h_against_the_level_a_day_before() -> None:
    history = LevelHistory()
    history.record(0, 100.0)
    history.record(HOUR, 120.0)
    assert history.change24h(HOUR, 120.0) is None
    assert history.change24h(DAY + HOUR, 150.0) == pytest.approx(25.0)
    assert history.change24h(DAY, 90.0) == pytest.approx(-10.0)
