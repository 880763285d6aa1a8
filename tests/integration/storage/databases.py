"""Test helper: a fresh PostgreSQL database per test (created and dropped on the server under test),
and a dump of every table to compare database states."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import select
from sqlalchemy.engine import make_url

from onchain.schema import metadata
from onchain.storage import Store


@asynccontextmanager
async def fresh_postgres(server_url: str) -> AsyncIterator[str]:
    """`server_url` names any database on the server; yields the URL of a new empty one, dropped after."""
    url = make_url(server_url)
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin_dsn = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, ordered by primary key: equal dumps mean equal databases."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with store.engine.connect() as connection:
        for table in metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            rows = (await connection.execute(select(table).order_by(*order))).all()
            out[table.name] = [tuple(row) for row in rows]
    return out
