"""The market service: `MarketState` fed from storage and the bus, its changes sent on.

At start it subscribes to the pipeline's `events` topic, then rebuilds the state from every stored
event (so `onchain serve` after `onchain replay` answers right), then applies each committed batch
block by block, skipping blocks the rebuild already covered. Each block's changes go out on the bus
topics `prices`, `tvl`, `volumes`, `protocols` in block order, its time-series points into
`protocol_metrics`, and with Redis the latest values under `realtime:tvl:{protocolId}`,
`realtime:price:{coinId}`, `realtime:volume:{protocolId}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from onchain.bus.base import Bus, BusError, Subscription
from onchain.chains.registry import ChainRegistry
from onchain.domain.chain import Block
from onchain.domain.events import Event
from onchain.domain.topics import EVENTS, PRICES, REORG, TVL, VOLUMES, event_from_dict
from onchain.errors import StorageError
from onchain.metrics.pools import PoolSpec, PoolState, TokenSpec
from onchain.metrics.series import write_points
from onchain.metrics.state import DEX_FAMILIES, BlockResult, MarketState, MetricRow
from onchain.outage import Backoff, OutageLog
from onchain.pricing.feeds import ChainAnchors, FeedSpec
from onchain.protocols.base import PoolDirectory, PoolInfo
from onchain.protocols.registry import PROTOCOLS
from onchain.protocols.tokens import TokenDirectory
from onchain.storage.records import BlockRecord, PoolRecord
from onchain.storage.store import Store

if TYPE_CHECKING:
    from onchain.devnet.deployment import Deployment

log = logging.getLogger(__name__)

CACHE_KEYS = {PRICES: "realtime:price:{}", TVL: "realtime:tvl:{}", VOLUMES: "realtime:volume:{}"}
MARKET_KINDS = (
    "uniswap_v2.Sync",
    "uniswap_v2.Swap",
    "uniswap_v3.Initialize",
    "uniswap_v3.Swap",
    "uniswap_v3.Mint",
    "uniswap_v3.Burn",
    "uniswap_v3.Collect",
    "uniswap_v3.Flash",
    "chainlink.AnswerUpdated",
    "aave_v3.Supply",
    "aave_v3.Withdraw",
    "aave_v3.Borrow",
    "aave_v3.Repay",
    "aave_v3.LiquidationCall",
)
V2_FEE = 0.003
TOKEN_QUERIES = 8  # above this many unknown tokens on a chain, read the chain's whole token table once


def pool_spec(chain: str, family: str, protocol: str, address: str, token0: str, token1: str,
              fee: int | None) -> PoolSpec:
    """A pool as the state knows it; V3 fee tiers are hundredths of a basis point (500 = 0.05%)."""
    return PoolSpec(f"{chain}:{address}", chain, address, protocol, family, f"{chain}:{token0}", f"{chain}:{token1}",
                    V2_FEE if fee is None or family == "uniswap_v2" else fee / 1_000_000)


def _block(record: BlockRecord) -> Block:
    return Block(record.number, record.hash, record.parent_hash, record.timestamp)


class MarketService:
    """Holds the live market; the API reads `state`, everything else arrives through `apply`."""

    def __init__(
        self,
        store: Store | None,
        bus: Bus | None = None,
        *,
        state: MarketState | None = None,
        redis: Redis | None = None,
        redis_prefix: str = "",
        tokens: TokenDirectory | None = None,
        chains: ChainRegistry | None = None,
        retry: Backoff | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.state = state or MarketState()
        self.redis = redis
        self.redis_prefix = redis_prefix
        self.token_directory = tokens or TokenDirectory.default()
        self.chains = chains if chains is not None else ChainRegistry.shipped()
        self._directories: dict[str, PoolDirectory] = {}
        self._missing_pools: set[str] = set()
        self._pending_tokens: dict[str, set[str]] = defaultdict(set)
        self._missing_tokens: set[str] = set()
        self._subscriptions: list[Subscription] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._reading = OutageLog(log, "market service (reading an events batch's blocks)")
        self._storing = OutageLog(log, "market service (storing metric points)")
        self._publishing = OutageLog(log, "market service (publishing updates on the bus)")
        self._caching = OutageLog(log, "market service (caching latest values in redis)")
        self._rebuilding = OutageLog(log, "market service (rebuilding after a reorg)")
        self._retry = retry or Backoff()
        self._lock = asyncio.Lock()
        for protocol in PROTOCOLS.values():
            self.state.add_protocol(protocol.slug, name=protocol.name, category=protocol.category)
        for chain, anchors in self.state.anchors.items():
            self._add_native(chain, anchors)

    # configuration ---------------------------------------------------------------------------

    def add_feed(self, spec: FeedSpec) -> None:
        self.state.add_feed(spec)

    def set_anchors(self, chain: str, anchors: ChainAnchors) -> None:
        self.state.anchors[chain] = anchors
        self._add_native(chain, anchors)

    def _add_native(self, chain: str, anchors: ChainAnchors) -> None:
        """The native coin is no ERC-20 any directory lists; its symbol and decimals are the chain's."""
        if anchors.native is not None and chain in self.chains:
            info = self.chains.get(chain)
            self.state.add_token(TokenSpec(anchors.native, info.native_symbol, info.native_decimals))

    def configure_devnet(self, deployment: Deployment, chain: str = "devnet") -> None:
        """Trust the devnet's own feeds and stablecoins, as mainnet's are trusted, and know its tokens."""
        by_symbol = {token.symbol: token for token in (deployment.weth, *deployment.tokens.values())}
        for token in by_symbol.values():
            self.state.add_token(TokenSpec(f"{chain}:{token.address}", token.symbol, token.decimals))
        for feed in deployment.feeds:
            base = by_symbol.get(feed.base)
            if base is not None:
                self.add_feed(FeedSpec(chain, feed.address.lower(), f"{chain}:{base.address}", "USD", feed.decimals))
        stable = frozenset(f"{chain}:{t.address}" for s, t in by_symbol.items() if s in {"USDC", "USDT", "DAI"})
        self.set_anchors(chain, ChainAnchors(stable, f"{chain}:{deployment.weth.address}", f"{chain}:0x{'0' * 40}"))
        self.add_pools(PoolInfo(p.address, chain, "uniswap-v2", "uniswap_v2", p.token0.address, p.token1.address,
                                None, deployment.factory) for p in deployment.pools)

    def add_pools(self, pools: Iterable[PoolInfo | PoolRecord]) -> None:
        """Register pools with their tokens: the one way a pool enters the market, live or rebuilt.

        A pool without its tokens' decimals has no reserves, price or TVL, so each token is looked
        up in the shipped directory here, and what it lacks is queued for the store
        (`_resolve_tokens`, awaited by every path that adds pools).
        """
        for pool in pools:
            if pool.family not in DEX_FAMILIES:
                continue
            self.state.add_pool(pool_spec(pool.chain, pool.family, pool.protocol or pool.family, pool.address,
                                          pool.token0, pool.token1, pool.fee))
            for address in (pool.token0, pool.token1):
                coin = f"{pool.chain}:{address}"
                if coin in self.state.tokens or coin in self._missing_tokens:
                    continue
                info = self.token_directory.get(pool.chain, address)
                if info is not None:
                    self.state.add_token(TokenSpec(coin, info.symbol, info.decimals))
                else:
                    self._pending_tokens[pool.chain].add(address)

    # lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe, rebuild from storage, then follow the bus in the background."""
        if self.bus is not None:
            events = await self.bus.subscribe(EVENTS)
            reorgs = await self.bus.subscribe(REORG)
            self._subscriptions = [events, reorgs]
        await self.rebuild()
        if self._subscriptions:
            self._tasks = [asyncio.create_task(self._follow(self._subscriptions[0]), name="market-events"),
                           asyncio.create_task(self._follow_reorgs(self._subscriptions[1]), name="market-reorgs")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for subscription in self._subscriptions:
            await subscription.close()
        self._tasks, self._subscriptions = [], []

    async def rebuild(self) -> int:
        """Recompute the state from every stored block and event; returns the number of blocks folded."""
        if self.store is None:
            return 0
        async with self._lock:
            fresh = MarketState(feeds=self.state.feeds, anchors=self.state.anchors, pricing=self.state.pricing,
                                guard=self.state.guard.config)
            fresh.protocols.update(self.state.protocols)
            fresh.pools.update({key: PoolState(pool.spec) for key, pool in self.state.pools.items()})
            fresh.tokens.update(self.state.tokens)
            self.state = fresh
            self._missing_pools.clear()
            self._missing_tokens.clear()
            self.add_pools(await self.store.pools())
            await self._resolve_tokens()
            folded = 0
            for chain in sorted(await self.store.heads()):
                stored = await self.store.events(chain, kinds=MARKET_KINDS)
                by_block: dict[int, list[Event]] = defaultdict(list)
                for event in stored:
                    by_block[event.block_number].append(event)
                rows: list[MetricRow] = []
                for record in await self.store.blocks(chain):
                    events = by_block.get(record.number, [])
                    await self._ensure(chain, events)
                    rows.extend(self.state.apply(chain, _block(record), events).rows)
                    folded += 1
                await write_points(self.store, rows, self.state.protocols, self._tvls(), replace_chain=chain)
            await self._cache_all()
            return folded

    async def _follow(self, subscription: Subscription) -> None:
        async for message in subscription:
            try:
                await self.handle_events_message(message.json())
            except StorageError as exc:  # the database is away: logged once per outage, the next batch applied
                self._reading.failed(exc)
            except Exception:  # one bad batch must not stop the market; it is logged and the next one applied
                log.exception("market service failed on an events batch")
            else:
                self._reading.succeeded()

    async def _follow_reorgs(self, subscription: Subscription) -> None:
        async for _message in subscription:
            await self._rebuild_after_reorg()

    async def _rebuild_after_reorg(self) -> None:
        """Rebuild until it succeeds: a rebuild the database failed leaves a partial state, so it is retried
        (capped backoff, one log line per outage) rather than left so, or ending the task following reorgs."""
        while True:
            try:
                await self.rebuild()
            except StorageError as exc:
                self._rebuilding.failed(exc)
                await asyncio.sleep(self._retry.delay())
                continue
            except Exception:  # a bug in folding must not stop following reorgs; logged, the next one rebuilds
                log.exception("market service failed to rebuild after a reorg")
            self._rebuilding.succeeded()
            self._retry.reset()
            return

    async def handle_events_message(self, payload: dict[str, Any]) -> list[BlockResult]:
        """Apply one `events` batch: every block in its range, with that block's events."""
        chain = payload["chain"]
        head = self.state.heads.get(chain, (-1, 0))[0]
        low = max(int(payload["from_block"]), head + 1)
        high = int(payload["to_block"])
        if low > high or self.store is None:
            return []
        by_block: dict[int, list[Event]] = defaultdict(list)
        for raw in payload.get("events", ()):
            by_block[int(raw["block_number"])].append(event_from_dict(raw))
        results = []
        for record in await self.store.blocks(chain, low, high):
            results.append(await self.apply(chain, _block(record), by_block.get(record.number, [])))
        return results

    async def apply(self, chain: str, block: Block, events: Sequence[Event]) -> BlockResult:
        """Fold one block, then persist, publish and cache what changed. Once folded, the block's changes
        are sent every way that works: a database, bus or Redis that is away costs what it would have
        carried (logged once per outage), never the other ways or the blocks after this one."""
        async with self._lock:
            await self._ensure(chain, events)
            result = self.state.apply(chain, block, events)
            await self._store_points(result)
            await self._publish(result)
            await self._cache(result)
            return result

    async def _store_points(self, result: BlockResult) -> None:
        if self.store is None or not result.rows:
            return
        try:
            await write_points(self.store, result.rows, self.state.protocols, self._tvls())
        except StorageError as exc:
            self._storing.failed(exc)
        else:
            self._storing.succeeded()

    async def _publish(self, result: BlockResult) -> None:
        """Every update is tried: a failed one is lost (the bus is at-most-once), the next may go out."""
        if self.bus is None or not result.updates:
            return
        failed: BusError | None = None
        for update in result.updates:
            try:
                await self.bus.publish(update.channel, update.as_dict())
            except BusError as exc:
                failed = exc
        if failed is not None:
            self._publishing.failed(failed)
        else:
            self._publishing.succeeded()

    # lookups ---------------------------------------------------------------------------------

    async def _ensure(self, chain: str, events: Iterable[Event]) -> None:
        """Register pools and tokens the block's events need, from the directories or the store."""
        for event in events:
            if event.family not in DEX_FAMILIES:
                continue
            key = f"{chain}:{event.address}"
            if key in self.state.pools or key in self._missing_pools:
                continue
            found: PoolInfo | PoolRecord | None = self._directory(chain).get(event.address)
            if found is None and self.store is not None:
                found = await self.store.pool(chain, event.address)
            if found is None or found.family != event.family:
                self._missing_pools.add(key)
                continue
            self.add_pools([found])
        await self._resolve_tokens()

    async def _resolve_tokens(self) -> None:
        """Look up the tokens `add_pools` found no directory entry for in the store (one query per
        token for a block's few new pools, one per chain for a rebuild's many)."""
        pending, self._pending_tokens = self._pending_tokens, defaultdict(set)
        for chain, addresses in pending.items():
            if self.store is None:
                found = {}
            elif len(addresses) > TOKEN_QUERIES:
                found = {r.address: r for r in await self.store.tokens(chain) if r.address in addresses}
            else:
                found = {a: r for a in addresses if (r := await self.store.token(chain, a)) is not None}
            for address in addresses:
                coin, record = f"{chain}:{address}", found.get(address)
                if record is not None and record.decimals is not None:
                    self.state.add_token(TokenSpec(coin, record.symbol or "", record.decimals))
                else:
                    self._missing_tokens.add(coin)

    def _directory(self, chain: str) -> PoolDirectory:
        if chain not in self._directories:
            self._directories[chain] = PoolDirectory.default(chain)
        return self._directories[chain]

    def _tvls(self) -> dict[str, float]:
        return {slug: self.state.protocol_summary(slug)["tvl"] for slug in self.state.protocol_slugs()}

    # cache -----------------------------------------------------------------------------------

    async def _cache(self, result: BlockResult) -> None:
        if self.redis is None:
            return
        values = {CACHE_KEYS[u.channel].format(u.id): u.value for u in result.updates if u.channel in CACHE_KEYS}
        await self._set_cached(values)

    async def _cache_all(self) -> None:
        if self.redis is None:
            return
        values: dict[str, float] = {}
        for coin, price in self.state.prices.items():
            values[CACHE_KEYS[PRICES].format(coin)] = price.price_usd
        for slug in self.state.protocol_slugs():
            summary = self.state.protocol_summary(slug)
            values[CACHE_KEYS[TVL].format(slug)] = summary["tvl"]
            values[CACHE_KEYS[VOLUMES].format(slug)] = summary["volume24h"]
        await self._set_cached(values)

    async def _set_cached(self, values: dict[str, float]) -> None:
        """Values the cache misses while Redis is away are overwritten by the next ones it takes."""
        if self.redis is None or not values:
            return
        try:
            await self.redis.mset({self.redis_prefix + key: repr(value) for key, value in values.items()})
        except RedisError as exc:
            self._caching.failed(exc)
        else:
            self._caching.succeeded()
