"""The analytics service: anomalies and protocol risk on the live stream, smart-money scores on demand.

It follows the pipeline's `events` topic beside the market service and, once the market has folded
a batch, reads the market state: it feeds the anomaly detector (findings go out on the bus topic
`anomalies`), keeps what risk needs beyond the market state (TVL history, LP token balances,
activity) and publishes each protocol's risk on `risk` (`{"id", "value", "timestamp", "block",
"chain"}`, the level shape alert rules read) when it changes. MEV findings on `mev` are counted per
protocol. Swaps become wallet trades with their USD prices, so the stored smart-money model can
score the wallets of the newest window. A batch is observed as one step: live, that is one block.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onchain.analytics.anomalies import Anomaly, AnomalyConfig, AnomalyDetector, observation
from onchain.analytics.risk import LpBook, RiskInputs, RiskScore, assess, oracle_deviations, pool_inputs
from onchain.analytics.smart_money.features import wallet_features
from onchain.analytics.smart_money.liquidity import LiquidityBook, liquidity_from_events
from onchain.analytics.smart_money.model import ModelStore, SmartMoneyModel, WalletScore
from onchain.analytics.smart_money.trades import PriceTape, Trade, pool_tokens, trades_from_events
from onchain.bus.base import Bus, BusError, Subscription
from onchain.config import Settings
from onchain.domain.events import Event
from onchain.domain.topics import ANOMALIES, EVENTS, MEV, RISK, event_from_dict
from onchain.metrics.service import MarketService
from onchain.outage import OutageLog

log = logging.getLogger(__name__)

DAY = 86_400
TVL_POINTS = 2_000
ANOMALIES_KEPT = 1_000
MEV_KINDS = ("sandwiches", "arbitrages", "liquidations")


def model_store(settings: Settings) -> ModelStore:
    """Where trained smart-money models live: `<data dir>/models`."""
    return ModelStore(Path(settings.data_dir) / "models")


@dataclass(slots=True)
class _Activity:
    first_seen: int
    events: deque[tuple[int, int]]  # (timestamp, events in the batch)

    def last_24h(self, now: int) -> int:
        while self.events and self.events[0][0] <= now - DAY:
            self.events.popleft()
        return sum(count for _, count in self.events)


@dataclass(frozen=True, slots=True)
class SmartMoneyView:
    chain: str
    from_block: int
    to_block: int
    model: SmartMoneyModel
    wallets: list[WalletScore]


class AnalyticsService:
    """Reads `market.state`; everything else it keeps itself, bounded."""

    def __init__(
        self,
        market: MarketService,
        bus: Bus | None = None,
        *,
        models: ModelStore | None = None,
        anomalies: AnomalyConfig | None = None,
        head_timeout: float = 10.0,
    ) -> None:
        self.market = market
        self.bus = bus
        self.models = models
        self.model: SmartMoneyModel | None = models.load() if models is not None else None
        self.detector = AnomalyDetector(anomalies)
        self.head_timeout = head_timeout
        self.lp = LpBook()
        self.tvl_history: dict[str, deque[tuple[int, int, float]]] = {}
        self.activity: dict[str, _Activity] = {}
        self.anomalies: deque[Anomaly] = deque(maxlen=ANOMALIES_KEPT)
        self.mev: dict[str, Counter[str]] = {}
        self.trades: dict[str, deque[Trade]] = {}
        self.tapes: dict[str, PriceTape] = {}
        self.liquidity: dict[str, LiquidityBook] = {}
        self.heads: dict[str, tuple[int, int]] = {}
        self._risk_published: dict[str, float] = {}
        self._publishing = OutageLog(log, "analytics (publishing anomalies and risk on the bus)")
        self._subscriptions: list[Subscription] = []
        self._tasks: list[asyncio.Task[None]] = []

    # lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.bus is None:
            return
        events, mev = await self.bus.subscribe(EVENTS), await self.bus.subscribe(MEV)
        self._subscriptions = [events, mev]
        self._tasks = [asyncio.create_task(self._follow(events, self.handle_events), name="analytics-events"),
                       asyncio.create_task(self._follow(mev, self._handle_mev), name="analytics-mev")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for subscription in self._subscriptions:
            await subscription.close()
        self._tasks, self._subscriptions = [], []

    async def _follow(self, subscription: Subscription, handle: Any) -> None:
        async for message in subscription:
            try:
                await handle(message.json())
            except Exception:  # one bad message must not stop analytics; logged, the next one handled
                log.exception("analytics failed on a %s message", subscription.topic)

    @classmethod
    async def open(cls, settings: Settings, market: MarketService, bus: Bus | None) -> AnalyticsService:
        """The service of `onchain serve`/`demo`: models from `<data dir>/models`, started on `bus`."""
        service = cls(market, bus, models=model_store(settings))
        await service.start()
        return service

    def reload_model(self) -> SmartMoneyModel | None:
        """Pick up the newest stored model (after `onchain analytics train`)."""
        if self.models is not None:
            self.model = self.models.load()
        return self.model

    # the stream ------------------------------------------------------------------------------

    async def handle_events(self, payload: dict[str, Any]) -> list[Anomaly]:
        """Observe one committed batch once the market has folded it; publish anomalies and changed risk."""
        chain, to_block = str(payload["chain"]), int(payload["to_block"])
        deadline = time.monotonic() + self.head_timeout
        while self.market.state.heads.get(chain, (-1, 0))[0] < to_block and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        events = [event_from_dict(raw) for raw in payload.get("events", ())]
        found = self.observe(chain, to_block, events)
        if self.bus is not None:
            await self._publish(self.bus, [(ANOMALIES, a.as_dict()) for a in found]
                                          + [(RISK, update) for update in self._risk_updates(chain)])
        return found

    async def _publish(self, bus: Bus, messages: list[tuple[str, dict[str, Any]]]) -> None:
        """Every message is tried, so one the bus refused costs no other (one log line per outage). A risk
        counts as published once the bus took it: one it refused goes out again with the next batch."""
        failed: BusError | None = None
        for topic, payload in messages:
            try:
                await bus.publish(topic, payload)
            except BusError as exc:
                failed = exc
                continue
            if topic == RISK:
                self._risk_published[payload["id"]] = payload["value"]
        if failed is not None:
            self._publishing.failed(failed)
        else:
            self._publishing.succeeded()

    def observe(self, chain: str, block: int, events: Sequence[Event]) -> list[Anomaly]:
        """Fold one step (a block, or a batch ending at `block`) read from the market state as it is now."""
        state = self.market.state
        timestamp = state.heads.get(chain, (block, 0))[1]
        self.heads[chain] = (block, timestamp)
        pools = pool_tokens(state)
        self.lp.apply(events, pools)
        touched = sorted({f"{chain}:{e.address}" for e in events if f"{chain}:{e.address}" in pools})
        volume: dict[str, float] = defaultdict(float)
        counts: Counter[str] = Counter(e.protocol for e in events if e.protocol)
        for event in events:
            pool = state.pools.get(f"{chain}:{event.address}")
            if pool is None or event.name != "Swap" or event.family not in ("uniswap_v2", "uniswap_v3"):
                continue
            moved = _moved(event)
            usd = state.swap_usd(pool, *moved) if moved is not None else None
            if usd is not None:
                volume[pool.spec.protocol] += usd
        observed = observation(state, chain, block, timestamp, touched, volume)
        for slug, tvl in observed.protocol_tvl.items():
            self.tvl_history.setdefault(slug, deque(maxlen=TVL_POINTS)).append((block, timestamp, tvl))
        for slug, count in counts.items():
            activity = self.activity.setdefault(slug, _Activity(timestamp, deque()))
            activity.events.append((timestamp, count))
        found = self.detector.observe(observed)
        self.anomalies.extend(found)
        self._record_trades(chain, block, events, pools)
        return found

    def _record_trades(self, chain: str, block: int, events: Sequence[Event], pools: dict[str, Any]) -> None:
        trades = self.trades.setdefault(chain, deque())
        new = trades_from_events(events, pools)
        trades.extend(new)
        keep = 2 * (self.model.window if self.model is not None else 100)
        while trades and trades[0].block_number <= block - keep:
            trades.popleft()
        book = self.liquidity.setdefault(chain, LiquidityBook())
        book.extend(liquidity_from_events(events, pools))
        book.forget_before(block - keep + 1)
        coins = {c for t in trades for c in (t.coin_in, t.coin_out)}
        prices = self.market.state.prices
        self.tapes.setdefault(chain, PriceTape()).record(
            block, {coin: prices[coin].price_usd for coin in coins if coin in prices})

    async def _handle_mev(self, payload: dict[str, Any]) -> None:
        state = self.market.state
        chain = payload.get("chain")
        for kind in MEV_KINDS:
            for finding in payload.get(kind, ()):
                pools = [finding.get("pool")] + [swap.get("pool") for swap in finding.get("swaps", ())]
                slugs = {state.pools[f"{chain}:{p}"].spec.protocol for p in pools
                         if p and f"{chain}:{p}" in state.pools}
                if kind == "liquidations" and finding.get("protocol"):
                    slugs.add(str(finding["protocol"]))
                for slug in slugs:
                    self.mev.setdefault(slug, Counter())[kind] += 1

    # views -----------------------------------------------------------------------------------

    def risk(self, slug: str) -> RiskScore:
        """The protocol's risk now, from the market state and what this service kept."""
        state = self.market.state
        summary = state.protocol_summary(slug)
        history = [tvl for _, ts, tvl in self.tvl_history.get(slug, ()) if ts > summary["timestamp"] - DAY]
        pools = pool_inputs(state, slug, self.lp)
        borrowed = summary["borrowed"]
        activity = self.activity.get(slug)
        now = int(summary["timestamp"])
        return assess(RiskInputs(
            protocol=slug,
            block=int(summary["block"]),
            timestamp=now,
            tvl_history=history,
            pools=pools,
            oracle_deviations=oracle_deviations(state, [p.pool for p in pools]),
            supplied_usd=summary["tvl"] + borrowed if borrowed is not None else None,
            borrowed_usd=borrowed,
            age_seconds=float(now - activity.first_seen) if activity is not None else None,
            events_24h=activity.last_24h(now) if activity is not None else None,
        ))

    def _risk_updates(self, chain: str) -> list[dict[str, Any]]:
        updates = []
        for slug in self.market.state.protocol_slugs():
            risk = self.risk(slug)
            if risk.score is None or abs(self._risk_published.get(slug, -100.0) - risk.score) < 0.5:
                continue
            updates.append({"id": slug, "value": risk.score, "timestamp": risk.timestamp, "block": risk.block,
                            "chain": chain})
        return updates

    def protocol_anomalies(self, slug: str) -> list[dict[str, Any]]:
        return [a.as_dict() for a in self.anomalies
                if a.subject == slug or a.details.get("protocol") == slug]

    def smart_money(self, chain: str | None = None) -> SmartMoneyView | None:
        """Scores of the wallets that traded in the newest window, or None without a model or trades."""
        if self.model is None or not self.heads:
            return None
        chain = chain or max(self.heads, key=lambda c: self.heads[c][1])
        if chain not in self.heads or chain not in self.tapes:
            return None
        head = self.heads[chain][0]
        start = head - self.model.window + 1
        features = wallet_features(self.trades.get(chain, ()), self.tapes[chain], start, head, self.model.horizon,
                                   self.liquidity.get(chain))
        return SmartMoneyView(chain, start, head, self.model, self.model.score(features))


def _moved(event: Event) -> tuple[int, int] | None:
    args = event.args
    if event.family == "uniswap_v2":
        return (int(args["amount0In"]) + int(args["amount0Out"]), int(args["amount1In"]) + int(args["amount1Out"]))
    if event.family == "uniswap_v3":
        return abs(int(args["amount0"])), abs(int(args["amount1"]))
    return None
