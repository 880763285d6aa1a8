"""MEV findings per stored block (onchain/analytics/mev/tables.py).

Revision ID: 0004_mev
Revises: 0003_accounts
Create Date: 2025-01-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_mev"
down_revision: str | None = "0003_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mev_findings",
        sa.Column("chain", sa.String(64), primary_key=True),
        sa.Column("block_number", sa.BigInteger, primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("transaction_hash", sa.String(66), nullable=False),
        sa.Column("searcher", sa.String(42), nullable=False),
        sa.Column("pool", sa.String(42)),
        sa.Column("protocol", sa.String(64)),
        sa.Column("profit_token", sa.String(42)),
        sa.Column("profit_amount", sa.String(79)),
        sa.Column("data", sa.Text, nullable=False),
        sa.ForeignKeyConstraint(
            ["chain", "block_number"],
            ["blocks.chain", "blocks.number"],
            ondelete="CASCADE",
            name="fk_mev_findings_block",
        ),
    )
    op.create_index("ix_mev_findings_kind", "mev_findings", ["chain", "kind", "block_number"])


def downgrade() -> None:
    op.drop_table("mev_findings")
