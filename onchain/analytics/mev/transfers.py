"""Token movements read from call traces: ERC-20 `transfer`/`transferFrom` and ether sent as call value."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from onchain.analytics.mev.calls import ETH_ADDRESS, Call

TRANSFER = "0xa9059cbb"  # transfer(address,uint256)
TRANSFER_FROM = "0x23b872dd"  # transferFrom(address,address,uint256)


@dataclass(frozen=True, slots=True)
class Transfer:
    transaction_hash: str
    trace_address: tuple[int, ...]
    token: str
    from_address: str
    to_address: str
    amount: int
    reverted: bool = False


def transfer_of(call: Call) -> Transfer | None:
    """The movement one call makes, if it is a token transfer or carries ether.

    A reverted call's transfer is kept and marked, so callers can report attempts as well as
    effects. Delegate calls are skipped: they run a token's implementation under the proxy's
    address, and the proxy-level call already names the real token.
    """
    if call.call_type not in ("call", ""):
        return None
    if call.selector == TRANSFER and len(call.input) >= 138:
        return Transfer(
            call.transaction_hash,
            call.trace_address,
            call.to_address,
            call.from_address,
            call.address_arg(0),
            call.word(1),
            call.reverted,
        )
    if call.selector == TRANSFER_FROM and len(call.input) >= 202:
        return Transfer(
            call.transaction_hash,
            call.trace_address,
            call.to_address,
            call.address_arg(0),
            call.address_arg(1),
            call.word(2),
            call.reverted,
        )
    if call.value > 0:
        return Transfer(
            call.transaction_hash,
            call.trace_address,
            ETH_ADDRESS,
            call.from_address,
            call.to_address,
            call.value,
            call.reverted,
        )
    return None


def transfers_of(calls: Iterable[Call]) -> list[Transfer]:
    """Every transfer in execution order, without the inner transfers a token makes while transferring.

    Some tokens call other contracts (or themselves) inside `transfer`; those nested moves are
    part of the outer one, not separate flows.
    """
    out: list[Transfer] = []
    outer: Transfer | None = None  # the latest ERC-20 transfer; ether-carrying calls nest real work
    for call in calls:
        transfer = transfer_of(call)
        if transfer is None:
            continue
        if outer is not None and _nested(transfer, outer):
            continue
        out.append(transfer)
        if transfer.token != ETH_ADDRESS:
            outer = transfer
    return out


def _nested(inner: Transfer, outer: Transfer) -> bool:
    n = len(outer.trace_address)
    return (
        inner.transaction_hash == outer.transaction_hash
        and len(inner.trace_address) > n
        and inner.trace_address[:n] == outer.trace_address
    )
