"""Backtest: when a rule would have fired over the stored history.

Stored blocks and events are folded again, in chain-time order, through a fresh market state configured
like the live one; its updates, the stored ERC-20 Transfers and (for `anomaly` rules) what a fresh
anomaly detector finds in each folded block, and (for `mev_detected` rules) the stored MEV findings of
each block, go through the same `Evaluator` the live engine uses. So a backtest answers what the live
engine would have sent, block for block.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from onchain.alerts.engine import Evaluator
from onchain.alerts.records import Firing, Rule
from onchain.analytics.anomalies import AnomalyConfig, AnomalyDetector, block_volume, observation, touched_pools
from onchain.analytics.mev.service import KINDS, FindingKey, read_findings
from onchain.domain.chain import Block
from onchain.domain.events import Event
from onchain.domain.topics import ANOMALIES, BLOCKS, EVENTS, MEV, event_to_dict
from onchain.errors import InputError
from onchain.metrics.pools import PoolState
from onchain.metrics.service import MARKET_KINDS, MarketService
from onchain.metrics.state import MarketState
from onchain.storage.records import BlockRecord
from onchain.storage.store import Store

TRANSFER = "erc20.Transfer"


class BacktestTooLarge(InputError):
    """The requested range holds more blocks than one backtest may fold; the caller narrows it."""


@dataclass(slots=True)
class BacktestResult:
    firings: list[Firing] = field(default_factory=list)
    blocks: int = 0
    updates: int = 0
    chains: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "firings": [
                {"timestamp": f.timestamp, "block": f.block, "chain": f.chain, "condition": f.condition, "data": f.data}
                for f in self.firings
            ],
            "count": len(self.firings),
            "blocks": self.blocks,
            "updates": self.updates,
            "chains": self.chains,
        }


def fresh_state(market: MarketService) -> MarketState:
    """An empty market state with the live one's configuration (feeds, anchors, pools, tokens)."""
    live = market.state
    state = MarketState(feeds=live.feeds, anchors=live.anchors, pricing=live.pricing, guard=live.guard.config)
    state.protocols.update(live.protocols)
    state.pools.update({key: PoolState(pool.spec) for key, pool in live.pools.items()})
    state.tokens.update(live.tokens)
    return state


def _chains_for(rule: Rule, stored: list[str]) -> list[str]:
    """Chains whose history can move the rule: the subject's own chain when its id names one."""
    if rule.subject_type == "chain":
        return [c for c in stored if c == rule.subject_id]
    if ":" in rule.subject_id:
        prefix = rule.subject_id.split(":", 1)[0]
        return [c for c in stored if c == prefix]
    return stored


async def _stored_mev(store: Store, chains: list[str]) -> dict[tuple[str, int], dict[str, Any]]:
    """The stored MEV findings of `chains` as the MEV service publishes them: one message per block."""
    by_block: dict[tuple[str, int], dict[str, Any]] = {}
    for chain in chains:
        after: FindingKey | None = None
        while True:
            page, after = await read_findings(store, chain=chain, after=after, limit=1000)
            for finding in page:
                number = finding["block"]
                block = by_block.setdefault((chain, number), {"chain": chain, "block": number,
                                                              "timestamp": finding["timestamp"]})
                block.setdefault(KINDS[finding["kind"]], []).append(finding)
            if after is None:
                break
    return by_block


async def run_backtest(
    rule: Rule,
    store: Store,
    market: MarketService,
    evaluator: Evaluator,
    *,
    from_timestamp: int | None = None,
    to_timestamp: int | None = None,
    max_blocks: int = 200_000,
    anomalies: AnomalyConfig | None = None,
) -> BacktestResult:
    """Fold the stored history and report the rule's firings between the two chain times (inclusive).
    `anomalies` configures the detector as the live analytics service's is (defaults otherwise)."""
    chains = _chains_for(rule, sorted(await store.heads()))
    wants_transfers = any(cond.spec.source == "transfer" for cond in rule.conditions)
    detector = AnomalyDetector(anomalies) if any(c.spec.source == "anomaly" for c in rule.conditions) else None
    mev = await _stored_mev(store, chains) if any(c.spec.source == "mev" for c in rule.conditions) else {}
    kinds = [*MARKET_KINDS, TRANSFER] if wants_transfers else list(MARKET_KINDS)
    timeline: list[tuple[int, str, BlockRecord]] = []
    by_block: dict[tuple[str, int], list[Event]] = defaultdict(list)
    for chain in chains:
        records = await store.blocks(chain)
        if len(timeline) + len(records) > max_blocks:
            raise BacktestTooLarge(f"history holds more than {max_blocks} blocks; narrow the rule's subject")
        timeline.extend((record.timestamp, chain, record) for record in records)
        for event in await store.events(chain, kinds=kinds):
            by_block[(chain, event.block_number)].append(event)
    timeline.sort(key=lambda item: (item[0], item[1], item[2].number))
    evaluator.book.add(rule)
    state = fresh_state(market)

    def fold() -> BacktestResult:
        result = BacktestResult(chains=chains)
        for timestamp, chain, record in timeline:
            events = by_block.get((chain, record.number), [])
            block = Block(record.number, record.hash, record.parent_hash, record.timestamp)
            evaluator.evaluate(BLOCKS, {"chain": chain, "number": record.number, "timestamp": timestamp})
            applied = state.apply(chain, block, [e for e in events if e.kind != TRANSFER])
            fired: list[Firing] = []
            for update in applied.updates:
                result.updates += 1
                fired.extend(evaluator.evaluate(update.channel, update.as_dict()))
            if wants_transfers:
                transfers = [event_to_dict(e) for e in events if e.kind == TRANSFER]
                fired.extend(evaluator.evaluate(EVENTS, {"chain": chain, "events": transfers}))
            if (chain, record.number) in mev:
                fired.extend(evaluator.evaluate(MEV, mev[(chain, record.number)]))
            if detector is not None:
                pools = touched_pools(state, chain, record.number)
                observed = observation(state, chain, record.number, timestamp, pools, block_volume(applied))
                for anomaly in detector.observe(observed):
                    fired.extend(evaluator.evaluate(ANOMALIES, anomaly.as_dict()))
            result.blocks += 1
            result.firings.extend(
                f
                for f in fired
                if (from_timestamp is None or f.timestamp >= from_timestamp)
                and (to_timestamp is None or f.timestamp <= to_timestamp)
            )
        return result

    return await asyncio.to_thread(fold)
