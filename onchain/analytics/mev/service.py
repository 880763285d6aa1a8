"""MEV found as blocks are ingested: detected per committed block, stored per (chain, block), published.

The pipeline awaits `MevService.committed(batch)` after each commit (`Runtime.pipeline` wires it), so
detection runs in step with ingestion: a reorg rollback can only happen before or after a batch's
findings are written, never in between. A block whose bundle carries call traces (`trace_block`) is
inspected from them, exactly as `onchain mev inspect` does; one without, from its decoded events
(swaps read from Swap and Transfer logs, Aave V3 liquidations from LiquidationCall).

Storing replaces the block's findings, so re-ingesting writes them once; rows reference their block
with ON DELETE CASCADE, so a rollback or rewrite of the block takes its findings with it. After the
commit, each block with findings goes out on the bus topic `mev` as `{"chain", "block", "timestamp",
"sandwiches", "arbitrages", "liquidations", "jit"}` (findings in `onchain mev inspect`'s shape), which the
alert engine's `mev_detected` and the analytics service's per-protocol counts read.

Profit in USD is added here, at the edge, so the detectors stay pure: each stored and published
finding carries `profit_usd` from the price engine (`value_usd`, wired by `onchain serve` to the
market service) at the prices it holds when the block is inspected, or null when either no price
engine is wired or it does not price the token. A liquidation's is its collateral's worth minus its
debt's, when both are priced.

Stored, served and published rows also hold a fourth kind, `jit` (Uniswap V3 just-in-time liquidity,
read from the block's Mint, Swap and Burn events on either path; see `jit.py`): `onchain mev inspect`
prints the three kinds of design.md only. A JIT finding's `profit_usd` is the worth of its
`net_amounts` when both pool tokens are known and priced.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from onchain.analytics.mev.arbitrages import get_arbitrages
from onchain.analytics.mev.inspect import BlockMev, inspect_traces
from onchain.analytics.mev.jit import MINT, JitLiquidity, get_jit
from onchain.analytics.mev.logs import liquidations_from_events, swaps_from_events
from onchain.analytics.mev.sandwiches import get_sandwiches
from onchain.analytics.mev.tables import mev_findings
from onchain.bus.base import Bus, BusError
from onchain.codec import decode_args, encode_args
from onchain.domain.chain import MAX_BLOCK_NUMBER
from onchain.domain.topics import MEV
from onchain.storage.database import reading
from onchain.storage.records import BlockWrite
from onchain.storage.store import Store
from onchain.storage.tables import blocks

if TYPE_CHECKING:
    from onchain.metrics.service import MarketService

log = logging.getLogger(__name__)

UsdValue = Callable[[str, str, int], "float | None"]
"""`value_usd(chain, token, amount)`: USD worth of `amount` base units of `token`, None when unpriced."""

# Finding kinds as stored and as `?kind=` names them, with the key of `onchain mev inspect`'s lists.
KINDS: dict[str, str] = {"sandwich": "sandwiches", "arbitrage": "arbitrages", "liquidation": "liquidations",
                         "jit": "jit"}
# Each kind's transaction and searcher fields (the columns `transaction_hash` and `searcher`).
_INDEXED = {"sandwich": ("frontrun_tx", "searcher"), "arbitrage": ("tx", "searcher"),
            "liquidation": ("tx", "liquidator"), "jit": ("mint_tx", "searcher")}
# A finding's order within its block and kind is an INTEGER column.
MAX_POSITION = 2**31 - 1


def detect(write: BlockWrite) -> BlockMev:
    """One committed block's MEV: from its call traces when the source delivered them, else from its events."""
    bundle = write.bundle
    number = bundle.block.number
    if bundle.traces is not None:
        return inspect_traces(number, bundle.traces)
    swaps = swaps_from_events(write.events)
    return BlockMev(
        block_number=number,
        swaps=tuple(swaps),
        sandwiches=tuple(get_sandwiches(swaps)),
        arbitrages=tuple(get_arbitrages(swaps)),
        liquidations=tuple(liquidations_from_events(write.events)),
    )


def detect_jit(write: BlockWrite) -> list[JitLiquidity]:
    """The block's JIT positions from its events (tokens named by the swaps its transfers resolve)."""
    if not any(event.kind == MINT for event in write.events):
        return []
    return get_jit(write.events, swaps_from_events(write.events))


def market_value_usd(market: MarketService) -> UsdValue:
    """The market service's current prices as a `UsdValue` (the token's decimals are the market's too)."""

    def value_usd(chain: str, token: str, amount: int) -> float | None:
        coin = f"{chain}:{token}"
        price, info = market.state.prices.get(coin), market.state.tokens.get(coin)
        if price is None or info is None:
            return None
        return amount / 10.0**info.decimals * price.price_usd

    return value_usd


def priced(
    chain: str, found: BlockMev, value_usd: UsdValue | None, jit: Sequence[JitLiquidity] = ()
) -> dict[str, Any]:
    """`onchain mev inspect`'s shape of the block plus its `jit` list, each finding with `profit_usd`
    (None when unknown)."""
    shaped = found.to_json()
    shaped["jit"] = [position.to_json() for position in jit]

    def usd(token: str | None, amount: int | None) -> float | None:
        if value_usd is None or token is None or amount is None:
            return None
        return value_usd(chain, token, amount)

    for key in ("sandwiches", "arbitrages"):
        for finding in shaped[key]:
            finding["profit_usd"] = usd(finding["profit_token"], finding["profit_amount"])
    for finding in shaped["liquidations"]:
        collateral = usd(finding["collateral_token"], finding["collateral_amount"])
        debt = usd(finding["debt_token"], finding["debt_amount"])
        finding["profit_usd"] = None if collateral is None or debt is None else collateral - debt
    for finding in shaped["jit"]:
        net0, net1 = finding["net_amounts"]
        worth0, worth1 = usd(finding["token0"], net0), usd(finding["token1"], net1)
        finding["profit_usd"] = None if worth0 is None or worth1 is None else worth0 + worth1
    return shaped


def finding_rows(chain: str, block_number: int, shaped: dict[str, Any]) -> list[dict[str, Any]]:
    """The block's findings (as `priced` shapes them) as `mev_findings` rows (`data` holds each)."""
    rows = []
    for kind, key in KINDS.items():
        for position, finding in enumerate(shaped[key]):
            profit = finding.get("profit_amount")
            rows.append(
                {
                    "chain": chain,
                    "block_number": block_number,
                    "kind": kind,
                    "position": position,
                    "transaction_hash": finding[_INDEXED[kind][0]],
                    "searcher": finding[_INDEXED[kind][1]],
                    "pool": finding.get("pool"),
                    "protocol": finding.get("protocol") or ("uniswap_v3" if kind == "jit" else None),
                    "profit_token": finding.get("profit_token"),
                    "profit_amount": None if profit is None else str(profit),
                    "data": encode_args(finding),
                }
            )
    return rows


@dataclass(slots=True)
class MevStats:
    """What the service inspected since it started (blocks, and findings per kind)."""

    blocks: int = 0
    from_traces: int = 0
    from_events: int = 0
    findings: Counter[str] = field(default_factory=Counter)
    publish_failures: int = 0


class MevService:
    """Detects, stores and publishes MEV for each batch the pipeline commits (`committed` is its hook)."""

    def __init__(self, store: Store, bus: Bus, value_usd: UsdValue | None = None) -> None:
        self.store = store
        self.bus = bus
        self.value_usd = value_usd  # set once a price engine runs (serve wires the market service's)
        self.stats = MevStats()

    async def committed(self, batch: Sequence[BlockWrite]) -> None:
        """Inspect a committed batch of one chain, replace its blocks' stored findings, then publish them."""
        if not batch:
            return
        chain = batch[0].bundle.chain
        found: list[tuple[BlockWrite, dict[str, Any]]] = []
        for write in batch:
            found.append((write, priced(chain, detect(write), self.value_usd, detect_jit(write))))
            if write.bundle.traces is not None:
                self.stats.from_traces += 1
            else:
                self.stats.from_events += 1
            await asyncio.sleep(0)  # a long backfill batch must not hold the event loop (the API shares it)
        rows = [row for write, mev in found for row in finding_rows(chain, write.bundle.block.number, mev)]
        numbers = [write.bundle.block.number for write in batch]
        async with self._transaction(f"storing MEV of {chain} blocks {numbers[0]}..{numbers[-1]}") as connection:
            table = mev_findings.c
            for start in range(0, len(numbers), 500):
                chunk = numbers[start : start + 500]
                await connection.execute(
                    delete(mev_findings).where(table.chain == chain, table.block_number.in_(chunk))
                )
            if rows:
                await connection.execute(mev_findings.insert(), rows)
        self.stats.blocks += len(batch)
        self.stats.findings.update(row["kind"] for row in rows)
        if self.bus.may_have_subscribers(MEV):
            for write, mev in found:
                if any(mev[key] for key in KINDS.values()):
                    await self._publish(chain, write, mev)

    async def _publish(self, chain: str, write: BlockWrite, mev: dict[str, Any]) -> None:
        """At most once, like every bus message: a failed publish is counted, the findings stay stored."""
        payload = {"chain": chain, **mev, "timestamp": write.bundle.block.timestamp}
        try:
            await self.bus.publish(MEV, payload)
        except (BusError, OSError) as exc:
            self.stats.publish_failures += 1
            log.warning("%s: publishing MEV of block %d failed: %s", chain, mev["block"], exc)

    def _transaction(self, what: str) -> AbstractAsyncContextManager[AsyncConnection]:
        return self.store.transaction(what)


@dataclass(frozen=True, slots=True)
class FindingKey:
    """Where a page of findings ends; the next page starts after it (`str()` is the API's cursor)."""

    block: int
    chain: str
    kind: str
    position: int

    def __str__(self) -> str:
        return f"{self.block}:{self.chain}:{self.kind}:{self.position}"

    @classmethod
    def parse(cls, text: str) -> FindingKey:
        """Read a cursor back; raises ValueError when it is not one this module wrote."""
        block, chain, kind, position = text.split(":")
        key = cls(int(block), chain, kind, int(position))
        in_range = 0 <= key.block <= MAX_BLOCK_NUMBER and 0 <= key.position <= MAX_POSITION
        if kind not in KINDS or not chain or not in_range:
            raise ValueError(f"not a findings cursor: {text!r}")
        return key


async def read_findings(
    store: Store,
    *,
    chain: str | None = None,
    kind: str | None = None,
    from_block: int | None = None,
    to_block: int | None = None,
    after: FindingKey | None = None,
    limit: int = 100,
) -> tuple[list[dict[str, Any]], FindingKey | None]:
    """Stored findings in block order, each `{"chain", "block", "timestamp", "kind", ...the finding}`.

    Returns one page and the key to continue after (None when this page is the last).
    """
    table = mev_findings.c
    order = (table.block_number, table.chain, table.kind, table.position)
    query = select(mev_findings, blocks.c.timestamp).join(
        blocks, (blocks.c.chain == table.chain) & (blocks.c.number == table.block_number)
    )
    if chain is not None:
        query = query.where(table.chain == chain)
    if kind is not None:
        query = query.where(table.kind == kind)
    if from_block is not None:
        query = query.where(table.block_number >= from_block)
    if to_block is not None:
        query = query.where(table.block_number <= to_block)
    if after is not None:
        query = query.where(tuple_(*order) > tuple_(after.block, after.chain, after.kind, after.position))
    query = query.order_by(*order).limit(limit + 1)
    async with reading(store.engine, "reading MEV findings") as connection:
        rows = (await connection.execute(query)).all()
    page = rows[:limit]
    findings = [
        {"chain": row.chain, "block": row.block_number, "timestamp": row.timestamp, "kind": row.kind,
         **decode_args(row.data)}
        for row in page
    ]
    last = page[-1] if len(rows) > limit else None
    return findings, None if last is None else FindingKey(last.block_number, last.chain, last.kind, last.position)
