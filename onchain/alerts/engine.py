"""The alert engine: bus messages in, firings stored in the outbox, the delivery worker woken.

It reads the market topics (`prices`, `tvl`, `volumes`, `risk`: `{"id", "value", "timestamp", "block", ...}`),
the pipeline's `events` (ERC-20 Transfers, valued in USD with the latest price and the token's decimals),
`blocks` (for block timestamps), and `mev` (findings shaped like one block of `onchain mev inspect`, with
`chain`), and `anomalies` (the analytics service's findings: `{"kind", "subject", "chain", "block",
"timestamp", "value", ...}`; an anomaly touches its subject, its chain and, for a pool, its protocol).
Rule changes made through the API arrive on `alert-rules` as `{"op": "upsert"|"delete", "id"}`,
so an engine in another process (role `alerts`) follows them without polling the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from onchain.alerts.book import RuleBook
from onchain.alerts.records import Firing, Observation, Occurrence
from onchain.alerts.store import AlertRecord, AlertStore
from onchain.bus.base import Bus, Message, Subscription
from onchain.domain.topics import ALERT_RULES, ANOMALIES, BLOCKS, EVENTS, MEV, PRICES, RISK, TVL, VOLUMES, RuleChange
from onchain.errors import StorageError
from onchain.outage import Backoff, OutageLog
from onchain.protocols.tokens import TokenDirectory

log = logging.getLogger(__name__)

LEVEL_TOPICS: dict[str, str] = {PRICES: "price", TVL: "tvl", VOLUMES: "volume", RISK: "risk"}
BLOCK_TIMES_KEPT = 4096


def observations(topic: str, payload: Any) -> list[Observation]:
    """Market updates (one or a list) as level observations; malformed items are skipped."""
    metric = LEVEL_TOPICS[topic]
    items = payload if isinstance(payload, list) else (payload,)
    out = []
    for item in items:
        if not isinstance(item, dict):
            continue
        value, subject = item.get("value"), item.get("id")
        if value is None or subject is None:
            continue
        subject = str(subject).lower()
        chain = item.get("chain") or (subject.split(":", 1)[0] if ":" in subject else None)
        breakdown = item.get("tokens")
        out.append(
            Observation(
                metric,
                subject,
                float(value),
                int(item.get("timestamp") or 0),
                item.get("block"),
                chain,
                breakdown if isinstance(breakdown, dict) else None,
            )
        )
    return out


class Evaluator:
    """Bus payloads in, firings out: a `RuleBook` plus what translating payloads needs (latest prices,
    token decimals, block times). No I/O; the live engine and the backtest share it."""

    def __init__(self, tokens: TokenDirectory | None = None, clock: Callable[[], float] = time.time) -> None:
        self.book = RuleBook()
        self.tokens = tokens or TokenDirectory.default()
        self.clock = clock
        self.prices: dict[str, float] = {}
        self.evaluated = 0
        self._block_times: OrderedDict[tuple[str, int], int] = OrderedDict()
        self._head_times: dict[str, int] = {}

    # ---- evaluation -----------------------------------------------------------------------------------

    def evaluate(self, topic: str, payload: Any) -> list[Firing]:
        """Everything one bus message makes fire (synchronous and pure apart from the price memory)."""
        if topic in LEVEL_TOPICS:
            fired: list[Firing] = []
            for obs in observations(topic, payload):
                if obs.metric == "price":
                    self.prices[obs.subject_id] = obs.value
                if obs.chain is not None and obs.timestamp:
                    self._head_times[obs.chain] = max(self._head_times.get(obs.chain, 0), obs.timestamp)
                self.evaluated += 1
                fired.extend(self.book.observe(obs))
            return fired
        if topic == BLOCKS:
            self._remember_block(payload)
            return []
        if topic == EVENTS:
            return self._occur(self._transfers(payload)) if self.book.watches("transfer") else []
        if topic == MEV:
            return self._occur(self._mev(payload)) if self.book.watches("mev") else []
        if topic == ANOMALIES:
            return self._occur(self._anomalies(payload)) if self.book.watches("anomaly") else []
        return []

    def _occur(self, occurrences: Iterable[Occurrence]) -> list[Firing]:
        fired: list[Firing] = []
        for occ in occurrences:
            self.evaluated += 1
            fired.extend(self.book.occur(occ))
        return fired

    def _remember_block(self, block: Mapping[str, Any]) -> None:
        chain, number, timestamp = str(block["chain"]), int(block["number"]), int(block["timestamp"])
        self._block_times[(chain, number)] = timestamp
        self._head_times[chain] = max(self._head_times.get(chain, 0), timestamp)
        while len(self._block_times) > BLOCK_TIMES_KEPT:
            self._block_times.popitem(last=False)

    def _time_of(self, chain: str, number: int) -> int:
        found = self._block_times.get((chain, number))
        return found if found is not None else self._head_times.get(chain) or int(self.clock())

    def _transfers(self, batch: Mapping[str, Any]) -> Iterable[Occurrence]:
        """ERC-20 Transfers worth a known USD amount (token priced, decimals known)."""
        for event in batch.get("events", ()):
            if event.get("family") != "erc20" or event.get("name") != "Transfer":
                continue
            chain, token = str(event["chain"]), str(event["address"]).lower()
            coin = f"{chain}:{token}"
            price = self.prices.get(coin)
            decimals = self.tokens.decimals(chain, token)
            args = event.get("args") or {}
            if price is None or decimals is None or not isinstance(args.get("value"), int):
                continue
            amount = args["value"]
            usd = amount / 10**decimals * price
            sender, receiver = str(args.get("from", "")).lower(), str(args.get("to", "")).lower()
            number = int(event["block_number"])
            yield Occurrence(
                "transfer",
                (sender, receiver, f"{chain}:{sender}", f"{chain}:{receiver}", coin, chain),
                usd,
                self._time_of(chain, number),
                key=f"{chain}:{event['transaction_hash']}:{event['log_index']}",
                block=number,
                chain=chain,
                data={
                    "token": coin,
                    "from": sender,
                    "to": receiver,
                    "amount": str(amount),
                    "priceUsd": price,
                    "tx": event["transaction_hash"],
                    "logIndex": event["log_index"],
                },
            )

    def _mev(self, payload: Any) -> Iterable[Occurrence]:
        """MEV findings of one block: each sandwich, arbitrage or liquidation is one occurrence."""
        blocks = payload if isinstance(payload, list) else [payload]
        for block in blocks:
            if not isinstance(block, dict):
                continue
            chain = str(block.get("chain") or "ethereum")
            number = int(block.get("block") or 0)
            timestamp = int(block.get("timestamp") or self._time_of(chain, number))
            for kind in ("sandwiches", "arbitrages", "liquidations"):
                for finding in block.get(kind) or ():
                    tx = finding.get("tx") or finding.get("frontrun_tx") or ""
                    actor = str(finding.get("searcher") or finding.get("liquidator") or "").lower()
                    subjects = [chain, actor, f"{chain}:{actor}"]
                    if finding.get("pool"):
                        subjects.append(f"{chain}:{str(finding['pool']).lower()}")
                    if finding.get("protocol"):
                        subjects.append(str(finding["protocol"]).lower())
                    yield Occurrence(
                        "mev",
                        tuple(subjects),
                        float(finding.get("profit_usd") or finding.get("profitUsd") or 0.0),
                        timestamp,
                        key=f"{chain}:{number}:{kind}:{tx}",
                        block=number,
                        chain=chain,
                        data={"kind": kind[:-1] if kind != "sandwiches" else "sandwich", **finding},
                    )


    def _anomalies(self, payload: Any) -> Iterable[Occurrence]:
        """Each anomaly (one or a list) as an occurrence of its subject, chain and (for a pool) protocol."""
        for anomaly in payload if isinstance(payload, list) else [payload]:
            if not isinstance(anomaly, dict):
                continue
            subject = anomaly.get("subject") or {}
            subject_id = str(subject.get("id") or anomaly.get("id") or "").lower()
            chain = str(anomaly.get("chain") or "").lower()
            number = int(anomaly["block"])
            details = anomaly.get("details") or {}
            subjects = [subject_id, chain]
            if isinstance(details, dict) and details.get("protocol"):
                subjects.append(str(details["protocol"]).lower())
            yield Occurrence(
                "anomaly",
                tuple(s for s in subjects if s),
                float(anomaly.get("value") or 0.0),
                int(anomaly.get("timestamp") or self._time_of(chain, number)),
                key=f"{chain}:{number}:{anomaly.get('kind')}:{subject_id}",
                block=number,
                chain=chain or None,
                data={
                    "kind": anomaly.get("kind"),
                    "anomaly": subject,
                    "value": anomaly.get("value"),
                    "anomalyThreshold": anomaly.get("threshold"),
                    "details": details,
                },
            )


class AlertEngine:
    """Holds the active rules and evaluates every update the bus brings; firings go to the outbox."""

    def __init__(
        self,
        store: AlertStore,
        bus: Bus,
        *,
        on_recorded: Callable[[], None] | None = None,
        tokens: TokenDirectory | None = None,
        clock: Callable[[], float] = time.time,
        retry: Backoff | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.evaluator = Evaluator(tokens, clock)
        self.book = self.evaluator.book
        self.on_recorded = on_recorded
        self.clock = clock
        self.alerts: dict[str, AlertRecord] = {}
        self.fired = 0
        self._storing = OutageLog(log, "storing alert firings")
        self._reading_rules = OutageLog(log, "reading changed alert rules")
        self._retry = retry or Backoff()
        self._tasks: list[asyncio.Task[None]] = []

    def evaluate(self, topic: str, payload: Any) -> list[Firing]:
        return self.evaluator.evaluate(topic, payload)

    # ---- rules ----------------------------------------------------------------------------------------

    def add(self, alert: AlertRecord) -> None:
        if not alert.active:
            self.remove(alert.id)
            return
        self.alerts[alert.id] = alert
        self.book.add(alert.to_rule(), alert.last_fired_at)

    def remove(self, alert_id: str) -> None:
        self.alerts.pop(alert_id, None)
        self.book.remove(alert_id)

    async def load(self) -> int:
        """(Re)load every active rule from the database."""
        for alert in await self.store.active_alerts():
            self.add(alert)
        return len(self.alerts)

    async def apply_rule_change(self, op: str, alert_id: str) -> None:
        alert = await self.store.get_alert(alert_id) if op == "upsert" else None
        if not isinstance(alert, AlertRecord):  # deleted, or unreadable (logged by the store)
            self.remove(alert_id)
        else:
            self.add(alert)

    # ---- running on the bus ---------------------------------------------------------------------------

    async def record(self, firings: list[Firing]) -> None:
        items = [(self.alerts[f.rule_id], f) for f in firings if f.rule_id in self.alerts]
        created = await self.store.record_firings(items, self.clock())
        self.fired += len(items)
        if created and self.on_recorded is not None:
            self.on_recorded()

    async def start(self) -> None:
        """Subscribe first, then load rules, so no update between the two is missed."""
        topics = [*LEVEL_TOPICS, BLOCKS, EVENTS, MEV, ANOMALIES]
        subscriptions = [await self.bus.subscribe(topic) for topic in topics]
        rules = await self.bus.subscribe(ALERT_RULES)
        await self.load()
        for subscription in subscriptions:
            self._tasks.append(asyncio.create_task(self._pump(subscription), name=f"alerts-{subscription.topic}"))
        self._tasks.append(asyncio.create_task(self._rules(rules), name="alerts-rules"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _pump(self, subscription: Subscription) -> None:
        try:
            async for message in subscription:
                await self._handle(message)
        finally:
            await subscription.close()

    async def _handle(self, message: Message) -> None:
        try:
            firings = self.evaluate(message.topic, message.json())
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("skipping malformed %s message: %s", message.topic, exc)
            return
        if not firings:
            return
        try:
            await self.record(firings)
        except StorageError as exc:  # these firings are lost; the outage is logged once, not per message
            self._storing.failed(exc)
        except Exception:
            log.exception("could not store %d alert firings from %s", len(firings), message.topic)
        else:
            self._storing.succeeded()

    async def _rules(self, subscription: Subscription) -> None:
        try:
            async for message in subscription:
                raw = message.json()
                while True:  # a change the database failed to give is retried in order, not lost
                    try:
                        change = RuleChange.decode(raw)
                        await self.apply_rule_change(change.op, change.id)
                    except StorageError as exc:
                        self._reading_rules.failed(exc)
                        await asyncio.sleep(self._retry.delay())
                        continue
                    except Exception:
                        log.exception("could not apply alert rule change %s", raw)
                    self._reading_rules.succeeded()
                    self._retry.reset()
                    break
        finally:
            await subscription.close()


async def announce_rule_change(bus: Bus, op: str, alert_id: str) -> None:
    """Tell every alert engine (any process) that a rule was created, changed or deleted."""
    await bus.publish(ALERT_RULES, RuleChange(op=op, id=alert_id).encode())
