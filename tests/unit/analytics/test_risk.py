"""Protocol risk: components from real mainnet pool states (ethereum-etl 17173049-50), moving the right
way when the WETH/USDT pair is drained; scales, weights, LP concentration from Transfer events."""

from __future__ import annotations

from pathlib import Path

import pytest

from onchain.analytics.risk import (
    SCALES,
    WEIGHTS,
    LpBook,
    PoolRisk,
    RiskInputs,
    Scale,
    assess,
    max_drawdown,
    pool_inputs,
    price_impact,
    top_share,
)
from onchain.domain.events import Event
from tests.unit.analytics.drained import CHAIN, WETH_USDT_ID, Replayed, drain, replay


def uniswap_risk(replayed: Replayed) -> dict[str, float | None]:
    summary = replayed.state.protocol_summary("uniswap-v2")
    history = replayed.tvl["uniswap-v2"]
    score = assess(RiskInputs("uniswap-v2", summary["block"], summary["timestamp"], tvl_history=history,
                              pools=pool_inputs(replayed.state, "uniswap-v2")))
    out: dict[str, float | None] = {c.name: c.score for c in score.components}
    out["score"] = score.score
    return out


def test_a_drained_pool_makes_its_protocol_riskier(chaindata: Path) -> None:
    replayed = replay(chaindata)
    before = uniswap_risk(replayed)
    drain(replayed, keep=0.1)
    after = uniswap_risk(replayed)
    assert before["score"] is not None and after["score"] is not None
    assert after["score"] > before["score"] + 10
    # Two real blocks hardly move TVL; losing 90% of the 59M pair takes 80% of it, past the 50% scale.
    assert before["tvl_drawdown"] is not None and before["tvl_drawdown"] < 1.0
    assert after["tvl_drawdown"] == 100.0
    assert after["depth"] is not None and before["depth"] is not None and after["depth"] > before["depth"]
    assert after["utilization"] is None  # a DEX: not measured, no weight


def test_depth_is_the_impact_of_a_100k_swap_on_the_real_pair(chaindata: Path) -> None:
    replayed = replay(chaindata)
    pools = {p.pool: p for p in pool_inputs(replayed.state, "uniswap-v2")}
    pair = pools[WETH_USDT_ID]
    assert pair.tvl_usd == pytest.approx(sum(pair.side_usd))
    assert pair.side_usd[0] == pytest.approx(pair.side_usd[1], rel=0.01)  # a V2 pair holds equal values
    impact = price_impact(min(pair.side_usd))
    assert impact == pytest.approx(100_000 / (min(pair.side_usd) + 100_000))
    assert 0.003 < impact < 0.004  # about 0.34% on a 59M USD pair


def test_scales_clamp_and_log() -> None:
    assert Scale(0.0, 0.5).score(0.25) == 50.0
    assert Scale(0.0, 0.5).score(2.0) == 100.0 and Scale(0.0, 0.5).score(-1.0) == 0.0
    assert SCALES["depth"].score(0.01) == pytest.approx(50.0)  # 1% sits halfway between 0.1% and 10% in log
    assert SCALES["age"].score(0.0) == 100.0 and SCALES["age"].score(400.0) == 0.0
    assert sum(WEIGHTS.values()) == 100.0


def test_only_measured_components_weigh() -> None:
    pools = [PoolRisk("ethereum:0xp", 2_000_000.0, (1_000_000.0, 1_000_000.0))]
    score = assess(RiskInputs("x", 1, 1, pools=pools))
    depth = next(c for c in score.components if c.name == "depth")
    assert depth.value == pytest.approx(100_000 / 1_100_000)
    assert score.score == pytest.approx(depth.score)
    lending = assess(RiskInputs("y", 1, 1, supplied_usd=100.0, borrowed_usd=95.0))
    assert lending.score == 100.0 and lending.components[5].value == pytest.approx(0.95)
    assert assess(RiskInputs("z", 1, 1)).score is None


def test_drawdown_and_volatility_from_the_history() -> None:
    assert max_drawdown([100.0, 120.0, 60.0, 90.0]) == pytest.approx(0.5)
    flat = assess(RiskInputs("x", 1, 1, tvl_history=[5.0, 5.0, 5.0]))
    assert [c.score for c in flat.components[:2]] == [0.0, 0.0]


def transfer(pool: str, sender: str, receiver: str, value: int) -> Event:
    return Event(CHAIN, 1, "0x" + "00" * 32, "0x" + "11" * 32, 0, 0, pool, "erc20", "Transfer", None,
                 {"from": sender, "to": receiver, "value": value})


def test_lp_concentration_from_the_pool_tokens_transfers() -> None:
    pool = "0x" + "aa" * 20
    zero = "0x" + "00" * 20
    holders = ["0x" + f"{i:02x}" * 20 for i in range(1, 6)]
    events = [transfer(pool, zero, zero, 1_000)]  # the pair locks its minimum liquidity at the zero address
    events += [transfer(pool, zero, holder, 100 * (i + 1)) for i, holder in enumerate(holders)]
    events += [transfer(pool, holders[4], pool, 500), transfer(pool, pool, zero, 500)]  # holder 5 burns it all
    events.append(transfer("0x" + "bb" * 20, zero, holders[0], 10**9))  # another contract's token: ignored
    book = LpBook()
    book.apply(events, {f"{CHAIN}:{pool}": object()})
    balances = book.balances[f"{CHAIN}:{pool}"]
    assert top_share(balances, pool) == pytest.approx((400 + 300 + 200) / (400 + 300 + 200 + 100))
