"""Test helper: take a running store's database away and bring it back, on SQLite or PostgreSQL.

SQLite: the database's directory is renamed away and the pool's connections are dropped, so every new
connection fails ("unable to open database file"); renamed back, it opens again. PostgreSQL: the
database stops accepting connections and its open ones are terminated (`pg_terminate_backend`), as when
it is dropped or its server goes; allowed again, it answers again. The shared server is never stopped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from onchain.storage import Store


@asynccontextmanager
async def database_gone(store: Store) -> AsyncIterator[None]:
    """Inside, `store`'s database cannot be reached; after, it can again."""
    url = store.engine.url
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        directory = Path(url.database).parent
        away = directory.with_name(directory.name + "-away")
        directory.rename(away)
        await store.engine.dispose()
        try:
            yield
        finally:
            away.rename(directory)
        return
    name = url.database
    admin_dsn = make_url(url.render_as_string(hide_password=False)).set(
        drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
        try:
            yield
        finally:
            await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    finally:
        await admin.close()
