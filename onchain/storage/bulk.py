"""Bulk insert paths per backend, used inside the store's write transaction.

SQLite: one `executemany` of positional tuples straight to the driver (no per-row SQLAlchemy work).
PostgreSQL (asyncpg): `COPY ... FROM STDIN` in binary through the same connection and transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection


async def insert_rows(
    connection: AsyncConnection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert positional `rows` (values in `columns` order) into `table`, fastest way the backend offers."""
    if not rows:
        return
    dialect = connection.dialect.name
    if dialect == "sqlite":
        placeholders = ", ".join("?" for _ in columns)
        sql = f'INSERT INTO "{table.name}" ({", ".join(columns)}) VALUES ({placeholders})'
        await connection.exec_driver_sql(sql, list(rows))
        return
    if dialect == "postgresql" and connection.dialect.driver == "asyncpg":
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        if driver is None:
            raise RuntimeError("asyncpg connection is closed")
        if not driver.is_in_transaction():
            # COPY must run inside the caller's transaction; the adapter opens it lazily on first statement.
            await connection.execute(text("SELECT 1"))
        await driver.copy_records_to_table(table.name, records=rows, columns=list(columns))
        return
    await connection.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in rows])


async def upsert_ignore(
    connection: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> None:
    """Insert `rows`, leaving any row whose `keys` already exist untouched."""
    if not rows:
        return
    dialect = connection.dialect.name
    if dialect == "sqlite":
        await connection.execute(sqlite_insert(table).on_conflict_do_nothing(index_elements=list(keys)), list(rows))
    elif dialect == "postgresql":
        await connection.execute(pg_insert(table).on_conflict_do_nothing(index_elements=list(keys)), list(rows))
    else:
        raise NotImplementedError(f"no upsert for dialect {dialect}")
