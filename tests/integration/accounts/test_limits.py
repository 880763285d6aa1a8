"""Each tier's limits on a running server: REST requests per minute (429 with Retry-After and
X-RateLimit-*), concurrent WebSocket connections (refused with 429 before the upgrade), and what
`/v2/usage` reports. Tiers are configured small so each limit is reached in a few requests."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from onchain.accounts.tiers import TIER_NAMES
from tests.integration.accounts.conftest import SMALL_TIERS, ApiFactory


async def test_each_tier_gets_its_request_limit_then_429(api_server: ApiFactory) -> None:
    async with api_server(tiers=SMALL_TIERS) as api:
        callers = {"anonymous": {}} | {
            tier: {"X-API-Key": (await api.user_key(f"user-{tier}", tier))[1]} for tier in TIER_NAMES
        }
        for who, headers in callers.items():
            limit = SMALL_TIERS["free" if who == "anonymous" else who]["requests_per_minute"]
            async with api.client(headers) as client:
                for i in range(limit):
                    response = await client.get("/v2/chains")
                    assert response.status_code == 200, (who, i, response.text)
                    assert response.headers["x-ratelimit-limit"] == str(limit)
                    assert int(response.headers["x-ratelimit-remaining"]) == limit - i - 1
                refused = await client.get("/v2/chains")
                assert refused.status_code == 429, who
                assert refused.json()["error"]["code"] == "rate_limited"
                assert int(refused.headers["retry-after"]) >= 1
                assert refused.headers["x-ratelimit-remaining"] == "0"
                assert int(refused.headers["x-ratelimit-reset"]) >= 1
        # Monitoring is never limited.
        async with api.client() as client:
            statuses = [(await client.get("/health")).status_code for _ in range(10)]
        assert 429 not in statuses


async def test_usage_reports_what_is_left(api_server: ApiFactory) -> None:
    async with api_server(tiers=SMALL_TIERS) as api:
        _, key = await api.user_key("ursula", "pro")
        async with api.client({"X-API-Key": key}) as client:
            await client.get("/v2/chains")
            usage = (await client.get("/v2/usage")).json()
        assert usage["authenticated"] is True
        assert usage["limits"]["tier"] == "pro"
        assert usage["limits"]["features"] == ["alerts", "analytics", "realtime"]
        assert usage["requests"] == {"limit": 8, "remaining": 6, "resetSeconds": usage["requests"]["resetSeconds"]}
        assert usage["websocketConnections"] == {"limit": 3, "used": 0}
        assert usage["alerts"] == {"limit": 200, "used": 0}
        async with api.client() as anonymous:
            mine = (await anonymous.get("/v2/usage")).json()
        assert mine["authenticated"] is False and mine["limits"]["tier"] == "free" and mine["alerts"] is None


async def _open(url: str, headers: dict[str, str]) -> ClientConnection:
    return await connect(url, additional_headers=headers, open_timeout=10)


@pytest.mark.parametrize("tier", TIER_NAMES)
async def test_each_tier_gets_its_websocket_connection_limit(api_server: ApiFactory, tier: str) -> None:
    async with api_server(tiers=SMALL_TIERS) as api:
        user_id, key = await api.user_key(f"ws-{tier}", tier)
        limit = SMALL_TIERS[tier]["websocket_connections"]
        async with AsyncExitStack() as stack:
            held = [await stack.enter_async_context(await _open(api.ws_url, {"X-API-Key": key})) for _ in range(limit)]
            for ws in held:
                await ws.send('{"type": "ping"}')
                assert await asyncio.wait_for(ws.recv(), 10) == '{"type":"pong"}'
            with pytest.raises(InvalidStatus) as refused:
                await _open(api.ws_url, {"X-API-Key": key})
            assert refused.value.response.status_code == 429
            assert b"too_many_connections" in refused.value.response.body
            # ?api_key= on the URL counts against the same user.
            with pytest.raises(InvalidStatus):
                await connect(f"{api.ws_url}?api_key={key}", open_timeout=10)
            await held[0].close()
            for _ in range(200):  # the server releases the slot once it sees the close
                if await api.accounts.connections.count(f"user:{user_id}") < limit:
                    break
                await asyncio.sleep(0.02)
            again = await _open(f"{api.ws_url}?api_key={key}", {})
            await again.close()
