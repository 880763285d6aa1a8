"""Call traces in the Parity/Erigon `trace_block` shape, reduced to what MEV detection reads.

A node's trace list mixes calls, creates, self-destructs and rewards; only calls move tokens
through contract functions, so only calls become `Call` records. Calls that reverted, or sit
under a call that reverted, had no effect and are marked `reverted`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from onchain.errors import MalformedResponseError

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


_HEX_DATA = re.compile(r"0[xX][0-9a-fA-F]*")
_HEX_QUANTITY = re.compile(r"0[xX][0-9a-fA-F]+")


def _quantity(raw: Any, where: str) -> int:
    """Wei as a hex string, a decimal string or an int (the trace dialects differ); absent is 0."""
    if raw is None:
        return 0
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw
    if isinstance(raw, str) and _HEX_QUANTITY.fullmatch(raw):
        return int(raw, 16)
    if isinstance(raw, str) and raw.isascii() and raw.isdigit():
        return int(raw)
    raise MalformedResponseError(f"{where}: expected a quantity, got {raw!r:.60}")


def _hex(raw: Any, where: str) -> str:
    """Call input or output: hex, lower-cased (absent or empty is `0x`)."""
    if raw is None or raw == "":
        return "0x"
    if isinstance(raw, str) and _HEX_DATA.fullmatch(raw):
        return raw.lower()
    raise MalformedResponseError(f"{where}: expected hex data, got {raw!r:.60}")


def _address(raw: Any, where: str) -> str:
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw.lower()
    raise MalformedResponseError(f"{where}: expected an address, got {raw!r:.60}")


def _index(raw: Any, where: str) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw
    raise MalformedResponseError(f"{where}: expected a non-negative integer, got {raw!r:.60}")


def _field(trace: Mapping[str, Any], snake: str, camel: str) -> Any:
    return trace[snake] if snake in trace else trace.get(camel)


def parse_calls(traces: Iterable[Mapping[str, Any]]) -> list[Call]:
    """Turn raw trace objects (snake_case or camelCase keys) into calls, in block order.

    Order is (transaction position, trace address), which is the order the EVM executed them. A trace
    that is not of the shape calls have raises `MalformedResponseError` naming its place in the list.
    """
    calls: list[Call] = []
    for number, trace in enumerate(traces):
        where = f"trace {number}"
        if not isinstance(trace, Mapping):
            raise MalformedResponseError(f"{where}: expected a JSON object, got {type(trace).__name__}")
        if trace.get("type") != "call":
            continue
        tx_hash = _field(trace, "transaction_hash", "transactionHash")
        position = _field(trace, "transaction_position", "transactionPosition")
        if tx_hash is None or position is None:
            continue
        action = trace.get("action") or {}
        result = trace.get("result") or {}
        if not isinstance(action, Mapping) or not isinstance(result, Mapping):
            raise MalformedResponseError(f"{where}: action and result must be JSON objects")
        trace_address = _field(trace, "trace_address", "traceAddress") or []
        if not isinstance(trace_address, list):
            raise MalformedResponseError(f"{where}: trace address: expected a list, got {trace_address!r:.60}")
        calls.append(
            Call(
                transaction_hash=_address(tx_hash, f"{where}: transaction hash"),
                transaction_position=_index(position, f"{where}: transaction position"),
                trace_address=tuple(_index(i, f"{where}: trace address") for i in trace_address),
                call_type=str(action.get("callType") or action.get("call_type") or "call"),
                from_address=_address(action.get("from"), f"{where}: action.from"),
                to_address=_address(action.get("to"), f"{where}: action.to"),
                value=_quantity(action.get("value"), f"{where}: action.value"),
                input=_hex(action.get("input"), f"{where}: action.input"),
                output=_hex(result.get("output"), f"{where}: result.output"),
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
