"""Alert tables, owned by this feature, on the storage layer's MetaData; `onchain.schema` gathers
every feature's tables for the one Alembic history.

- `user_alerts`: the seed's rules table, each rule whole as JSON in `rule` (the other columns index it);
- `alert_state`: per-rule secrets and the last firing time (so cooldowns survive restarts);
- `alert_firings`: each firing with the data that caused it, unique per (alert, input) for dedupe;
- `alert_deliveries`: the outbox, one row per firing and channel, worked until delivered or dead;
- `alert_delivery_attempts`: every attempt, as `GET /v2/alerts/{id}/deliveries` shows it.

Times the outbox compares are unix seconds as floats (portable across SQLite and PostgreSQL);
`fired_at` is chain time (the block timestamp).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)

from onchain.storage.tables import metadata

ID = 36

user_alerts = Table(
    "user_alerts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), nullable=False),
    Column("protocol_id", String(36), ForeignKey("protocols.id")),
    Column("condition_type", String(50), nullable=False),
    Column("threshold_value", Float),
    Column("is_active", Boolean, nullable=False, server_default="1"),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
    Column("rule", Text),  # the whole rule as JSON (design.md "Alerts"); the columns above index it
    Index("ix_user_alerts_user", "user_id"),
)

alert_state = Table(
    "alert_state",
    metadata,
    Column("alert_id", String(ID), ForeignKey("user_alerts.id", ondelete="CASCADE"), primary_key=True),
    Column("webhook_secret", String(80), nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("last_fired_at", BigInteger),
)

alert_firings = Table(
    "alert_firings",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("alert_id", String(ID), ForeignKey("user_alerts.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", String(ID), nullable=False),
    Column("dedupe_key", String(255), nullable=False),
    Column("condition", String(50), nullable=False),
    Column("chain", String(64)),
    Column("block_number", BigInteger),
    Column("fired_at", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("data", Text, nullable=False),
    UniqueConstraint("alert_id", "dedupe_key", name="uq_alert_firings_dedupe"),
    Index("ix_alert_firings_alert", "alert_id", "created_at"),
)

alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", String(ID), primary_key=True),  # the idempotency id sent as X-Onchain-Delivery
    Column("firing_id", String(ID), ForeignKey("alert_firings.id", ondelete="CASCADE"), nullable=False),
    Column("alert_id", String(ID), ForeignKey("user_alerts.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", String(ID), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("target", Text),
    Column("status", String(16), nullable=False),  # pending | delivered | dead
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Float, nullable=False),
    Column("locked_until", Float),
    Column("last_error", Text),
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float),
    Column("redelivery_of", String(ID)),
    Column("payload", Text, nullable=False),
    Index("ix_alert_deliveries_due", "status", "next_attempt_at"),
    Index("ix_alert_deliveries_alert", "alert_id", "created_at"),
)

alert_delivery_attempts = Table(
    "alert_delivery_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", String(ID), ForeignKey("alert_deliveries.id", ondelete="CASCADE"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Index("ix_alert_delivery_attempts_delivery", "delivery_id", "attempt"),
)
