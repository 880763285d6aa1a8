"""New SQLite databases get 16 KiB pages (cheaper bulk loads); existing files keep theirs and their data."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from onchain.storage import Store
from onchain.storage.records import TokenRecord


def _page_size(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute("PRAGMA page_size").fetchone()[0])


async def test_new_database_uses_16k_pages(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    store = await Store.open(f"sqlite+aiosqlite:///{path}")
    await store.close()
    assert _page_size(path) == 16384


async def test_existing_database_keeps_its_page_size_and_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA page_size=4096")
        connection.execute("CREATE TABLE keep (x INTEGER)")
    store = await Store.open(f"sqlite+aiosqlite:///{path}")
    try:
        await store.upsert_tokens([TokenRecord("ethereum", "0x" + "11" * 20, "TKN", 18)])
        assert [t.symbol for t in await store.tokens("ethereum")] == ["TKN"]
    finally:
        await store.close()
    assert _page_size(path) == 4096
