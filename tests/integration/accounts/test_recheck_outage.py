"""Issue 20: the periodic recheck of open WebSocket connections' keys outlives a database outage (SQLite
and PostgreSQL). It logs one line when the database goes and one when it is back, not one per round, and
once it answers again it closes the connections whose key was revoked meanwhile."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from onchain.accounts import service as accounts_service
from onchain.accounts.ratelimit import LocalConnectionLimiter
from onchain.accounts.service import AccountsService, Principal
from onchain.config import Settings
from onchain.storage.store import Store
from tests.integration.storage.outage import database_gone

DEADLINE = 15.0
ROUNDS_DURING_OUTAGE = 4
LOGGER = "onchain.accounts.service"


class CountingConnections(LocalConnectionLimiter):
    """The in-process limiter, counting the recheck rounds (each refreshes the held slots first)."""

    def __init__(self) -> None:
        super().__init__()
        self.rounds = 0

    async def refresh(self, held: dict[str, str]) -> None:
        self.rounds += 1


async def test_rechecks_go_on_through_a_database_outage_and_close_revoked_keys_after(
    store_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(accounts_service, "REFRESH_SECONDS", 0.02)
    caplog.set_level(logging.INFO, logger=LOGGER)
    store = await Store.open(store_url)
    connections = CountingConnections()
    accounts = AccountsService(Settings(data_dir=tmp_path / "settings"), store.engine, connections=connections)
    try:
        user = await accounts.create_user("vera", "pro")
        _, record = await accounts.create_key(user, "feed")
        principal = Principal(user.id, accounts.tiers["pro"], "api_key", "127.0.0.1", record.id)
        closed: list[str] = []
        assert await accounts.open_connection(principal, closed.append) is not None
        # Revoked in the database only, as `onchain keys revoke` does from another process without Redis.
        assert await accounts.store.revoke_key(record.id, accounts.clock()) is not None
        async with database_gone(store):
            await accounts.start()
            async with asyncio.timeout(DEADLINE):
                while connections.rounds < ROUNDS_DURING_OUTAGE:
                    await asyncio.sleep(0.01)
            assert closed == []
        async with asyncio.timeout(DEADLINE):
            while not closed:
                await asyncio.sleep(0.01)
        assert closed == ["API key revoked"]
    finally:
        await accounts.stop()
        await store.close()
    records = [r for r in caplog.records if r.name == LOGGER]
    assert all(r.exc_info is None for r in records), "a traceback was logged"
    lines = [r.getMessage() for r in records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("rechecking the API keys of open WebSocket connections failing: StorageError")
    assert lines[1].startswith("rechecking the API keys of open WebSocket connections works again")
