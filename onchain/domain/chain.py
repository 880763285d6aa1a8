"""What a chain source yields: blocks, transactions, logs and traces, bundled per block.

Every source (live RPC, replay, devnet) produces the same `BlockBundle`, so one pipeline
decodes, stores and publishes them all. Hex strings are lower case, quantities are ints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The largest values a caller may ask about: block numbers are BIGINT columns, and timestamps become
# datetimes (9999-12-31T23:59:59Z is the last second Python's datetime holds).
MAX_BLOCK_NUMBER = 2**63 - 1
MAX_TIMESTAMP = 253_402_300_799


@dataclass(frozen=True, slots=True)
class Block:
    number: int
    hash: str
    parent_hash: str
    timestamp: int
    miner: str = ""
    base_fee_per_gas: int | None = None
    gas_used: int = 0
    transaction_count: int = 0


@dataclass(frozen=True, slots=True)
class Transaction:
    hash: str
    block_number: int
    transaction_index: int
    from_address: str
    to_address: str | None
    value: int
    gas_price: int | None = None
    gas_used: int | None = None
    status: int | None = None
    input: str = "0x"


@dataclass(frozen=True, slots=True)
class Log:
    block_number: int
    block_hash: str
    transaction_hash: str
    transaction_index: int
    log_index: int
    address: str
    topics: tuple[str, ...]
    data: str
    removed: bool = False


@dataclass(frozen=True, slots=True)
class BlockBundle:
    """One block and everything recorded about it, as a source delivers it."""

    chain: str
    block: Block
    transactions: tuple[Transaction, ...] = ()
    logs: tuple[Log, ...] = ()
    traces: tuple[dict[str, Any], ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
