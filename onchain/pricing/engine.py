"""USD prices from oracle answers and pool reserves.

Anchors first: a coin with a USD feed takes the feed's answer; a USD stablecoin without one
is worth one dollar. Everything else is priced outward from the anchors along the deepest
paths, a widest-path search where a path is as deep as its thinnest pool: the coin whose best
path is deepest is priced next, from every pool that joins it to an already priced coin.
Pools thinner than `min_liquidity_usd` are ignored; the candidates' liquidity-weighted
median is the reference, candidates further than `max_deviation` from it are rejected as
outliers, and the survivors' liquidity-weighted mean is the price. A coin whose feed is
quoted in ETH is priced as soon as wrapped ether is, from the feed.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from onchain.pricing.feeds import ChainAnchors
from onchain.pricing.types import OracleAnswer, PoolQuote, Price

ORACLE_CONFIDENCE = 0.99
PEG_CONFIDENCE = 0.9
STALE_PENALTY = 0.5


@dataclass(frozen=True, slots=True)
class PricingConfig:
    """Thresholds of the engine; the defaults suit mainnet, a devnet may lower the liquidity floor."""

    min_liquidity_usd: float = 10_000.0
    max_deviation: float = 0.05
    deep_liquidity_usd: float = 10_000_000.0
    dex_stale_after: int = 86_400
    oracle_grace: float = 1.5


@dataclass(frozen=True, slots=True)
class _Candidate:
    price: float
    depth: float
    pool: str
    timestamp: int
    block: int
    confidence: float
    stale: bool


def weighted_median(values: list[tuple[float, float]]) -> float:
    """Median of (value, weight) pairs: the value at which half the weight lies on each side."""
    ordered = sorted(values)
    half = sum(w for _, w in ordered) / 2
    running = 0.0
    for value, weight in ordered:
        running += weight
        if running >= half:
            return value
    return ordered[-1][0]


def _oracle_price(answer: OracleAnswer, usd_per_quote: float, now: int, config: PricingConfig) -> tuple[float, bool]:
    stale = now - answer.updated_at > answer.heartbeat * config.oracle_grace
    return answer.value * usd_per_quote, stale


def compute_prices(
    quotes: Iterable[PoolQuote],
    answers: Iterable[OracleAnswer],
    anchors: Mapping[str, ChainAnchors],
    *,
    now: int,
    block: int,
    config: PricingConfig | None = None,
) -> dict[str, Price]:
    """Every coin that can be priced, keyed by coin id, as of chain time `now` and `block`."""
    cfg = config or PricingConfig()
    by_token: dict[str, list[PoolQuote]] = defaultdict(list)
    for quote in quotes:
        if quote.amount0 > 0 and quote.amount1 > 0 and quote.token0 != quote.token1:
            by_token[quote.token0].append(quote)
            by_token[quote.token1].append(quote)

    usd_answers: dict[str, OracleAnswer] = {}
    eth_answers: dict[str, OracleAnswer] = {}
    for answer in answers:
        if answer.value <= 0:
            continue
        table = usd_answers if answer.quote == "USD" else eth_answers
        held = table.get(answer.coin)
        if held is None or (answer.updated_at, answer.block) > (held.updated_at, held.block):
            table[answer.coin] = answer

    prices: dict[str, Price] = {}
    width: dict[str, float] = {}
    heap: list[tuple[float, str]] = []

    def settle(price: Price, path_width: float) -> None:
        prices[price.coin] = price
        width[price.coin] = path_width
        for quote in by_token.get(price.coin, ()):
            other, amount_self, _ = quote.other(price.coin)
            if other in prices:
                continue
            depth = 2 * amount_self * price.price_usd
            if depth >= cfg.min_liquidity_usd:
                heapq.heappush(heap, (-min(path_width, depth), other))
        for chain_anchor in anchors.values():
            if price.coin == chain_anchor.weth:
                for coin in eth_answers:
                    if coin not in prices:
                        heapq.heappush(heap, (-path_width, coin))
                if chain_anchor.native and chain_anchor.native not in prices:
                    settle(_alias(price, chain_anchor.native), path_width)

    for coin, answer in usd_answers.items():
        value, stale = _oracle_price(answer, 1.0, now, cfg)
        confidence = ORACLE_CONFIDENCE * (STALE_PENALTY if stale else 1.0)
        settle(Price(coin, value, confidence, "chainlink", (answer.feed,), answer.updated_at, block, stale), math.inf)
    for chain_anchor in anchors.values():
        for coin in sorted(chain_anchor.stablecoins):
            if coin not in prices:
                settle(Price(coin, 1.0, PEG_CONFIDENCE, "peg", (), now, block), math.inf)

    while heap:
        negative_width, coin = heapq.heappop(heap)
        if coin in prices:
            continue
        eth_answer = eth_answers.get(coin)
        weth_price = _weth_price(coin, prices, anchors)
        if eth_answer is not None and weth_price is not None:
            value, stale = _oracle_price(eth_answer, weth_price.price_usd, now, cfg)
            confidence = ORACLE_CONFIDENCE * weth_price.confidence * (STALE_PENALTY if stale else 1.0)
            source = (eth_answer.feed, *weth_price.sources)
            settle(Price(coin, value, confidence, "chainlink", source, eth_answer.updated_at, block, stale),
                   -negative_width)
            continue
        derived = _from_pools(coin, by_token.get(coin, []), prices, now, block, cfg)
        if derived is not None:
            settle(derived, -negative_width)
    return prices


def _alias(price: Price, coin: str) -> Price:
    return Price(coin, price.price_usd, price.confidence, price.source, price.sources, price.timestamp,
                 price.block, price.stale, price.depth_usd)


def _weth_price(coin: str, prices: Mapping[str, Price], anchors: Mapping[str, ChainAnchors]) -> Price | None:
    chain = coin.partition(":")[0]
    anchor = anchors.get(chain)
    if anchor is None or anchor.weth is None:
        return None
    return prices.get(anchor.weth)


def _from_pools(
    coin: str, pools: list[PoolQuote], prices: Mapping[str, Price], now: int, block: int, cfg: PricingConfig
) -> Price | None:
    """Liquidity-weighted price of `coin` over its pools with priced partners, outliers dropped."""
    candidates: list[_Candidate] = []
    for quote in pools:
        other, amount_self, amount_other = quote.other(coin)
        partner = prices.get(other)
        if partner is None:
            continue
        depth = 2 * amount_other * partner.price_usd
        if depth < cfg.min_liquidity_usd:
            continue
        stale = partner.stale or now - quote.timestamp > cfg.dex_stale_after
        candidates.append(
            _Candidate(amount_other / amount_self * partner.price_usd, depth, quote.pool, quote.timestamp,
                       quote.block, partner.confidence, stale)
        )
    if not candidates:
        return None
    reference = weighted_median([(c.price, c.depth) for c in candidates])
    kept = [c for c in candidates if abs(c.price / reference - 1) <= cfg.max_deviation]
    total_depth = sum(c.depth for c in kept)
    value = sum(c.price * c.depth for c in kept) / total_depth
    dispersion = sum(abs(c.price / value - 1) * c.depth for c in kept) / total_depth
    partner_confidence = sum(c.confidence * c.depth for c in kept) / total_depth
    depth_factor = min(1.0, math.log(total_depth / cfg.min_liquidity_usd) /
                       math.log(cfg.deep_liquidity_usd / cfg.min_liquidity_usd))
    agreement = 1 - min(1.0, dispersion / cfg.max_deviation)
    stale = all(c.stale for c in kept)
    confidence = partner_confidence * (0.5 + 0.5 * depth_factor) * (0.8 + 0.2 * agreement)
    if stale:
        confidence *= STALE_PENALTY
    kept.sort(key=lambda c: -c.depth)
    return Price(
        coin=coin,
        price_usd=value,
        confidence=round(confidence, 4),
        source="dex",
        sources=tuple(c.pool for c in kept),
        timestamp=max(c.timestamp for c in kept),
        block=block,
        stale=stale,
        depth_usd=total_depth,
    )
