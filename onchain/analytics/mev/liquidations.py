"""Liquidations on lending markets: a liquidator repays a borrower's debt and receives collateral.

Read from the call a liquidator makes on the market (Aave's `liquidationCall`, Compound-style
`liquidateBorrow`) and from what happens inside it: the collateral transferred or seized.
Only calls to known market contracts count, so look-alike functions elsewhere are not reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from onchain.analytics.mev.calls import ETH_ADDRESS, Call, group_by_transaction
from onchain.analytics.mev.markets import AAVE_POOLS, COMPOUND_ETHER_MARKETS, COMPOUND_TOKEN_MARKETS
from onchain.analytics.mev.transfers import transfer_of

AAVE_LIQUIDATION_CALL = "0x00a718a9"  # liquidationCall(address,address,address,uint256,bool)
LIQUIDATE_BORROW = "0xf5e3c462"  # liquidateBorrow(address,uint256,address)
LIQUIDATE_BORROW_ETHER = "0xaae40a2a"  # liquidateBorrow(address,address), payable
SEIZE = "0xb2a02ff1"  # seize(address,address,uint256)
ATOKEN_TRANSFER_ON_LIQUIDATION = "0xf866c319"  # transferOnLiquidation(address,address,uint256)
MAX_UINT256 = 2**256 - 1


@dataclass(frozen=True, slots=True)
class Liquidation:
    transaction_hash: str
    trace_address: tuple[int, ...]
    protocol: str
    liquidator: str
    borrower: str
    debt_token: str
    debt_amount: int
    collateral_token: str
    collateral_amount: int


def get_liquidations(calls: Iterable[Call]) -> list[Liquidation]:
    """Successful liquidations in block order (one per liquidation call, nested proxies not doubled)."""
    found: list[Liquidation] = []
    for tx_calls in group_by_transaction(calls).values():
        for index, call in enumerate(tx_calls):
            if call.reverted or call.call_type != "call":
                continue
            inner = _descendants(tx_calls, index)
            liquidation: Liquidation | None = None
            if call.selector == AAVE_LIQUIDATION_CALL and call.to_address in AAVE_POOLS:
                liquidation = _aave(call, inner, AAVE_POOLS[call.to_address])
            elif call.selector == LIQUIDATE_BORROW and call.to_address in COMPOUND_TOKEN_MARKETS:
                liquidation = _compound(call, inner, COMPOUND_TOKEN_MARKETS[call.to_address])
            elif call.selector == LIQUIDATE_BORROW_ETHER and call.to_address in COMPOUND_ETHER_MARKETS:
                liquidation = _compound(call, inner, COMPOUND_ETHER_MARKETS[call.to_address])
            if liquidation is not None:
                found.append(liquidation)
    return found


def _descendants(calls: Sequence[Call], index: int) -> list[Call]:
    parent = calls[index]
    out: list[Call] = []
    for call in calls[index + 1 :]:
        if not call.is_descendant_of(parent):
            break
        out.append(call)
    return out


def _aave(call: Call, inner: Sequence[Call], protocol: str) -> Liquidation:
    """Debt is what the liquidator actually paid in; collateral is what came back to it.

    The market caps the repayment (close factor), so the `debtToCover` argument is only a
    ceiling; the debt token's transfer from the liquidator says what was repaid. Collateral
    arrives as the underlying asset (a transfer to the liquidator) or, when the liquidator asked
    for it, as the market's interest-bearing token moved by `transferOnLiquidation`.
    """
    liquidator = call.from_address
    debt_token = call.address_arg(1)
    paid = _first_transfer(inner, from_address=liquidator, token=debt_token)
    debt_amount = paid[1] if paid else (0 if call.word(3) == MAX_UINT256 else call.word(3))
    received = _first_transfer(inner, to_address=liquidator) or _atoken_received(inner, liquidator)
    collateral_token, collateral_amount = received if received else (call.address_arg(0), 0)
    return Liquidation(
        transaction_hash=call.transaction_hash,
        trace_address=call.trace_address,
        protocol=protocol,
        liquidator=liquidator,
        borrower=call.address_arg(2),
        debt_token=debt_token,
        debt_amount=debt_amount,
        collateral_token=collateral_token,
        collateral_amount=collateral_amount,
    )


def _compound(call: Call, inner: Sequence[Call], protocol: str) -> Liquidation:
    """Debt is the repaid amount in the market's underlying (ether for ether markets).

    The collateral is counted in the collateral market's own cToken units, as `seize` moves them.
    """
    liquidator = call.from_address
    if call.selector == LIQUIDATE_BORROW_ETHER:
        collateral_market = call.address_arg(1)
        debt_token, debt_amount = ETH_ADDRESS, call.value
    else:
        collateral_market = call.address_arg(2)
        paid = _first_transfer(inner, from_address=liquidator)
        debt_token = paid[0] if paid else call.to_address
        debt_amount = call.word(1)
    seized = next((c for c in inner if c.selector == SEIZE and not c.reverted and c.call_type == "call"), None)
    return Liquidation(
        transaction_hash=call.transaction_hash,
        trace_address=call.trace_address,
        protocol=protocol,
        liquidator=liquidator,
        borrower=call.address_arg(0),
        debt_token=debt_token,
        debt_amount=debt_amount,
        collateral_token=collateral_market,
        collateral_amount=seized.word(2) if seized else 0,
    )


def _atoken_received(calls: Sequence[Call], liquidator: str) -> tuple[str, int] | None:
    for call in calls:
        if (
            call.selector == ATOKEN_TRANSFER_ON_LIQUIDATION
            and not call.reverted
            and call.call_type == "call"
            and call.address_arg(1) == liquidator
        ):
            return call.to_address, call.word(2)
    return None


def _first_transfer(
    calls: Sequence[Call], *, from_address: str | None = None, to_address: str | None = None, token: str | None = None
) -> tuple[str, int] | None:
    for call in calls:
        transfer = transfer_of(call)
        if transfer is None or transfer.reverted:
            continue
        if from_address is not None and transfer.from_address != from_address:
            continue
        if to_address is not None and transfer.to_address != to_address:
            continue
        if token is not None and transfer.token != token:
            continue
        return transfer.token, transfer.amount
    return None
