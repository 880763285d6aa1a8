"""Issue 20 item 13: the database goes away under a running server (SQLite and PostgreSQL).

Every request that needs it answers the same 503 `storage_unavailable` as `/v2/chains`, whether the
failure shows in a route, in a reader beside the store (block metric series) or in authentication (a key
looked up in the database), keeps the connection open, and is logged as one line without a traceback;
WebSocket connections are refused with a 503 too. When the database is back, everything answers again.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from onchain.api import create_app
from onchain.bus import MemoryBus
from onchain.config import Settings
from onchain.metrics.service import MarketService
from onchain.storage import Store
from tests.integration.api.conftest import LocalRuntime, serving
from tests.integration.storage.outage import database_gone

UNAVAILABLE = {"error": {"code": "storage_unavailable", "message": "the database is not answering; retry later"}}


async def test_every_request_answers_503_while_the_database_is_gone(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = LocalRuntime(store, MemoryBus())
    app = create_app(Settings(data_dir=tmp_path), runtime, market=MarketService(store, runtime.bus))
    user = await app.state.accounts.create_user("alice", "pro")
    key, _ = await app.state.accounts.create_key(user, "unused until the outage")  # not cached: looked up then
    async with serving(app) as address, httpx.AsyncClient(base_url=f"http://{address}", timeout=10) as api:
        caplog.set_level(logging.WARNING)
        caplog.clear()
        async with database_gone(store):
            assert (await api.get("/health")).status_code == 503
            for path, headers in [
                ("/v2/chains", {}),
                ("/v2/chains", {"X-API-Key": key}),
                ("/v2/protocols/uniswap-v2/metrics?interval=block", {}),
                ("/v2/chains", {"X-API-Key": key}),
            ]:
                answer = await api.get(path, headers=headers)
                assert (answer.status_code, answer.json()) == (503, UNAVAILABLE), (path, headers)
            with pytest.raises(InvalidStatus) as refused:
                async with connect(f"ws://{address}/v2/realtime", additional_headers={"X-API-Key": key}):
                    pass
            assert refused.value.response.status_code == 503
        failures = [r for r in caplog.records if r.name == "onchain.api.errors"]
        assert failures and all(r.exc_info is None and "\n" not in r.getMessage() for r in failures)
        assert all("storage error" in r.getMessage() for r in failures)

        assert (await api.get("/health")).status_code == 200
        answer = await api.get("/v2/chains", headers={"X-API-Key": key})
        assert answer.status_code == 200, answer.text
        assert (await api.get("/v2/protocols/uniswap-v2/metrics?interval=block")).status_code == 200
    await runtime.bus.close()
