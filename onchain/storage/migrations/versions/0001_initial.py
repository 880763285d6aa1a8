"""Initial schema: the seed's tables plus chain data (chains, cursors, blocks, transactions, tokens, pools,
events).

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "protocols",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("slug", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("chain_id", sa.Integer, nullable=False),
        sa.Column("category", sa.String(100)),
        sa.Column("tvl", sa.Float),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )
    op.create_table(
        "protocol_metrics",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("protocol_id", sa.String(36), sa.ForeignKey("protocols.id"), nullable=False),
        sa.Column("metric_type", sa.String(50), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("chain_id", sa.Integer, nullable=False),
        sa.Column("chain", sa.String(64)),
        sa.Column("block_number", sa.BigInteger),
    )
    op.create_index("ix_protocol_metrics_series", "protocol_metrics", ["protocol_id", "metric_type", "timestamp"])
    op.create_index("ix_protocol_metrics_block", "protocol_metrics", ["chain", "block_number"])
    op.create_table(
        "user_alerts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("protocol_id", sa.String(36), sa.ForeignKey("protocols.id")),
        sa.Column("condition_type", sa.String(50), nullable=False),
        sa.Column("threshold_value", sa.Float),
        sa.Column("is_active", sa.Boolean, nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("rule", sa.Text),
    )
    op.create_index("ix_user_alerts_user", "user_alerts", ["user_id"])
    op.create_table(
        "chains",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("chain_id", sa.Integer),
    )
    op.create_table(
        "cursors",
        sa.Column("chain", sa.String(64), primary_key=True),
        sa.Column("block_number", sa.BigInteger, nullable=False),
        sa.Column("block_hash", sa.String(66), nullable=False),
    )
    op.create_table(
        "blocks",
        sa.Column("chain", sa.String(64), primary_key=True),
        sa.Column("number", sa.BigInteger, primary_key=True),
        sa.Column("hash", sa.String(66), nullable=False),
        sa.Column("parent_hash", sa.String(66), nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("miner", sa.String(42), nullable=False),
        sa.Column("base_fee_per_gas", sa.String(78)),
        sa.Column("gas_used", sa.BigInteger, nullable=False),
        sa.Column("transaction_count", sa.Integer, nullable=False),
        sa.Column("log_count", sa.Integer, nullable=False),
        sa.Column("event_count", sa.Integer, nullable=False),
    )
    op.create_table(
        "transactions",
        sa.Column("chain", sa.String(64), primary_key=True),
        sa.Column("block_number", sa.BigInteger, primary_key=True),
        sa.Column("transaction_index", sa.Integer, primary_key=True),
        sa.Column("hash", sa.String(66), nullable=False),
        sa.Column("from_address", sa.String(42), nullable=False),
        sa.Column("to_address", sa.String(42)),
        sa.Column("value", sa.String(78), nullable=False),
        sa.Column("gas_price", sa.String(78)),
        sa.Column("gas_used", sa.BigInteger),
        sa.Column("status", sa.SmallInteger),
    )
    op.create_index("ix_transactions_hash", "transactions", ["chain", "hash"])
    op.create_table(
        "tokens",
        sa.Column("chain", sa.String(64), primary_key=True),
        sa.Column("address", sa.String(42), primary_key=True),
        sa.Column("symbol", sa.String(64)),
        sa.Column("name", sa.String(255)),
        sa.Column("decimals", sa.Integer),
    )
    op.create_table(
        "pools",
        sa.Column("chain", sa.String(64), primary_key=True),
        sa.Column("address", sa.String(42), primary_key=True),
        sa.Column("protocol", sa.String(64)),
        sa.Column("family", sa.String(32), nullable=False),
        sa.Column("token0", sa.String(42), nullable=False),
        sa.Column("token1", sa.String(42), nullable=False),
        sa.Column("fee", sa.Integer),
        sa.Column("factory", sa.String(42)),
        sa.Column("created_block", sa.BigInteger),
    )
    op.create_index("ix_pools_protocol", "pools", ["chain", "protocol"])
    op.create_table(
        "events",
        sa.Column("chain", sa.String(64), primary_key=True),
        sa.Column("block_number", sa.BigInteger, primary_key=True),
        sa.Column("log_index", sa.Integer, primary_key=True),
        sa.Column("block_hash", sa.String(66), nullable=False),
        sa.Column("transaction_hash", sa.String(66), nullable=False),
        sa.Column("transaction_index", sa.Integer, nullable=False),
        sa.Column("address", sa.String(42), nullable=False),
        sa.Column("family", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("protocol", sa.String(64)),
        sa.Column("args", sa.Text, nullable=False),
    )
    op.create_index("ix_events_kind", "events", ["chain", "family", "name", "block_number"])
    op.create_index("ix_events_address", "events", ["chain", "address", "block_number"])


def downgrade() -> None:
    for table in (
        "events",
        "pools",
        "tokens",
        "transactions",
        "blocks",
        "cursors",
        "chains",
        "user_alerts",
        "protocol_metrics",
        "protocols",
    ):
        op.drop_table(table)
