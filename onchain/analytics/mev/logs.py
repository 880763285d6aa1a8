"""Swaps and liquidations from receipts' logs, for endpoints that offer no traces.

A pool's Swap event states amounts by token index but not the tokens; the ERC-20 Transfer events
of the same transaction do. The output is the transfer from the pool to the swap's recipient of
exactly the amount out, the input the latest transfer into the pool of exactly the amount in.
Logs have no call tree, so a swap's `trace_address` is `(log_index,)`: it still orders swaps
within a transaction, which is all the detectors read from it.

Liquidations come from the lending market's own event (Aave V3's LiquidationCall), which states
the repaid debt and the collateral taken in the underlying assets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from onchain.analytics.mev.liquidations import Liquidation
from onchain.analytics.mev.swaps import Swap
from onchain.domain.events import Event


@dataclass(frozen=True, slots=True)
class _Flow:
    log_index: int
    token: str
    sender: str
    receiver: str
    amount: int


def swaps_from_events(events: Iterable[Event]) -> list[Swap]:
    """Uniswap V2/V3 (and fork) swaps whose tokens the transaction's transfers reveal, in log order."""
    by_tx: dict[str, list[Event]] = {}
    for event in events:
        by_tx.setdefault(event.transaction_hash, []).append(event)
    swaps: list[Swap] = []
    for tx_events in by_tx.values():
        tx_events.sort(key=lambda e: e.log_index)
        flows = [
            _Flow(e.log_index, e.address, str(e.args["from"]), str(e.args["to"]), int(e.args["value"]))
            for e in tx_events
            if e.kind == "erc20.Transfer"
        ]
        for event in tx_events:
            swap = _swap(event, flows)
            if swap is not None:
                swaps.append(swap)
    return swaps


def _swap(event: Event, flows: Sequence[_Flow]) -> Swap | None:
    args = event.args
    if event.kind == "uniswap_v2.Swap":
        amount_in = int(args["amount0In"]) or int(args["amount1In"])
        amount_out = int(args["amount0Out"]) or int(args["amount1Out"])
        recipient = str(args["to"])
    elif event.kind == "uniswap_v3.Swap":
        amount0, amount1 = int(args["amount0"]), int(args["amount1"])
        amount_in, amount_out = (amount0, -amount1) if amount0 > 0 else (amount1, -amount0)
        recipient = str(args["recipient"])
    else:
        return None
    pool = event.address
    earlier = [f for f in flows if f.log_index < event.log_index]
    incoming = next((f for f in reversed(earlier) if f.receiver == pool and f.amount == amount_in), None)
    outgoing = next(
        (f for f in reversed(earlier) if f.sender == pool and f.receiver == recipient and f.amount == amount_out), None
    )
    if incoming is None or outgoing is None or amount_in <= 0 or amount_out <= 0:
        return None
    return Swap(
        transaction_hash=event.transaction_hash,
        transaction_position=event.transaction_index,
        trace_address=(event.log_index,),
        pool=pool,
        protocol=event.protocol or event.family,
        from_address=incoming.sender,
        to_address=recipient,
        token_in=incoming.token,
        amount_in=amount_in,
        token_out=outgoing.token,
        amount_out=amount_out,
    )


def liquidations_from_events(events: Iterable[Event]) -> list[Liquidation]:
    """Aave V3 liquidations in log order, as the market reported them."""
    found = []
    for event in sorted(events, key=lambda e: e.log_index):
        if event.kind != "aave_v3.LiquidationCall":
            continue
        args = event.args
        found.append(
            Liquidation(
                transaction_hash=event.transaction_hash,
                trace_address=(event.log_index,),
                protocol="aave_v3",
                liquidator=str(args["liquidator"]),
                borrower=str(args["user"]),
                debt_token=str(args["debtAsset"]),
                debt_amount=int(args["debtToCover"]),
                collateral_token=str(args["collateralAsset"]),
                collateral_amount=int(args["liquidatedCollateralAmount"]),
            )
        )
    return found
