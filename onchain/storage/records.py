"""Rows the store writes and returns, as plain frozen records (no ORM objects leak out)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from onchain.domain.chain import BlockBundle
from onchain.domain.events import Event


@dataclass(frozen=True, slots=True)
class PoolRecord:
    """A liquidity pool. `created_block` is the block of its creation event, None when known from config."""

    chain: str
    address: str
    family: str
    token0: str
    token1: str
    protocol: str | None = None
    fee: int | None = None
    factory: str | None = None
    created_block: int | None = None


@dataclass(frozen=True, slots=True)
class TokenRecord:
    chain: str
    address: str
    symbol: str | None
    decimals: int | None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Cursor:
    """The last block committed for a chain; ingestion resumes at `block_number + 1`."""

    chain: str
    block_number: int
    block_hash: str


@dataclass(frozen=True, slots=True)
class BlockRecord:
    chain: str
    number: int
    hash: str
    parent_hash: str
    timestamp: int
    miner: str
    base_fee_per_gas: int | None
    gas_used: int
    transaction_count: int
    log_count: int
    event_count: int


@dataclass(frozen=True, slots=True)
class BlockWrite:
    """One block as the pipeline stores it: the source's bundle, its decoded events, pools it created."""

    bundle: BlockBundle
    events: Sequence[Event] = ()
    pools: Sequence[PoolRecord] = ()


@dataclass(slots=True)
class PreparedBlocks:
    """A batch of `BlockWrite`s turned into rows by `Store.prepare_blocks`, ready for `Store.commit_blocks`.

    `loader_request` is the same transaction encoded for the SQLite loader process, made during a bulk load.
    """

    chain: str
    numbers: list[int]
    block_rows: list[tuple[Any, ...]]
    tx_rows: list[tuple[Any, ...]]
    event_rows: list[tuple[Any, ...]]
    pool_rows: list[dict[str, Any]]
    token_rows: list[dict[str, Any]]
    last: Cursor
    loader_request: bytes | None = None
