"""Account tables, owned by this feature, on the storage layer's MetaData; `onchain.schema` gathers
every feature's tables for the one Alembic history.

- `users`: who owns keys, alerts and preferences, with their tier. JWT subjects become users here the
  first time they create a key or save preferences.
- `api_keys`: only the keyed hash of each key (see `keys.py`), a short display prefix, an optional
  CIDR allowlist (JSON list) and revocation time. Revoked keys stay, so a list shows what was revoked.
- `user_preferences`: the seed's per-user preferences document (JSON).
- `audit_log`: security-relevant actions (key created/revoked, user erased): who, what, when, and ids
  only, never keys, names or preference contents.

Times are unix seconds as floats, as in the alert tables.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, String, Table, Text

from onchain.storage.tables import metadata

ID = 36

users = Table(
    "users",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("tier", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("user_id", String(ID), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("name", String(64), nullable=False),
    Column("allowed_cidrs", Text),
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float),
    Column("revoked_at", Float),
    Index("ix_api_keys_user", "user_id"),
)

user_preferences = Table(
    "user_preferences",
    metadata,
    Column("user_id", String(ID), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("data", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor", String(ID), nullable=False),
    Column("action", String(32), nullable=False),
    Column("subject", String(ID)),
    Column("detail", Text),
    Index("ix_audit_log_at", "at"),
)
