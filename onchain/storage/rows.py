"""Chain records <-> table rows: the column order of bulk inserts, values as stored, records from rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from onchain.codec import decode_args
from onchain.domain.events import Event
from onchain.storage.records import BlockRecord, PoolRecord, TokenRecord

_INT64_MAX = 2**63 - 1

EVENT_COLUMNS = (
    "chain",
    "block_number",
    "log_index",
    "block_hash",
    "transaction_hash",
    "transaction_index",
    "address",
    "family",
    "name",
    "protocol",
    "args",
)
TX_COLUMNS = (
    "chain",
    "block_number",
    "transaction_index",
    "hash",
    "from_address",
    "to_address",
    "value",
    "gas_price",
    "gas_used",
    "status",
)
BLOCK_COLUMNS = (
    "chain",
    "number",
    "hash",
    "parent_hash",
    "timestamp",
    "miner",
    "base_fee_per_gas",
    "gas_used",
    "transaction_count",
    "log_count",
    "event_count",
)


def hex_int(value: int | None) -> str | None:
    return None if value is None else str(value)


def stored_gas(value: int | None) -> int | None:
    """Gas used as stored: no real transaction comes near 2**63 (block gas limits are ~1e8), and recorders
    write 2**64-1 for "unknown" (mev-inspect's receipt summaries do), so such values are stored as NULL."""
    return None if value is None or value > _INT64_MAX else value


def block_record(row: Row[Any]) -> BlockRecord:
    fee = row.base_fee_per_gas
    return BlockRecord(
        chain=row.chain,
        number=row.number,
        hash=row.hash,
        parent_hash=row.parent_hash,
        timestamp=row.timestamp,
        miner=row.miner,
        base_fee_per_gas=None if fee is None else int(fee),
        gas_used=row.gas_used,
        transaction_count=row.transaction_count,
        log_count=row.log_count,
        event_count=row.event_count,
    )


def token_row(token: TokenRecord) -> dict[str, Any]:
    return {
        "chain": token.chain,
        "address": token.address,
        "symbol": token.symbol,
        "name": token.name,
        "decimals": token.decimals,
    }


def event_record(row: Row[Any]) -> Event:
    return Event(
        chain=row.chain,
        block_number=row.block_number,
        block_hash=row.block_hash,
        transaction_hash=row.transaction_hash,
        transaction_index=row.transaction_index,
        log_index=row.log_index,
        address=row.address,
        family=row.family,
        name=row.name,
        protocol=row.protocol,
        args=decode_args(row.args),
    )


def pool_record(row: Row[Any]) -> PoolRecord:
    return PoolRecord(
        chain=row.chain,
        address=row.address,
        family=row.family,
        token0=row.token0,
        token1=row.token1,
        protocol=row.protocol,
        fee=row.fee,
        factory=row.factory,
        created_block=row.created_block,
    )
