"""A decoded protocol event: one per log an adapter understood.

`family` is the adapter family (`uniswap_v2`), `name` the event name as in the ABI (`Swap`),
`protocol` the slug it is attributed to (`sushiswap`) when the emitting contract is known.
`args` holds the ABI arguments by name: ints as ints, addresses lower-case hex, bytes as hex.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    chain: str
    block_number: int
    block_hash: str
    transaction_hash: str
    transaction_index: int
    log_index: int
    address: str
    family: str
    name: str
    protocol: str | None
    args: dict[str, Any]

    @property
    def kind(self) -> str:
        """`family.name`, the key `onchain replay --json` counts by."""
        return f"{self.family}.{self.name}"
