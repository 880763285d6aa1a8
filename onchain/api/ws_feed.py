"""Feeds the WebSocket hub from the bus: one task per topic, messages in publication order.

Market topics (`prices`, `tvl`, `volumes`, `protocols`) already carry the update data shape
`{"id", "value", "timestamp", "change24h", "block"}` and pass through. The pipeline's `blocks` become
`blocks` updates (id = chain, value = block number), and its `events` feed the `swaps` channel (one
update per DEX Swap, for the dashboard's recent swaps; amounts as decimal strings, since JSON
numbers lose precision past 2**53). The MEV service's `mev` (one block's findings) becomes one `mev`
update per block with findings (id = chain, value = how many findings, plus the `sandwiches`,
`arbitrages` and `liquidations` lists; wei amounts past 2**53 as decimal strings). The analytics
service's `anomalies` pass through to `anomalies` (id = the subject: protocol slug, pool or coin id,
so `protocolIds`/`tokenIds` filter them). The alert worker's
`alerts` topic (`{"userId", "message"}`) is not broadcast: each message goes to its owner's connections
on the private `alerts` channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from onchain.api.ws_hub import Hub
from onchain.bus import Bus, Message
from onchain.domain.topics import ALERTS, ANOMALIES, BLOCKS, EVENTS, MARKET_TOPICS, MEV, UserAlert
from onchain.outage import SkipLog

log = logging.getLogger(__name__)

MEV_KINDS = ("sandwiches", "arbitrages", "liquidations", "jit")
SWAP_FAMILIES = frozenset({"uniswap_v2", "uniswap_v3"})
BLOCK_TIMES_KEPT = 4096

Translate = Callable[[Message], Iterable[tuple[str, dict[str, Any]]]]
Handle = Callable[[Message], None]


def _market(channel: str) -> Translate:
    def translate(message: Message) -> Iterable[tuple[str, dict[str, Any]]]:
        data = orjson.loads(message.data)
        if isinstance(data, list):
            return [(channel, item) for item in data if isinstance(item, dict)]
        return [(channel, data)] if isinstance(data, dict) else []

    return translate


def _plain(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    return str(value) if abs(value) > 2**53 else value


def _plain_deep(value: Any) -> Any:
    """`_plain` through nested lists and objects."""
    if isinstance(value, dict):
        return {k: _plain_deep(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_deep(v) for v in value]
    return _plain(value)


class Feed:
    """Bus subscriptions translated into hub updates; start() subscribes before returning."""

    def __init__(self, bus: Bus, hub: Hub) -> None:
        self.bus = bus
        self.hub = hub
        self.errors = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._block_times: OrderedDict[tuple[str, int], int] = OrderedDict()

    @property
    def running(self) -> bool:
        return bool(self._tasks) and not any(t.done() for t in self._tasks)

    def _translators(self) -> dict[str, Translate]:
        routes: dict[str, Translate] = {t: _market(t) for t in MARKET_TOPICS if t in self.hub.logs}
        if "blocks" in self.hub.logs:
            routes[BLOCKS] = self._blocks
        if "swaps" in self.hub.logs:
            routes[EVENTS] = self._swaps
        if "mev" in self.hub.logs:
            routes[MEV] = self._mev
        if "anomalies" in self.hub.logs:
            routes[ANOMALIES] = self._anomalies
        return routes

    def _handlers(self) -> dict[str, Handle]:
        handlers: dict[str, Handle] = {topic: self._broadcast(t) for topic, t in self._translators().items()}
        if "alerts" in self.hub.private_channels:
            handlers[ALERTS] = self._alert
        return handlers

    async def start(self) -> None:
        for topic, handle in self._handlers().items():
            subscription = await self.bus.subscribe(topic)
            self._tasks.append(asyncio.create_task(self._pump(subscription, handle), name=f"ws-feed-{topic}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def _broadcast(self, translate: Translate) -> Handle:
        def handle(message: Message) -> None:
            for channel, data in translate(message):
                self.hub.publish(channel, data)

        return handle

    def _alert(self, message: Message) -> None:
        """One alert firing for one user: to that user's `alerts` subscribers on this replica only."""
        alert = UserAlert.decode(message.json())
        self.hub.send_private("alerts", alert.user_id, alert.message)

    async def _pump(self, subscription: Any, handle: Handle) -> None:
        """Hand each message to `handle`. A message it fails on (malformed, or of a shape it did not
        foresee) is counted, logged rate-limited and skipped: anything else would end the feed of this
        topic for every client, for one message any publisher on the bus may send."""
        skipping = SkipLog(log, f"websocket feed: malformed {subscription.topic} messages")
        try:
            async for message in subscription:
                try:
                    handle(message)
                except Exception as exc:
                    self.errors += 1
                    skipping.skip(exc)
        finally:
            await subscription.close()

    def _blocks(self, message: Message) -> Iterable[tuple[str, dict[str, Any]]]:
        block = message.json()
        chain, number, timestamp = str(block["chain"]), int(block["number"]), int(block["timestamp"])
        self._block_times[(chain, number)] = timestamp
        while len(self._block_times) > BLOCK_TIMES_KEPT:
            self._block_times.popitem(last=False)
        data = {
            "id": chain,
            "chain": chain,
            "value": number,
            "timestamp": timestamp,
            "change24h": None,
            "block": number,
            "hash": block.get("hash"),
            "logs": block.get("logs"),
            "events": block.get("events"),
        }
        return [("blocks", data)]

    def _swaps(self, message: Message) -> Iterable[tuple[str, dict[str, Any]]]:
        batch = message.json()
        out = []
        for event in batch.get("events", ()):
            if event.get("name") != "Swap" or event.get("family") not in SWAP_FAMILIES:
                continue
            chain, number = str(event["chain"]), int(event["block_number"])
            out.append(
                (
                    "swaps",
                    {
                        "id": f"{chain}:{event['address']}",
                        "chain": chain,
                        "value": None,
                        "timestamp": self._block_times.get((chain, number)),
                        "change24h": None,
                        "block": number,
                        "protocol": event.get("protocol"),
                        "family": event.get("family"),
                        "tx": event.get("transaction_hash"),
                        "logIndex": event.get("log_index"),
                        "args": {k: _plain(v) for k, v in (event.get("args") or {}).items()},
                    },
                )
            )
        return out

    def _mev(self, message: Message) -> Iterable[tuple[str, dict[str, Any]]]:
        found = message.json()
        chain, number = str(found["chain"]), int(found["block"])
        lists = {kind: _plain_deep(list(found.get(kind) or ())) for kind in MEV_KINDS}
        timestamp = found.get("timestamp")
        data = {
            "id": chain,
            "chain": chain,
            "value": sum(len(items) for items in lists.values()),
            "timestamp": int(timestamp) if timestamp is not None else self._block_times.get((chain, number)),
            "change24h": None,
            "block": number,
            **lists,
        }
        return [("mev", data)]

    def _anomalies(self, message: Message) -> Iterable[tuple[str, dict[str, Any]]]:
        found = message.json()
        out = []
        for anomaly in found if isinstance(found, list) else [found]:
            if isinstance(anomaly, dict):
                out.append(("anomalies", {**anomaly, "id": str(anomaly["id"]).lower(), "change24h": None}))
        return out
