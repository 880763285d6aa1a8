"""Storage edge: SQLAlchemy Core tables, Alembic migrations, and the `Store` over SQLite or PostgreSQL."""

from onchain.storage.records import BlockRecord, BlockWrite, Cursor, PoolRecord, TokenRecord
from onchain.storage.store import Store

__all__ = ["BlockRecord", "BlockWrite", "Cursor", "PoolRecord", "Store", "TokenRecord"]
