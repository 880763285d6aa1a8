"""A real app on a real uvicorn (127.0.0.1, free port) over a real store, with helpers to make users.

`store_url` runs a test on SQLite and on PostgreSQL (a database of its own, dropped after).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from onchain.accounts.service import AccountsService
from onchain.api import create_app
from onchain.bus import MemoryBus
from onchain.config import Settings
from onchain.storage.records import TokenRecord
from onchain.storage.store import Store
from tests.integration.api.conftest import serving
from tests.integration.storage.databases import fresh_postgres

JWT_SECRET = "accounts-integration-secret-0123456789abcdef"
WETH = "ethereum:0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
# Small limits so every tier's limit is reached in a handful of requests.
SMALL_TIERS: dict[str, dict[str, Any]] = {
    "free": {"requests_per_minute": 4, "websocket_connections": 1},
    "basic": {"requests_per_minute": 6, "websocket_connections": 2},
    "pro": {"requests_per_minute": 8, "websocket_connections": 3},
    "enterprise": {"requests_per_minute": 10, "websocket_connections": 4},
}


@dataclass
class LocalRuntime:
    store: Store
    bus: MemoryBus


@dataclass
class Api:
    """A served app: its base URL, its accounts service, and the runtime under it."""

    url: str
    accounts: AccountsService
    runtime: LocalRuntime

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/v2/realtime"

    def client(self, headers: Mapping[str, str] | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers=dict(headers or {}), timeout=10)

    async def user_key(self, name: str, tier: str, cidrs: tuple[str, ...] = ()) -> tuple[str, str]:
        """A new user of `tier` and a key of theirs: (user id, key)."""
        user = await self.accounts.create_user(name, tier)
        key, _ = await self.accounts.create_key(user, "test", cidrs)
        return user.id, key


def bearer(
    subject: str, *, audience: str = "onchain-services", expires_in: int = 3600, **claims: Any
) -> dict[str, str]:
    """An Authorization header with an HS256 token for `subject` (claims override or add)."""
    payload = {"sub": subject, "aud": audience, "exp": int(time.time()) + expires_in, **claims}
    return {"Authorization": "Bearer " + jwt.encode(payload, JWT_SECRET, algorithm="HS256")}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'accounts.db'}"
        return
    async with fresh_postgres(request.getfixturevalue("postgres_url")) as url:
        yield url


ApiFactory = Callable[..., AbstractAsyncContextManager[Api]]


@pytest.fixture
def api_server(tmp_path: Path) -> ApiFactory:
    """`async with api_server(url=..., **settings) as api:` serves a fresh app over that database."""

    @asynccontextmanager
    async def serve(url: str | None = None, **overrides: Any) -> AsyncIterator[Api]:
        store = await Store.open(url or f"sqlite+aiosqlite:///{tmp_path / 'accounts.db'}")
        await store.upsert_tokens([TokenRecord("ethereum", WETH.split(":")[1], "WETH", 18)])
        runtime = LocalRuntime(store, MemoryBus())
        settings = Settings(**({"data_dir": tmp_path, "jwt_secret": JWT_SECRET} | overrides))
        app = create_app(settings, runtime)
        try:
            async with serving(app) as address:
                yield Api(f"http://{address}", app.state.accounts, runtime)
        finally:
            await runtime.bus.close()
            await store.close()

    return serve
