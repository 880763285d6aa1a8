"""Alerts: per-rule state, firings, the delivery outbox and its attempts (onchain/alerts/tables.py).

Revision ID: 0002_alerts
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_alerts"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_state",
        sa.Column(
            "alert_id", sa.String(36), sa.ForeignKey("user_alerts.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("webhook_secret", sa.String(80), nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("last_fired_at", sa.BigInteger),
    )
    op.create_table(
        "alert_firings",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("alert_id", sa.String(36), sa.ForeignKey("user_alerts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("dedupe_key", sa.String(255), nullable=False),
        sa.Column("condition", sa.String(50), nullable=False),
        sa.Column("chain", sa.String(64)),
        sa.Column("block_number", sa.BigInteger),
        sa.Column("fired_at", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.UniqueConstraint("alert_id", "dedupe_key", name="uq_alert_firings_dedupe"),
    )
    op.create_index("ix_alert_firings_alert", "alert_firings", ["alert_id", "created_at"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "firing_id", sa.String(36), sa.ForeignKey("alert_firings.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("alert_id", sa.String(36), sa.ForeignKey("user_alerts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("locked_until", sa.Float),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("delivered_at", sa.Float),
        sa.Column("redelivery_of", sa.String(36)),
        sa.Column("payload", sa.Text, nullable=False),
    )
    op.create_index("ix_alert_deliveries_due", "alert_deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_alert_deliveries_alert", "alert_deliveries", ["alert_id", "created_at"])
    op.create_table(
        "alert_delivery_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "delivery_id",
            sa.String(36),
            sa.ForeignKey("alert_deliveries.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("error", sa.Text),
    )
    op.create_index(
        "ix_alert_delivery_attempts_delivery", "alert_delivery_attempts", ["delivery_id", "attempt"]
    )


def downgrade() -> None:
    op.drop_table("alert_delivery_attempts")
    op.drop_table("alert_deliveries")
    op.drop_table("alert_firings")
    op.drop_table("alert_state")
