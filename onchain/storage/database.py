"""The one way every store reaches the database: engine creation, transactions, error mapping.

`engine_for` builds the async engine for a configured URL (SQLite pragmas included); `transaction` and
`reading` wrap a unit of work so any driver failure surfaces as StorageError, one kind of database
failure for the API (503) and the loops to handle. The chain store and every feature's store use them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from onchain.errors import ConfigError, StorageError
from onchain.storage.sqlite_loader import CONNECTION_PRAGMAS

# What a unit of work catches and reports as StorageError. OverflowError: a value the driver cannot
# bind (an integer beyond the column's 64 bits).
DATABASE_ERRORS = (
    SQLAlchemyError, asyncpg.PostgresError, asyncpg.InterfaceError, sqlite3.Error, OSError, OverflowError
)
# What a database driver raises when the database refuses or cannot answer (dropped, unreachable, its
# connections terminated, the file gone), wherever it escapes unwrapped: the same failure as StorageError.
DATABASE_FAILURES = (DBAPIError, asyncpg.PostgresError, asyncpg.InterfaceError, sqlite3.Error, ConnectionError)
# Page size of new SQLite files (measured on 170k event rows, insert + index build: 16 KiB best, 4 KiB worst).
_SQLITE_PAGE_SIZE = 16384


def _async_driver(url: URL) -> URL:
    """`sqlite:///x.db` and `postgres(ql)://...` name the async drivers we ship (aiosqlite, asyncpg)."""
    backend, _, driver = url.drivername.partition("+")
    if backend == "sqlite" and driver != "aiosqlite":
        return url.set(drivername="sqlite+aiosqlite")
    if backend in ("postgres", "postgresql") and driver != "asyncpg":
        return url.set(drivername="postgresql+asyncpg")
    return url


def _database_url(url: str) -> URL:
    """The configured URL naming our async driver; ConfigError for anything but SQLite or PostgreSQL.

    An unparsable URL is not echoed: it may hold a password in a place the parser did not recognise.
    """
    try:
        parsed = _async_driver(make_url(url))
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(
            "the database URL is not a URL (expected sqlite:///path/to/file.db or postgresql://user@host/name)"
        ) from exc
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"unsupported database {parsed.render_as_string()}: only sqlite:// and postgresql:// are supported"
        )
    return parsed


def reason(exc: BaseException) -> str:
    """What the driver said, on one line (SQLAlchemy wraps it with its class name and a link to its docs)."""
    original = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(original).strip().splitlines()
    return lines[0] if lines else type(original).__name__


def engine_for(url: str) -> AsyncEngine:
    """An async engine; for SQLite, creates the file's directory and sets WAL and busy-timeout pragmas."""
    parsed = _database_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(parsed, pool_pre_ping=True)
    database = parsed.database or ""
    in_memory = database in ("", ":memory:")
    if not in_memory:
        folder = Path(database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the database folder {folder}: {exc.strerror or exc}") from exc
    engine = create_async_engine(parsed, poolclass=StaticPool) if in_memory else create_async_engine(parsed)

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # Takes effect only while the file is still empty (a no-op on existing databases): 16 KiB pages make
        # bulk inserts and index builds cheaper than the 4 KiB default (fewer page splits and page writes).
        cursor.execute(f"PRAGMA page_size={_SQLITE_PAGE_SIZE}")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        for pragma in CONNECTION_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    return engine


@asynccontextmanager
async def transaction(
    engine: AsyncEngine, what: str, *, conflict: Callable[[IntegrityError], Exception] | None = None
) -> AsyncIterator[AsyncConnection]:
    """One transaction; any database failure rolls it back and surfaces as StorageError("<what> failed: ...").
    With `conflict`, a constraint violation becomes the exception it returns instead (a taken name)."""
    try:
        async with engine.begin() as connection:
            yield connection
    except IntegrityError as exc:
        if conflict is None:
            raise StorageError(f"{what} failed: {exc}") from exc
        raise conflict(exc) from exc
    except DATABASE_ERRORS as exc:
        raise StorageError(f"{what} failed: {exc}") from exc


@asynccontextmanager
async def reading(engine: AsyncEngine, what: str = "read") -> AsyncIterator[AsyncConnection]:
    """A connection for reads outside a transaction; failures surface as StorageError("<what> failed: ...")."""
    try:
        async with engine.connect() as connection:
            yield connection
    except DATABASE_ERRORS as exc:
        raise StorageError(f"{what} failed: {exc}") from exc
