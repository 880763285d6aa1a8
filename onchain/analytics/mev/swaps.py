"""Swaps read from call traces: a call to a pool's swap function, priced by the transfers around it.

A swap function's arguments rarely state both amounts, but the token flows do: what reached the
pool just before or during the call is the input, what the pool sent to the recipient during the
call is the output. Reading flows makes forks of a protocol work without knowing their addresses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from onchain.analytics.mev.calls import ETH_ADDRESS, Call, group_by_transaction
from onchain.analytics.mev.transfers import Transfer, transfer_of, transfers_of


@dataclass(frozen=True, slots=True)
class Swap:
    transaction_hash: str
    transaction_position: int
    trace_address: tuple[int, ...]
    pool: str
    protocol: str
    from_address: str
    to_address: str
    token_in: str
    amount_in: int
    token_out: str
    amount_out: int
    reverted: bool = False


@dataclass(frozen=True, slots=True)
class _SwapFunction:
    protocol: str
    recipient: Callable[[Call], str]


def _caller(call: Call) -> str:
    return call.from_address


def _arg(index: int) -> Callable[[Call], str]:
    return lambda call: call.address_arg(index)


# Selector -> protocol family and where the function sends its output.
SWAP_FUNCTIONS: dict[str, _SwapFunction] = {
    "0x022c0d9f": _SwapFunction("uniswap_v2", _arg(2)),  # swap(uint256,uint256,address,bytes)
    "0x128acb08": _SwapFunction("uniswap_v3", _arg(0)),  # swap(address,bool,int256,uint160,bytes)
    "0x3df02124": _SwapFunction("curve", _caller),  # exchange(int128,int128,uint256,uint256)
    "0xa6417ed6": _SwapFunction("curve", _caller),  # exchange_underlying(int128,int128,uint256,uint256)
    "0x5b41b908": _SwapFunction("curve", _caller),  # exchange(uint256,uint256,uint256,uint256)
    "0x65b2489b": _SwapFunction("curve", _caller),  # exchange_underlying(uint256,uint256,uint256,uint256)
    "0x394747c5": _SwapFunction("curve", _caller),  # exchange(uint256,uint256,uint256,uint256,bool)
    "0x8201aa3f": _SwapFunction("balancer_v1", _caller),  # swapExactAmountIn(address,uint256,address,uint256,uint256)
    "0x7c5e9ea4": _SwapFunction("balancer_v1", _caller),  # swapExactAmountOut(address,uint256,address,uint256,uint256)
    "0x52bbbe29": _SwapFunction("balancer_v2", _arg(3)),  # Vault.swap(SingleSwap,FundManagement,uint256,uint256)
}

BALANCER_V2_VAULT_SWAP = "0x52bbbe29"

# 0x exchange proxy order fills: the order struct is inline, maker token first, taker token second,
# and the call returns (takerTokenFilledAmount, makerTokenFilledAmount). Values: the argument words
# naming who pays the taker token and who receives the maker token (None: the caller does).
ZERO_EX_FILLS: dict[str, tuple[int | None, int | None]] = {
    "0xf6274f66": (None, None),  # fillLimitOrder(LimitOrder,Signature,uint128)
    "0x414e4ccf": (17, 17),  # _fillLimitOrder(LimitOrder,Signature,uint128,address taker,address sender)
    "0xaa77476c": (None, None),  # fillRfqOrder(RfqOrder,Signature,uint128)
    "0xaa6b21cd": (15, 17),  # _fillRfqOrder(RfqOrder,Signature,uint128,address taker,bool,address recipient)
}


def swaps_from_calls(calls: Iterable[Call]) -> list[Swap]:
    """Every swap the block's calls made or attempted (`reverted`), in execution order."""
    swaps: list[Swap] = []
    for tx_calls in group_by_transaction(calls).values():
        swaps.extend(_transaction_swaps(tx_calls))
    return swaps


def _transaction_swaps(calls: Sequence[Call]) -> list[Swap]:
    transfers = transfers_of(calls)
    swaps: list[Swap] = []
    for call in calls:
        if call.call_type != "call":
            continue
        if call.selector in ZERO_EX_FILLS:
            swap = _zero_ex_fill(call)
        elif call.selector in SWAP_FUNCTIONS:
            swap = _pool_swap(call, SWAP_FUNCTIONS[call.selector], transfers)
        else:
            continue
        if swap is not None:
            swaps.append(swap)
    return swaps


def _pool_swap(call: Call, function: _SwapFunction, transfers: list[Transfer]) -> Swap | None:
    party = call.to_address  # the contract that holds and moves the tokens
    recipient = function.recipient(call)
    children = [t for t in transfers if _inside(t, call)]

    incoming: Transfer | None = transfer_of(call) if call.value > 0 else None
    if incoming is None:
        before = [t for t in transfers if t.trace_address < call.trace_address and not _inside(t, call)]
        incoming = next((t for t in reversed(before) if t.to_address == party), None)
    if incoming is None:
        incoming = next((t for t in reversed(children) if t.to_address == party), None)
    if incoming is None:
        return None

    outgoing = [t for t in children if t.from_address == party and t.to_address == recipient]
    if len(outgoing) != 1:
        return None
    out = outgoing[0]
    return Swap(
        transaction_hash=call.transaction_hash,
        transaction_position=call.transaction_position,
        trace_address=call.trace_address,
        pool=_reported_pool(call),
        protocol=function.protocol,
        from_address=incoming.from_address,
        to_address=out.to_address,
        token_in=incoming.token,
        amount_in=incoming.amount,
        token_out=out.token,
        amount_out=out.amount,
        reverted=call.reverted,
    )


def _reported_pool(call: Call) -> str:
    """The pool a swap traded against; for the Balancer V2 vault that is the pool id's address part."""
    if call.selector == BALANCER_V2_VAULT_SWAP:
        single_swap_word = call.word(0) // 32
        pool_id = call.input[10 + 64 * single_swap_word : 10 + 64 * single_swap_word + 40]
        return "0x" + pool_id
    return call.to_address


def _zero_ex_fill(call: Call) -> Swap | None:
    """An order fill seen from the taker: it pays the taker token and receives the maker token."""
    payer_word, receiver_word = ZERO_EX_FILLS[call.selector]
    payer = call.from_address if payer_word is None else call.address_arg(payer_word)
    receiver = call.from_address if receiver_word is None else call.address_arg(receiver_word)
    if len(call.output) < 2 + 128:
        return None
    taker_filled = int(call.output[2:66], 16)
    maker_filled = int(call.output[66:130], 16)
    if taker_filled == 0 or maker_filled == 0:
        return None
    return Swap(
        transaction_hash=call.transaction_hash,
        transaction_position=call.transaction_position,
        trace_address=call.trace_address,
        pool=call.to_address,
        protocol="0x",
        from_address=payer,
        to_address=receiver,
        token_in=call.address_arg(1),
        amount_in=taker_filled,
        token_out=call.address_arg(0),
        amount_out=maker_filled,
        reverted=call.reverted,
    )


def _inside(transfer: Transfer, call: Call) -> bool:
    n = len(call.trace_address)
    return len(transfer.trace_address) > n and transfer.trace_address[:n] == call.trace_address


__all__ = ["ETH_ADDRESS", "SWAP_FUNCTIONS", "Swap", "swaps_from_calls"]
