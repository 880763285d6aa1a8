"""MEV findings table, owned by this feature, on the storage layer's MetaData; `onchain.schema` gathers
every feature's tables for the one Alembic history.

One row per finding (sandwich, arbitrage or liquidation) of one stored block. `data` is the finding
in the shape `onchain mev inspect` prints (JSON, integers exact); the other columns index it.
`profit_amount` is a decimal string: amounts are uint256-sized and a sandwich's may be negative.

Rows reference their block with ON DELETE CASCADE: whatever removes a block (a reorg rollback, or a
re-ingest rewriting it) removes its findings in the same transaction, so none outlive their block.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKeyConstraint, Index, Integer, String, Table, Text

from onchain.storage.tables import ADDRESS, HASH, NAME, UINT256, metadata

mev_findings = Table(
    "mev_findings",
    metadata,
    Column("chain", String(NAME), primary_key=True),
    Column("block_number", BigInteger, primary_key=True),
    Column("kind", String(16), primary_key=True),  # sandwich | arbitrage | liquidation
    Column("position", Integer, primary_key=True),  # order among the block's findings of this kind
    Column("transaction_hash", String(HASH), nullable=False),  # the arbitrage's, liquidation's or front-run's
    Column("searcher", String(ADDRESS), nullable=False),  # searcher, or liquidator
    Column("pool", String(ADDRESS)),
    Column("protocol", String(NAME)),
    Column("profit_token", String(ADDRESS)),
    Column("profit_amount", String(UINT256 + 1)),
    Column("data", Text, nullable=False),
    ForeignKeyConstraint(
        ["chain", "block_number"],
        ["blocks.chain", "blocks.number"],
        ondelete="CASCADE",
        name="fk_mev_findings_block",
    ),
    Index("ix_mev_findings_kind", "chain", "kind", "block_number"),
)
