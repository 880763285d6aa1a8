"""Serialising check-then-write transactions (quotas) on SQLite and PostgreSQL.

A quota check counts rows and then inserts one; two such transactions running side by side both see
room for one more and both insert. `lock_owner` makes transactions on the same (scope, owner) take
turns, so each one counts what the previous one committed.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


def _advisory_key(scope: str, owner: str) -> int:
    """A signed 64-bit key for PostgreSQL's advisory locks, stable across processes."""
    digest = hashlib.blake2b(f"{scope}\x00{owner}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_owner(connection: AsyncConnection, scope: str, owner: str) -> None:
    """Hold, until this transaction ends, a lock that other transactions on (scope, owner) wait for.

    Must be the transaction's first statement. PostgreSQL: a transaction-scoped advisory lock, so
    other owners are not held up, and every later statement (read committed) sees the previous holder's
    rows. SQLite has one writer at a time: the transaction takes the write lock now (waiting up to the
    busy timeout), before the reads that decide its writes, instead of at its first write.
    """
    if connection.dialect.name == "postgresql":
        await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _advisory_key(scope, owner)})
    else:
        await connection.exec_driver_sql("BEGIN IMMEDIATE")
