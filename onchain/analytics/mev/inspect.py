"""One recorded block in, everything MEV found in it out, in the shape `onchain mev inspect` prints."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from onchain.analytics.mev.arbitrages import Arbitrage, get_arbitrages
from onchain.analytics.mev.calls import parse_calls
from onchain.analytics.mev.liquidations import Liquidation, get_liquidations
from onchain.analytics.mev.sandwiches import Sandwich, get_sandwiches
from onchain.analytics.mev.swaps import Swap, swaps_from_calls
from onchain.errors import MalformedResponseError


@dataclass(frozen=True, slots=True)
class BlockMev:
    block_number: int
    swaps: tuple[Swap, ...]
    sandwiches: tuple[Sandwich, ...]
    arbitrages: tuple[Arbitrage, ...]
    liquidations: tuple[Liquidation, ...]

    def to_json(self) -> dict[str, Any]:
        """The block's entry in `{"blocks": [...]}` (design.md, `onchain mev inspect`)."""
        return {
            "block": self.block_number,
            "sandwiches": [
                {
                    "searcher": s.searcher,
                    "frontrun_tx": s.frontrun.transaction_hash,
                    "backrun_tx": s.backrun.transaction_hash,
                    "victim_txs": list(s.victim_transactions),
                    "pool": s.pool,
                    "profit_token": s.profit_token,
                    "profit_amount": s.profit_amount,
                }
                for s in self.sandwiches
            ],
            "arbitrages": [
                {
                    "tx": a.transaction_hash,
                    "searcher": a.searcher,
                    "profit_token": a.profit_token,
                    "profit_amount": a.profit_amount,
                    "swaps": [
                        {
                            "pool": w.pool,
                            "token_in": w.token_in,
                            "token_out": w.token_out,
                            "amount_in": w.amount_in,
                            "amount_out": w.amount_out,
                        }
                        for w in a.swaps
                    ],
                }
                for a in self.arbitrages
            ],
            "liquidations": [
                {
                    "tx": q.transaction_hash,
                    "liquidator": q.liquidator,
                    "protocol": q.protocol,
                    "debt_token": q.debt_token,
                    "debt_amount": q.debt_amount,
                    "collateral_token": q.collateral_token,
                    "collateral_amount": q.collateral_amount,
                }
                for q in self.liquidations
            ],
        }


def inspect_traces(block_number: int, traces: Iterable[Mapping[str, Any]]) -> BlockMev:
    """Sandwiches, arbitrages and liquidations in one block's `trace_block` output."""
    calls = parse_calls(traces)
    swaps = swaps_from_calls(calls)
    return BlockMev(
        block_number=block_number,
        swaps=tuple(swaps),
        sandwiches=tuple(get_sandwiches(swaps)),
        arbitrages=tuple(get_arbitrages(swaps)),
        liquidations=tuple(get_liquidations(calls)),
    )


def inspect_recorded_block(block: Mapping[str, Any]) -> BlockMev:
    """Inspect a recorded block object: `block_number` and `traces` (receipts are not needed).

    `MalformedResponseError` when the block number is not one or a trace is not of the trace shape.
    """
    number = block.get("block_number")
    if not isinstance(number, int) or isinstance(number, bool) or number < 0:
        raise MalformedResponseError(f"block_number: expected a non-negative integer, got {number!r:.60}")
    traces = block.get("traces") or []
    if not isinstance(traces, list):
        raise MalformedResponseError(f"traces: expected a list, got {type(traces).__name__}")
    return inspect_traces(number, traces)
