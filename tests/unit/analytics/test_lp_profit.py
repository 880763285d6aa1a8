"""LP profit net of impermanent loss on a pair built to have a known answer.

A wallet deposits 2,000 USDC and 1 WETH (WETH at $2,000) through a router; WETH then trades up to
$8,000 along the constant product, the pair keeping 10 USDC of fees: reserves 4,010 USDC and 0.5 WETH.
Withdrawn (or valued in place) the position is worth 4,010 + 0.5 * 8,000 = $8,010; holding the deposit
would be worth 2,000 + 1 * 8,000 = $10,000; so the LP made -$1,990 net of impermanent loss (up to the
1,000 units of minimum liquidity the pair locks for ever, a 2e-11 share).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from onchain.analytics.smart_money.features import FEATURES, wallet_features
from onchain.analytics.smart_money.liquidity import ZERO, liquidity_from_events
from onchain.analytics.smart_money.trades import PoolTokens, PriceTape
from onchain.domain.events import Event

PAIR = "0x00000000000000000000000000000000000000aa"
ROUTER = "0x00000000000000000000000000000000000000bb"
LP = "0x00000000000000000000000000000000000000cc"
USDC = "ethereum:0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
WETH = "ethereum:0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
POOLS = {f"ethereum:{PAIR}": PoolTokens(USDC, WETH, 6, 18)}
DEPOSIT = (2_000 * 10**6, 10**18)
LATER = (4_010 * 10**6, 5 * 10**17)
SUPPLY = math.isqrt(DEPOSIT[0] * DEPOSIT[1])
MINTED = SUPPLY - 1000


def event(block: int, index: int, tx: str, family: str, name: str, address: str = PAIR, **args: Any) -> Event:
    return Event("ethereum", block, f"0x{block:064x}", tx, 0, index, address, family, name, "uniswap_v2", args)


def transfer(block: int, index: int, tx: str, source: str, target: str, value: int) -> Event:
    """An LP-token Transfer, emitted by the pair itself."""
    args: dict[str, Any] = {"from": source, "to": target, "value": value}
    return event(block, index, tx, "erc20", "Transfer", **args)


def deposit() -> list[Event]:
    """UniswapV2Pair.mint's logs: the locked minimum, the provider's LP tokens, Sync, Mint (sender: router)."""
    tx = "0x01"
    return [
        transfer(10, 0, tx, ZERO, ZERO, 1000),
        transfer(10, 1, tx, ZERO, LP, MINTED),
        event(10, 2, tx, "uniswap_v2", "Sync", reserve0=DEPOSIT[0], reserve1=DEPOSIT[1]),
        event(10, 3, tx, "uniswap_v2", "Mint", sender=ROUTER, amount0=DEPOSIT[0], amount1=DEPOSIT[1]),
    ]


def price_moves() -> list[Event]:
    return [event(20, 0, "0x02", "uniswap_v2", "Sync", reserve0=LATER[0], reserve1=LATER[1])]


def withdrawal() -> list[Event]:
    """removeLiquidity's logs: LP tokens to the pair, burnt, Sync of what is left, Burn paying the router."""
    tx = "0x03"
    out0, out1 = LATER[0] * MINTED // SUPPLY, LATER[1] * MINTED // SUPPLY
    return [
        transfer(20, 1, tx, LP, PAIR, MINTED),
        transfer(20, 2, tx, PAIR, ZERO, MINTED),
        event(20, 3, tx, "uniswap_v2", "Sync", reserve0=LATER[0] - out0, reserve1=LATER[1] - out1),
        event(20, 4, tx, "uniswap_v2", "Burn", sender=ROUTER, amount0=out0, amount1=out1, to=ROUTER),
    ]


def tape() -> PriceTape:
    prices = PriceTape()
    prices.record(10, {USDC: 1.0, WETH: 2_000.0})
    prices.record(20, {USDC: 1.0, WETH: 8_000.0})
    return prices


def test_withdrawn_position_earns_fees_minus_impermanent_loss() -> None:
    book = liquidity_from_events([*deposit(), *price_moves(), *withdrawal()], POOLS)
    [add, remove] = book.actions
    assert (add.wallet, add.adds, add.lp, add.supply_after) == (LP, True, MINTED, SUPPLY)
    assert (remove.wallet, remove.adds, remove.lp) == (LP, False, MINTED)  # the router was only paid out
    assert remove.supply_after == pytest.approx(1000, abs=1)
    assert book.net_pnl(tape(), 1, 30) == {LP: pytest.approx(-1_990.0, rel=1e-6)}


def test_open_position_is_valued_from_reserves_at_the_window_end() -> None:
    book = liquidity_from_events([*deposit(), *price_moves()], POOLS)
    assert book.net_pnl(tape(), 1, 30) == {LP: pytest.approx(-1_990.0, rel=1e-6)}
    assert book.net_pnl(tape(), 1, 15) == {LP: pytest.approx(0.0, abs=1e-6)}  # before any move or fee
    assert book.net_pnl(tape(), 11, 30) == {}  # deposited before the window: not this window's


def test_lp_profit_is_a_model_feature_of_a_provider_who_never_swapped() -> None:
    book = liquidity_from_events([*deposit(), *price_moves(), *withdrawal()], POOLS)
    features = wallet_features([], tape(), 1, 30, horizon=1, liquidity=book)
    assert "lp_net_pnl_usd" in FEATURES
    assert features[LP].as_dict()["lp_net_pnl_usd"] == pytest.approx(-1_990.0, rel=1e-6)
    assert features[LP].trade_count == 0
