"""Shared test fixtures: where the recorded chain data lives, and real servers when reachable."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from onchain.storage import Store
from tests.integration.storage.databases import fresh_postgres

ROOT = Path(__file__).resolve().parents[1]
CHAINDATA = Path(os.environ.get("ONCHAIN_CHAINDATA", ROOT.parent / "shared" / "chaindata"))
POSTGRES_URL = os.environ.get("ONCHAIN_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("ONCHAIN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _reachable(url: str) -> bool:
    parsed = urlparse(url.replace("+asyncpg", ""))
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 0), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def chaindata() -> Path:
    if not CHAINDATA.is_dir():
        pytest.skip(f"recorded chain data not found at {CHAINDATA}")
    return CHAINDATA


@pytest.fixture(scope="session")
def postgres_url() -> str:
    if not _reachable(POSTGRES_URL):
        pytest.skip("PostgreSQL not reachable")
    return POSTGRES_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not _reachable(REDIS_URL):
        pytest.skip("Redis not reachable")
    return REDIS_URL


@pytest.fixture
def unique_prefix() -> str:
    """A key or schema prefix of this test's own, so runs never collide on shared servers."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database of this test's own: a SQLite file, or a fresh PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'data' / 'onchain.db'}"
        return
    server = request.getfixturevalue("postgres_url")
    async with fresh_postgres(server) as url:
        yield url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(store_url)
    try:
        yield opened
    finally:
        await opened.close()
