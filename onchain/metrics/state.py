"""The market as of the newest block: pool states, prices, TVL, volumes and fees, folded block by block.

`MarketState.apply(chain, block, events)` is pure: it takes one block's decoded events and
returns what changed (updates for the bus, rows for `protocol_metrics`, data-quality flags).
The same fold serves a live chain, a replay and a rebuild from storage, so all three agree.

Volume of a swap is the mean of the USD values of what went in and what came out when both
coins have a price (that cancels the fee and the price impact between the two sides), else the
priced side. Fees are volume times the pool's fee. TVL of a pool is reserves times prices; a
constant-product pool with one priced coin counts that side twice, since both sides are worth
the same at the pool's price. Lending TVL is supplied minus borrowed, borrowed reported beside.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from onchain.domain.chain import Block
from onchain.domain.events import Event
from onchain.domain.topics import PRICES, PROTOCOLS, TVL, VOLUMES
from onchain.metrics.guards import Flag, GuardConfig, JumpGuard
from onchain.metrics.pools import PoolSpec, PoolState, TokenSpec
from onchain.metrics.windows import HOUR, LevelHistory, RollingSum, change_pct, hour_start
from onchain.pricing.engine import PricingConfig, compute_prices
from onchain.pricing.feeds import ChainAnchors, FeedSpec, default_anchors, mainnet_feeds
from onchain.pricing.types import OracleAnswer, PoolQuote, Price

DEX_FAMILIES = frozenset({"uniswap_v2", "uniswap_v3"})
LENDING_FAMILIES = frozenset({"aave_v3"})
CATEGORY_BY_FAMILY = {"uniswap_v2": "Dexes", "uniswap_v3": "Dexes", "aave_v3": "Lending"}


@dataclass(frozen=True, slots=True)
class Update:
    """One changed value for a bus topic, in the WebSocket `update` data shape."""

    channel: str
    id: str
    value: float
    timestamp: int
    change24h: float | None
    block: int
    chain: str | None = None
    extra: tuple[tuple[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "value": self.value,
            "timestamp": self.timestamp,
            "change24h": self.change24h,
            "block": self.block,
        }
        if self.chain is not None:
            data["chain"] = self.chain
        data.update(self.extra)
        return data


@dataclass(frozen=True, slots=True)
class MetricRow:
    """A `protocol_metrics` point: `resolution` is `block` or `hour` (the hour's start)."""

    protocol: str
    chain: str
    metric: str
    resolution: str
    timestamp: int
    block: int
    value: float


@dataclass(slots=True)
class BlockResult:
    chain: str
    block: int
    timestamp: int
    updates: list[Update] = field(default_factory=list)
    rows: list[MetricRow] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)


@dataclass(slots=True)
class _Lending:
    supplied: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    borrowed: dict[str, int] = field(default_factory=lambda: defaultdict(int))


@dataclass(slots=True)
class _ProtocolChain:
    """Per (protocol, chain): levels and flows with their hourly history."""

    tvl: float | None = None
    borrowed: float | None = None
    volume: RollingSum = field(default_factory=RollingSum)
    fees: RollingSum = field(default_factory=RollingSum)
    hourly_tvl: dict[int, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProtocolInfo:
    slug: str
    name: str
    category: str


class MarketState:
    """Everything the market service serves, kept in memory and advanced one block at a time."""

    def __init__(
        self,
        *,
        feeds: Mapping[str, FeedSpec] | None = None,
        anchors: Mapping[str, ChainAnchors] | None = None,
        pricing: PricingConfig | None = None,
        guard: GuardConfig | None = None,
    ) -> None:
        self.feeds: dict[str, FeedSpec] = dict(mainnet_feeds() if feeds is None else feeds)
        self.anchors: dict[str, ChainAnchors] = dict(default_anchors() if anchors is None else anchors)
        self.pricing = pricing or PricingConfig()
        self.guard = JumpGuard(guard)
        self.tokens: dict[str, TokenSpec] = {}
        self.pools: dict[str, PoolState] = {}
        self.protocols: dict[str, ProtocolInfo] = {}
        self.prices: dict[str, Price] = {}
        self.flags: list[Flag] = []
        self.skipped_events = 0
        self.heads: dict[str, tuple[int, int]] = {}
        # Bumped by every change to prices or tokens, so readers may cache answers derived from them.
        self.version = 0
        self._answers: dict[str, dict[str, OracleAnswer]] = defaultdict(dict)
        self._quotes: dict[str, dict[str, PoolQuote]] = defaultdict(dict)
        self._flagged: set[str] = set()
        self._active: dict[str, dict[str, PoolState]] = defaultdict(dict)
        self._pool_volume: dict[str, RollingSum] = defaultdict(RollingSum)
        self._pool_fees: dict[str, RollingSum] = defaultdict(RollingSum)
        self._pool_tvl: dict[str, float | None] = {}
        self._lending: dict[tuple[str, str], _Lending] = defaultdict(_Lending)
        self._metrics: dict[tuple[str, str], _ProtocolChain] = defaultdict(_ProtocolChain)
        self._price_history: dict[str, LevelHistory] = defaultdict(LevelHistory)
        self._tvl_history: dict[str, LevelHistory] = defaultdict(LevelHistory)
        self._published: dict[tuple[str, str], float] = {}
        self._hour: dict[str, int] = {}

    # registration --------------------------------------------------------------------------

    def add_token(self, token: TokenSpec) -> None:
        self.tokens[token.coin] = token
        self.version += 1

    def add_pool(self, spec: PoolSpec) -> None:
        if spec.id not in self.pools:
            self.pools[spec.id] = PoolState(spec)
            self.add_protocol(spec.protocol, family=spec.family)

    def add_feed(self, spec: FeedSpec) -> None:
        self.feeds[spec.id] = spec

    def add_protocol(self, slug: str, *, name: str | None = None, category: str | None = None,
                     family: str | None = None) -> None:
        held = self.protocols.get(slug)
        if held is None or name or category:
            self.protocols[slug] = ProtocolInfo(
                slug,
                name or (held.name if held else slug),
                category or (held.category if held else CATEGORY_BY_FAMILY.get(family or "", "Dexes")),
            )

    # the fold ------------------------------------------------------------------------------

    def apply(self, chain: str, block: Block, events: Iterable[Event]) -> BlockResult:
        """Fold one block's events in and report what changed."""
        now, number = block.timestamp, block.number
        self.version += 1
        result = BlockResult(chain, number, now)
        closed_hour = self._advance_hour(chain, now)
        if closed_hour is not None:
            result.rows.extend(self._hour_rows(chain, closed_hour))
        self.heads[chain] = (number, now)
        swaps: list[tuple[PoolState, int, int]] = []
        touched: dict[str, PoolState] = {}
        for event in sorted(events, key=lambda e: (e.transaction_index, e.log_index)):
            self._fold(chain, event, now, swaps, touched)
        for pool in touched.values():
            self._guard_pool(pool, number, result)
        anchors = {chain: self.anchors[chain]} if chain in self.anchors else {}
        computed = compute_prices(self._quotes[chain].values(), self._answers[chain].values(), anchors,
                                  now=now, block=number, config=self.pricing)
        self.prices.update(computed)
        block_flows = self._record_swaps(chain, swaps, now)
        self._recompute_tvl(chain)
        self._publish(chain, number, now, computed, block_flows, result)
        self.flags.extend(result.flags)
        return result

    def _advance_hour(self, chain: str, now: int) -> int | None:
        current = self._hour.get(chain)
        self._hour[chain] = hour_start(now)
        if current is not None and hour_start(now) > current:
            return current
        return None

    def _fold(self, chain: str, event: Event, now: int, swaps: list[tuple[PoolState, int, int]],
              touched: dict[str, PoolState]) -> None:
        if event.family in DEX_FAMILIES:
            pool = self.pools.get(f"{chain}:{event.address}")
            if pool is None:
                self.skipped_events += 1
                return
            moved = pool.apply(event.name, event.args, event.block_number, now)
            touched[pool.spec.id] = pool
            self._active[chain][pool.spec.id] = pool
            if moved is not None:
                swaps.append((pool, *moved))
        elif event.family == "chainlink" and event.name == "AnswerUpdated":
            spec = self.feeds.get(f"{chain}:{event.address}")
            if spec is None:
                self.skipped_events += 1
                return
            updated_at = int(event.args.get("updatedAt", now))
            self._answers[chain][spec.coin + spec.quote] = OracleAnswer(
                spec.id, spec.coin, spec.quote, int(event.args["current"]) / 10**spec.decimals, updated_at,
                event.block_number, spec.heartbeat)
        elif event.family in LENDING_FAMILIES:
            self._fold_lending(chain, event)

    def _fold_lending(self, chain: str, event: Event) -> None:
        slug = event.protocol or event.family.replace("_", "-")
        self.add_protocol(slug, family=event.family)
        book = self._lending[(slug, chain)]
        args = event.args
        if event.name == "Supply":
            book.supplied[args["reserve"]] += int(args["amount"])
        elif event.name == "Withdraw":
            book.supplied[args["reserve"]] -= int(args["amount"])
        elif event.name == "Borrow":
            book.borrowed[args["reserve"]] += int(args["amount"])
        elif event.name == "Repay":
            book.borrowed[args["reserve"]] -= int(args["amount"])
            if args.get("useATokens"):
                book.supplied[args["reserve"]] -= int(args["amount"])
        elif event.name == "LiquidationCall":
            book.borrowed[args["debtAsset"]] -= int(args["debtToCover"])
            if not args.get("receiveAToken"):
                book.supplied[args["collateralAsset"]] -= int(args["liquidatedCollateralAmount"])

    def _guard_pool(self, pool: PoolState, number: int, result: BlockResult) -> None:
        quote = pool.quote(self.tokens)
        if quote is None:
            return
        depth = self._depth(quote)
        flag = self.guard.check(pool.spec.id, quote.amount1 / quote.amount0, number, depth)
        if flag is None:
            self._quotes[pool.spec.chain][pool.spec.id] = quote
            self._flagged.discard(pool.spec.id)
        else:
            self._flagged.add(pool.spec.id)
            result.flags.append(flag)

    def _depth(self, quote: PoolQuote) -> float | None:
        for coin, amount in ((quote.token0, quote.amount0), (quote.token1, quote.amount1)):
            price = self.prices.get(coin)
            if price is not None:
                return 2 * amount * price.price_usd
        return None

    def _value(self, coin: str, raw: int) -> float | None:
        price, token = self.prices.get(coin), self.tokens.get(coin)
        if price is None or token is None:
            return None
        return raw / 10.0**token.decimals * price.price_usd

    def swap_usd(self, pool: PoolState, moved0: int, moved1: int) -> float | None:
        """USD volume of one swap at current prices (see the module docstring)."""
        sides = [v for v in (self._value(pool.spec.token0, moved0), self._value(pool.spec.token1, moved1))
                 if v is not None]
        return sum(sides) / len(sides) if sides else None

    def _record_swaps(self, chain: str, swaps: list[tuple[PoolState, int, int]], now: int) -> dict[str, list[float]]:
        flows: dict[str, list[float]] = {}
        for pool, moved0, moved1 in swaps:
            if pool.spec.id in self._flagged:
                continue
            usd = self.swap_usd(pool, moved0, moved1)
            if usd is None:
                continue
            fees = usd * pool.spec.fee
            self._pool_volume[pool.spec.id].add(now, usd)
            self._pool_fees[pool.spec.id].add(now, fees)
            metrics = self._metrics[(pool.spec.protocol, chain)]
            metrics.volume.add(now, usd)
            metrics.fees.add(now, fees)
            flow = flows.setdefault(pool.spec.protocol, [0.0, 0.0])
            flow[0] += usd
            flow[1] += fees
        return flows

    def pool_tvl(self, pool: PoolState) -> float | None:
        amounts = pool.amounts(self.tokens)
        if amounts is None:
            return None
        values = [None if (p := self.prices.get(coin)) is None else amount * p.price_usd
                  for coin, amount in zip((pool.spec.token0, pool.spec.token1), amounts, strict=True)]
        known = [v for v in values if v is not None]
        if len(known) == 2:
            return known[0] + known[1]
        if len(known) == 1 and pool.spec.family == "uniswap_v2":
            return 2 * known[0]
        return None

    def _recompute_tvl(self, chain: str) -> None:
        totals: dict[str, float] = defaultdict(float)
        for pool in self._active[chain].values():
            tvl = self.pool_tvl(pool)
            self._pool_tvl[pool.spec.id] = tvl
            if tvl is not None:
                totals[pool.spec.protocol] += tvl
        for (slug, book_chain), book in self._lending.items():
            if book_chain != chain:
                continue
            supplied = sum(self._value(coin_of(chain, r), amount) or 0.0 for r, amount in book.supplied.items())
            borrowed = sum(self._value(coin_of(chain, r), amount) or 0.0 for r, amount in book.borrowed.items())
            totals[slug] += supplied - borrowed
            self._metrics[(slug, chain)].borrowed = borrowed
        hour = hour_start(self.heads[chain][1])
        for slug, tvl in totals.items():
            metrics = self._metrics[(slug, chain)]
            metrics.tvl = tvl
            metrics.hourly_tvl[hour] = tvl

    def _publish(self, chain: str, number: int, now: int, computed: Mapping[str, Price],
                 flows: Mapping[str, list[float]], result: BlockResult) -> None:
        for coin, price in sorted(computed.items()):
            history = self._price_history[coin]
            history.record(now, price.price_usd)
            if self._changed(PRICES, coin, price.price_usd):
                change = history.change24h(now, price.price_usd)
                result.updates.append(Update(PRICES, coin, price.price_usd, now, change, number, chain,
                                             (("confidence", price.confidence),)))
        chain_slugs = sorted({slug for slug, c in self._metrics if c == chain})
        for slug in chain_slugs:
            metrics = self._metrics[(slug, chain)]
            if metrics.tvl is not None and self._changed("row-tvl", f"{slug}:{chain}", metrics.tvl):
                result.rows.append(MetricRow(slug, chain, "tvl", "block", now, number, metrics.tvl))
            if metrics.borrowed is not None and self._changed("row-borrowed", f"{slug}:{chain}", metrics.borrowed):
                result.rows.append(MetricRow(slug, chain, "borrowed", "block", now, number, metrics.borrowed))
            volume, fees = flows.get(slug, (0.0, 0.0))
            if volume:
                result.rows.append(MetricRow(slug, chain, "volume", "block", now, number, volume))
                result.rows.append(MetricRow(slug, chain, "fees", "block", now, number, fees))
        for slug in chain_slugs:
            summary = self.protocol_summary(slug)
            tvl, volume = summary["tvl"], summary["volume24h"]
            history = self._tvl_history[slug]
            history.record(now, tvl)
            tvl_change = history.change24h(now, tvl)
            if self._changed(TVL, slug, tvl):
                result.updates.append(Update(TVL, slug, tvl, now, tvl_change, number))
            if self._changed(VOLUMES, slug, volume):
                result.updates.append(Update(VOLUMES, slug, volume, now, summary["volumeChange24h"], number))
            if self._changed(PROTOCOLS, slug, tvl + volume):
                extra = (("volume24h", volume), ("fees24h", summary["fees24h"]), ("chainTvls", summary["chainTvls"]))
                result.updates.append(Update(PROTOCOLS, slug, tvl, now, tvl_change, number, None, extra))

    def _changed(self, channel: str, key: str, value: float) -> bool:
        held = self._published.get((channel, key))
        self._published[(channel, key)] = value
        return held is None or held != value

    def _hour_rows(self, chain: str, hour: int) -> list[MetricRow]:
        rows: list[MetricRow] = []
        number = self.heads.get(chain, (0, 0))[0]
        for (slug, metrics_chain), metrics in sorted(self._metrics.items()):
            if metrics_chain != chain:
                continue
            if hour in metrics.hourly_tvl:
                rows.append(MetricRow(slug, chain, "tvl", "hour", hour, number, metrics.hourly_tvl[hour]))
            if hour in metrics.volume.hourly:
                rows.append(MetricRow(slug, chain, "volume", "hour", hour, number, metrics.volume.hourly[hour]))
                rows.append(MetricRow(slug, chain, "fees", "hour", hour, number, metrics.fees.hourly[hour]))
        return rows

    # views ---------------------------------------------------------------------------------

    def protocol_slugs(self) -> list[str]:
        """Protocols with at least one measured figure (a pool with events, a lending reserve)."""
        return sorted({slug for slug, _ in self._metrics})

    def protocol_summary(self, slug: str) -> dict[str, Any]:
        """TVL, volume and fees of a protocol summed over its chains, each at its chain's newest block."""
        chain_tvls: dict[str, float] = {}
        borrowed: dict[str, float] = {}
        volume = fees = 0.0
        previous_volume: float | None = 0.0
        block = timestamp = 0
        for (slug_, chain), metrics in sorted(self._metrics.items()):
            if slug_ != slug:
                continue
            number, now = self.heads.get(chain, (0, 0))
            block, timestamp = max(block, number), max(timestamp, now)
            chain_tvls[chain] = metrics.tvl or 0.0
            if metrics.borrowed is not None:
                borrowed[chain] = metrics.borrowed
            volume += metrics.volume.total(now)
            fees += metrics.fees.total(now)
            before = metrics.volume.previous_total(now)
            previous_volume = None if previous_volume is None or before is None else previous_volume + before
        info = self.protocols.get(slug, ProtocolInfo(slug, slug, "Dexes"))
        tvl = sum(chain_tvls.values())
        return {
            "id": slug,
            "slug": slug,
            "name": info.name,
            "category": info.category,
            "chains": sorted(chain_tvls),
            "tvl": tvl,
            "chainTvls": chain_tvls,
            "borrowed": sum(borrowed.values()) if borrowed else None,
            "chainBorrowed": borrowed or None,
            "volume24h": volume,
            "fees24h": fees,
            "change24h": self._tvl_history[slug].change24h(timestamp, tvl) if slug in self._tvl_history else None,
            "volumeChange24h": change_pct(volume, previous_volume),
            "block": block,
            "timestamp": timestamp,
        }

    def pool_view(self, pool_id: str) -> dict[str, Any] | None:
        pool = self.pools.get(pool_id)
        if pool is None:
            return None
        now = self.heads.get(pool.spec.chain, (0, 0))[1]
        amounts = pool.amounts(self.tokens)
        tokens = []
        for coin in (pool.spec.token0, pool.spec.token1):
            token = self.tokens.get(coin)
            tokens.append({"id": coin, "symbol": token.symbol if token else None,
                           "decimals": token.decimals if token else None})
        volume = self._pool_volume.get(pool_id)
        fees = self._pool_fees.get(pool_id)
        return {
            "id": pool_id,
            "protocol": pool.spec.protocol,
            "chain": pool.spec.chain,
            "address": pool.spec.address,
            "fee": pool.spec.fee,
            "tokens": tokens,
            "reserves": list(amounts) if amounts is not None else None,
            "tvl": self._pool_tvl.get(pool_id),
            "volume24h": volume.total(now) if volume else 0.0,
            "fees24h": fees.total(now) if fees else 0.0,
            "price": pool.mid_price(self.tokens),
            "flagged": pool_id in self._flagged,
            "block": pool.block,
            "timestamp": pool.timestamp,
        }

    def series(self, slug: str, metric: str, start: int | None, end: int | None, interval: int = HOUR
               ) -> list[dict[str, Any]]:
        """Hourly history of a protocol summed over chains, grouped into `interval`-second buckets.

        TVL buckets hold the last level seen in the bucket; volume and fees hold sums.
        """
        buckets: dict[int, float] = defaultdict(float)
        levels: dict[tuple[str, int], tuple[int, float]] = {}
        for (slug_, chain), metrics in self._metrics.items():
            if slug_ != slug:
                continue
            if metric == "tvl":
                for hour, value in metrics.hourly_tvl.items():
                    key = (chain, hour - hour % interval)
                    if key not in levels or levels[key][0] < hour:
                        levels[key] = (hour, value)
            else:
                source = metrics.volume.hourly if metric == "volume" else metrics.fees.hourly
                for hour, value in source.items():
                    buckets[hour - hour % interval] += value
        for (_, bucket), (_, value) in levels.items():
            buckets[bucket] += value
        return [{"timestamp": ts, "value": value} for ts, value in sorted(buckets.items())
                if (start is None or ts >= start) and (end is None or ts <= end)]


def coin_of(chain: str, address: str) -> str:
    return f"{chain}:{address.lower()}"
