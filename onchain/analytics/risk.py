"""Protocol risk: a 0-100 score (higher is riskier) that shows every input it was made from. Pure.

Each component turns one measured value into a 0-100 sub-score on a stated linear scale (`low`
scores 0, `high` scores 100, clamped in between); the score is the weighted mean of the components
that could be measured, so a DEX is not marked safe or risky for having no lending utilization.

| component | value | scale (0 -> 100) | weight |
|---|---|---|---|
| `tvl_volatility` | standard deviation of TVL over the window / its mean | 0% -> 25% | 15 |
| `tvl_drawdown` | deepest fall of TVL from an earlier peak in the window | 0% -> 50% | 20 |
| `liquidity_concentration` | share of LP tokens held by the top 3 holders, TVL-weighted over pools | 20% -> 90% | 15 |
| `depth` | price impact of a $100k swap, TVL-weighted over pools | 0.1% -> 10% (log) | 20 |
| `oracle_deviation` | largest gap between a coin's Chainlink price and its deepest pool's price | 0.5% -> 5% | 15 |
| `utilization` | borrowed / supplied (lending) | 50% -> 95% | 10 |
| `age_activity` | days since first seen, and events in the last 24 h | 365 d -> 0 d; 1000 -> 0 events (log) | 5 |
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from onchain.domain.events import Event
from onchain.metrics.state import MarketState

SWAP_USD = 100_000.0
TOP_HOLDERS = 3
ZERO = "0x" + "0" * 40
DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Scale:
    """`low` maps to 0, `high` to 100 (either may be the larger); `log` compares log10 of the value."""

    low: float
    high: float
    log: bool = False

    def score(self, value: float) -> float:
        low, high = self.low, self.high
        if self.log:
            value, low, high = (math.log10(max(v, 1e-12)) for v in (value, low, high))
        return 100.0 * min(1.0, max(0.0, (value - low) / (high - low)))


SCALES: dict[str, Scale] = {
    "tvl_volatility": Scale(0.0, 0.25),
    "tvl_drawdown": Scale(0.0, 0.5),
    "liquidity_concentration": Scale(0.2, 0.9),
    "depth": Scale(0.001, 0.1, log=True),
    "oracle_deviation": Scale(0.005, 0.05),
    "utilization": Scale(0.5, 0.95),
    "age": Scale(365.0, 0.0),
    "activity": Scale(1000.0, 1.0, log=True),
}
WEIGHTS: dict[str, float] = {
    "tvl_volatility": 15.0,
    "tvl_drawdown": 20.0,
    "liquidity_concentration": 15.0,
    "depth": 20.0,
    "oracle_deviation": 15.0,
    "utilization": 10.0,
    "age_activity": 5.0,
}


@dataclass(frozen=True, slots=True)
class RiskComponent:
    name: str
    value: float | None
    score: float | None
    weight: float
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "score": self.score, "weight": self.weight,
                "details": self.details}


@dataclass(frozen=True, slots=True)
class RiskScore:
    protocol: str
    score: float | None
    components: tuple[RiskComponent, ...]
    block: int
    timestamp: int

    def as_dict(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "score": self.score, "block": self.block, "timestamp": self.timestamp,
                "components": [c.as_dict() for c in self.components]}


@dataclass(frozen=True, slots=True)
class PoolRisk:
    """One pool's inputs: TVL, the USD value of each side, and LP token balances by holder."""

    pool: str
    tvl_usd: float
    side_usd: tuple[float, float]
    lp_balances: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RiskInputs:
    protocol: str
    block: int
    timestamp: int
    tvl_history: Sequence[float] = ()
    pools: Sequence[PoolRisk] = ()
    oracle_deviations: Mapping[str, float] = field(default_factory=dict)
    supplied_usd: float | None = None
    borrowed_usd: float | None = None
    age_seconds: float | None = None
    events_24h: int | None = None


def price_impact(side_usd: float, swap_usd: float = SWAP_USD) -> float:
    """Execution price impact of selling `swap_usd` into a constant-product side holding `side_usd` (fee aside)."""
    return swap_usd / (side_usd + swap_usd) if side_usd > 0 else 1.0


def max_drawdown(levels: Sequence[float]) -> float:
    peak, deepest = 0.0, 0.0
    for level in levels:
        peak = max(peak, level)
        if peak > 0:
            deepest = max(deepest, 1.0 - level / peak)
    return deepest


def top_share(balances: Mapping[str, int], pool: str, top: int = TOP_HOLDERS) -> float | None:
    """Share of LP tokens held by the `top` largest holders (the zero address and the pool itself excluded)."""
    held = sorted((b for holder, b in balances.items() if holder not in (ZERO, pool) and b > 0), reverse=True)
    total = sum(held)
    return sum(held[:top]) / total if total else None


def _component(name: str, value: float | None, scale: Scale, **details: Any) -> RiskComponent:
    return RiskComponent(name, value, None if value is None else scale.score(value), WEIGHTS[name], details)


def assess(inputs: RiskInputs) -> RiskScore:
    """The score and its components; components without data have `value` and `score` None."""
    history = [v for v in inputs.tvl_history if v > 0]
    volatility = drawdown = None
    if len(history) >= 2:
        mean = sum(history) / len(history)
        volatility = math.sqrt(sum((v - mean) ** 2 for v in history) / len(history)) / mean
        drawdown = max_drawdown(history)
    pools = [p for p in inputs.pools if p.tvl_usd > 0]
    total_tvl = sum(p.tvl_usd for p in pools)
    concentration = depth = None
    shares = [(share, p.tvl_usd) for p in pools if (share := top_share(p.lp_balances, p.pool)) is not None]
    if shares:
        concentration = sum(s * w for s, w in shares) / sum(w for _, w in shares)
    if pools:
        depth = sum(price_impact(min(p.side_usd)) * p.tvl_usd for p in pools) / total_tvl
    deviation = max(inputs.oracle_deviations.values()) if inputs.oracle_deviations else None
    utilization = None
    if inputs.supplied_usd and inputs.borrowed_usd is not None:
        utilization = inputs.borrowed_usd / inputs.supplied_usd
    age_activity = None
    age_details: dict[str, Any] = {"age_days": None, "events_24h": inputs.events_24h}
    parts = []
    if inputs.age_seconds is not None:
        age_details["age_days"] = inputs.age_seconds / DAY
        parts.append(SCALES["age"].score(inputs.age_seconds / DAY))
    if inputs.events_24h is not None:
        parts.append(SCALES["activity"].score(max(inputs.events_24h, 1)))
    if parts:
        age_activity = sum(parts) / len(parts)
    components = (
        _component("tvl_volatility", volatility, SCALES["tvl_volatility"], points=len(history)),
        _component("tvl_drawdown", drawdown, SCALES["tvl_drawdown"], points=len(history)),
        _component("liquidity_concentration", concentration, SCALES["liquidity_concentration"],
                   pools=len(shares), top_holders=TOP_HOLDERS),
        _component("depth", depth, SCALES["depth"], swap_usd=SWAP_USD, pools=len(pools)),
        _component("oracle_deviation", deviation, SCALES["oracle_deviation"],
                   coins=dict(sorted(inputs.oracle_deviations.items()))),
        _component("utilization", utilization, SCALES["utilization"], supplied_usd=inputs.supplied_usd,
                   borrowed_usd=inputs.borrowed_usd),
        RiskComponent("age_activity", age_activity, age_activity, WEIGHTS["age_activity"], age_details),
    )
    measured = [c for c in components if c.score is not None]
    weight = sum(c.weight for c in measured)
    score = sum(c.weight * (c.score or 0.0) for c in measured) / weight if weight else None
    return RiskScore(inputs.protocol, score, components, inputs.block, inputs.timestamp)


class LpBook:
    """LP token balances per pool and holder, kept from the pools' own ERC-20 Transfer events."""

    def __init__(self) -> None:
        self.balances: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def apply(self, events: Iterable[Event], pools: Mapping[str, Any]) -> None:
        """Fold Transfers emitted by a pool in `pools` (ids `chain:address`)."""
        for event in events:
            if event.kind != "erc20.Transfer":
                continue
            pool_id = f"{event.chain}:{event.address}"
            if pool_id not in pools:
                continue
            value = int(event.args["value"])
            book = self.balances[pool_id]
            book[str(event.args["from"])] -= value
            book[str(event.args["to"])] += value


def oracle_deviations(state: MarketState, pool_ids: Iterable[str]) -> dict[str, float]:
    """For each Chainlink-priced coin of these pools: |price in its deepest pool / Chainlink price - 1|."""
    deepest: dict[str, tuple[float, float]] = {}
    for pool_id in pool_ids:
        pool = state.pools.get(pool_id)
        mid = pool.mid_price(state.tokens) if pool is not None else None
        tvl = state.pool_tvl(pool) if pool is not None else None
        if pool is None or not mid or tvl is None:
            continue
        token0, token1 = pool.spec.token0, pool.spec.token1
        for coin, other, ratio in ((token0, token1, mid), (token1, token0, 1.0 / mid)):
            oracle, quote = state.prices.get(coin), state.prices.get(other)
            if oracle is None or quote is None or oracle.source != "chainlink" or oracle.price_usd <= 0:
                continue
            if coin not in deepest or deepest[coin][0] < tvl:
                deepest[coin] = (tvl, abs(ratio * quote.price_usd / oracle.price_usd - 1.0))
    return {coin: deviation for coin, (_, deviation) in deepest.items()}


def pool_inputs(state: MarketState, slug: str, lp: LpBook | None = None) -> list[PoolRisk]:
    """The protocol's pools with a known TVL, from the market state (and LP balances when kept)."""
    out = []
    for pool_id, pool in sorted(state.pools.items()):
        if pool.spec.protocol != slug:
            continue
        tvl = state.pool_tvl(pool)
        amounts = pool.amounts(state.tokens)
        if tvl is None or amounts is None or tvl <= 0:
            continue
        sides = []
        for coin, amount in zip((pool.spec.token0, pool.spec.token1), amounts, strict=True):
            price = state.prices.get(coin)
            sides.append(amount * price.price_usd if price is not None else tvl / 2)
        balances = dict(lp.balances.get(pool_id, {})) if lp is not None else {}
        out.append(PoolRisk(pool_id, tvl, (sides[0], sides[1]), balances))
    return out
