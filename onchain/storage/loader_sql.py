"""A block batch's write as plain SQLite statements, for the loader process (`SqliteLoader`) of a bulk load."""

from __future__ import annotations

from collections.abc import Sequence

from onchain.storage.records import PreparedBlocks
from onchain.storage.rows import BLOCK_COLUMNS, EVENT_COLUMNS, TX_COLUMNS
from onchain.storage.sqlite_loader import Statement
from onchain.storage.tables import BY_BLOCK

CURSOR_QUERY = "SELECT block_number, block_hash FROM cursors WHERE chain = ?"
# The cursor moves forward only: rewriting older blocks (a replay of history) never moves it back.
ADVANCE_CURSOR_SQL = (
    "INSERT INTO cursors (chain, block_number, block_hash) VALUES (?, ?, ?) ON CONFLICT (chain) DO UPDATE SET "
    "block_number = excluded.block_number, block_hash = excluded.block_hash "
    "WHERE cursors.block_number <= excluded.block_number"
)


def insert_sql(table: str, columns: Sequence[str], *, ignore_existing: Sequence[str] = ()) -> str:
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    return f"{sql} ON CONFLICT ({', '.join(ignore_existing)}) DO NOTHING" if ignore_existing else sql


def replace_blocks_sql(prepared: PreparedBlocks) -> list[Statement]:
    """`commit_blocks`' transaction as SQLite statements for the loader process, minus the cursor."""
    chain, numbers = prepared.chain, prepared.numbers
    low, high = numbers[0], numbers[-1]
    statements: list[Statement] = []
    for table, column in BY_BLOCK:
        if high - low + 1 == len(numbers):
            sql = f"DELETE FROM {table.name} WHERE chain = ? AND {column.name} BETWEEN ? AND ?"
            statements.append((sql, [(chain, low, high)]))
        else:
            sql = f"DELETE FROM {table.name} WHERE chain = ? AND {column.name} = ?"
            statements.append((sql, [(chain, number) for number in numbers]))
    statements.append((insert_sql("chains", ("name", "chain_id"), ignore_existing=("name",)), [(chain, None)]))
    statements.append((insert_sql("blocks", BLOCK_COLUMNS), prepared.block_rows))
    statements.append((insert_sql("transactions", TX_COLUMNS), prepared.tx_rows))
    statements.append((insert_sql("events", EVENT_COLUMNS), prepared.event_rows))
    for name, rows in (("pools", prepared.pool_rows), ("tokens", prepared.token_rows)):
        if rows:
            columns = tuple(rows[0])
            sql = insert_sql(name, columns, ignore_existing=("chain", "address"))
            statements.append((sql, [tuple(row[c] for c in columns) for row in rows]))
    return statements
