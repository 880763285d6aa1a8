"""SQLAlchemy Core tables: one schema for SQLite and PostgreSQL.

Portable types only. UUIDs are 36-character strings. Integers that may exceed 64 bits (wei values,
uint256 amounts) are never stored in integer columns: transaction values are decimal strings and event
arguments are JSON text whose integers keep every digit (see `onchain.codec`).
USD figures (the seed's DECIMAL columns) are floats: they are estimates, not balances.

Features keep their own tables on this `metadata` (accounts, alerts, MEV findings); `onchain.schema`
gathers them all, and the Alembic migrations under `migrations/versions` create exactly that schema (a
test compares them). Storage itself imports no feature.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    func,
)

metadata = MetaData()

HASH = 66
ADDRESS = 42
UINT256 = 78  # decimal digits of 2**256 - 1
NAME = 64

# The seed's tables (architecture.md "Database schema"), adapted to run on SQLite too.
protocols = Table(
    "protocols",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("slug", String(NAME), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    Column("chain_id", Integer, nullable=False),
    Column("category", String(100)),
    Column("tvl", Float),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), server_default=func.now()),
)

protocol_metrics = Table(
    "protocol_metrics",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("protocol_id", String(36), ForeignKey("protocols.id"), nullable=False),
    Column("metric_type", String(50), nullable=False),
    Column("value", Float, nullable=False),
    Column("timestamp", DateTime(timezone=True), nullable=False),
    Column("chain_id", Integer, nullable=False),
    # Which chain and block a value was derived from, so a reorg can roll it back.
    Column("chain", String(NAME)),
    Column("block_number", BigInteger),
    Index("ix_protocol_metrics_series", "protocol_id", "metric_type", "timestamp"),
    Index("ix_protocol_metrics_block", "chain", "block_number"),
)

# Chain data, written by the ingest pipeline. Every row derived from a block carries its number so a
# range can be deleted and rewritten (idempotent re-ingest) or rolled back after a reorg.
chains = Table(
    "chains",
    metadata,
    Column("name", String(NAME), primary_key=True),
    Column("chain_id", Integer),
)

cursors = Table(
    "cursors",
    metadata,
    Column("chain", String(NAME), primary_key=True),
    Column("block_number", BigInteger, nullable=False),
    Column("block_hash", String(HASH), nullable=False),
)

blocks = Table(
    "blocks",
    metadata,
    Column("chain", String(NAME), primary_key=True),
    Column("number", BigInteger, primary_key=True),
    Column("hash", String(HASH), nullable=False),
    Column("parent_hash", String(HASH), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("miner", String(ADDRESS), nullable=False),
    Column("base_fee_per_gas", String(UINT256)),
    Column("gas_used", BigInteger, nullable=False),
    Column("transaction_count", Integer, nullable=False),
    Column("log_count", Integer, nullable=False),
    Column("event_count", Integer, nullable=False),
)

transactions = Table(
    "transactions",
    metadata,
    Column("chain", String(NAME), primary_key=True),
    Column("block_number", BigInteger, primary_key=True),
    Column("transaction_index", Integer, primary_key=True),
    Column("hash", String(HASH), nullable=False),
    Column("from_address", String(ADDRESS), nullable=False),
    Column("to_address", String(ADDRESS)),
    Column("value", String(UINT256), nullable=False),
    Column("gas_price", String(UINT256)),
    Column("gas_used", BigInteger),
    Column("status", SmallInteger),
    Index("ix_transactions_hash", "chain", "hash"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("chain", String(NAME), primary_key=True),
    Column("address", String(ADDRESS), primary_key=True),
    Column("symbol", String(NAME)),
    Column("name", String(255)),
    Column("decimals", Integer),
)

pools = Table(
    "pools",
    metadata,
    Column("chain", String(NAME), primary_key=True),
    Column("address", String(ADDRESS), primary_key=True),
    Column("protocol", String(NAME)),
    Column("family", String(32), nullable=False),
    Column("token0", String(ADDRESS), nullable=False),
    Column("token1", String(ADDRESS), nullable=False),
    Column("fee", Integer),
    Column("factory", String(ADDRESS)),
    # The block whose creation event revealed the pool; NULL for pools known from configuration or a list,
    # which no reorg can remove.
    Column("created_block", BigInteger),
    Index("ix_pools_protocol", "chain", "protocol"),
)

events = Table(
    "events",
    metadata,
    Column("chain", String(NAME), primary_key=True),
    Column("block_number", BigInteger, primary_key=True),
    Column("log_index", Integer, primary_key=True),
    Column("block_hash", String(HASH), nullable=False),
    Column("transaction_hash", String(HASH), nullable=False),
    Column("transaction_index", Integer, nullable=False),
    Column("address", String(ADDRESS), nullable=False),
    Column("family", String(32), nullable=False),
    Column("name", String(NAME), nullable=False),
    Column("protocol", String(NAME)),
    Column("args", Text, nullable=False),
    Index("ix_events_kind", "chain", "family", "name", "block_number"),
    Index("ix_events_address", "chain", "address", "block_number"),
)

# Per-block tables, each with the column naming its block, in deletion order. A rollback deletes the rows
# of both groups above the ancestor, by chain and that column. Tables of features built on blocks (MEV
# findings) reference `blocks` with ON DELETE CASCADE instead, so whatever deletes a block deletes them.
# Written with their blocks: rewriting a range (re-ingest) deletes and rewrites these too.
BY_BLOCK = (
    (events, events.c.block_number),
    (transactions, transactions.c.block_number),
    (blocks, blocks.c.number),
    (pools, pools.c.created_block),
)
# Computed later from stored blocks (metric points): a rewrite leaves them, a rollback removes them.
DERIVED_BY_BLOCK = ((protocol_metrics, protocol_metrics.c.block_number),)
