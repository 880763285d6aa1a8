"""Call traces in the Parity/Erigon `trace_block` shape, reduced to what MEV detection reads.

A node's trace list mixes calls, creates, self-destructs and rewards; only calls move tokens
through contract functions, so only calls become `Call` records. Calls that reverted, or sit
under a call that reverted, had no effect and are marked `reverted`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ETH_ADDRESS = "0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
"""Stand-in token address for native ether moved as call value."""


@dataclass(frozen=True, slots=True)
class Call:
    transaction_hash: str
    transaction_position: int
    trace_address: tuple[int, ...]
    call_type: str
    from_address: str
    to_address: str
    value: int
    input: str
    output: str
    reverted: bool

    @property
    def selector(self) -> str:
        """The 4-byte function selector as `0x` plus 8 hex digits, or `0x` for a plain value transfer."""
        return self.input[:10]

    def word(self, index: int) -> int:
        """The `index`-th 32-byte ABI argument as an unsigned int (0 when the input is short)."""
        start = 10 + 64 * index
        chunk = self.input[start : start + 64]
        return int(chunk, 16) if chunk else 0

    def address_arg(self, index: int) -> str:
        """The `index`-th ABI argument read as an address."""
        start = 10 + 64 * index + 24
        return "0x" + self.input[start : start + 40]

    def is_descendant_of(self, other: Call) -> bool:
        """True when this call ran inside `other` (same transaction, strictly deeper trace address)."""
        n = len(other.trace_address)
        return (
            self.transaction_hash == other.transaction_hash
            and len(self.trace_address) > n
            and self.trace_address[:n] == other.trace_address
        )


def _quantity(raw: Any) -> int:
    if raw is None:
        return 0
    if isinstance(raw, int):
        return raw
    text = str(raw)
    return int(text, 16) if text.startswith(("0x", "0X")) else int(text)


def _field(trace: Mapping[str, Any], snake: str, camel: str) -> Any:
    return trace[snake] if snake in trace else trace.get(camel)


def parse_calls(traces: Iterable[Mapping[str, Any]]) -> list[Call]:
    """Turn raw trace objects (snake_case or camelCase keys) into calls, in block order.

    Order is (transaction position, trace address), which is the order the EVM executed them.
    """
    calls: list[Call] = []
    for trace in traces:
        if trace.get("type") != "call":
            continue
        tx_hash = _field(trace, "transaction_hash", "transactionHash")
        position = _field(trace, "transaction_position", "transactionPosition")
        if tx_hash is None or position is None:
            continue
        action = trace.get("action") or {}
        result = trace.get("result") or {}
        calls.append(
            Call(
                transaction_hash=str(tx_hash).lower(),
                transaction_position=int(position),
                trace_address=tuple(int(i) for i in _field(trace, "trace_address", "traceAddress") or ()),
                call_type=str(action.get("callType") or action.get("call_type") or "call"),
                from_address=str(action.get("from", "")).lower(),
                to_address=str(action.get("to", "")).lower(),
                value=_quantity(action.get("value")),
                input=str(action.get("input") or "0x").lower(),
                output=str(result.get("output") or "0x").lower(),
                reverted=trace.get("error") is not None,
            )
        )
    calls.sort(key=lambda c: (c.transaction_position, c.trace_address))
    return _mark_reverted_subtrees(calls)


def _mark_reverted_subtrees(calls: list[Call]) -> list[Call]:
    """A reverted call undoes everything beneath it, so its descendants count as reverted too."""
    out: list[Call] = []
    reverted_roots: list[Call] = []
    for call in calls:
        if reverted_roots and reverted_roots[-1].transaction_hash != call.transaction_hash:
            reverted_roots.clear()
        inherited = any(call.is_descendant_of(root) for root in reverted_roots)
        if inherited and not call.reverted:
            call = Call(
                call.transaction_hash,
                call.transaction_position,
                call.trace_address,
                call.call_type,
                call.from_address,
                call.to_address,
                call.value,
                call.input,
                call.output,
                True,
            )
        if call.reverted and not inherited:
            reverted_roots.append(call)
        out.append(call)
    return out


def group_by_transaction(calls: Iterable[Call]) -> dict[str, list[Call]]:
    """Calls per transaction hash, keeping execution order."""
    grouped: dict[str, list[Call]] = {}
    for call in calls:
        grouped.setdefault(call.transaction_hash, []).append(call)
    return grouped
