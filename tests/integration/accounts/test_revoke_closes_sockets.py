"""Revoking a key closes the WebSocket connections it opened (1008), in this process at once and, for a
revocation this process did not hear of (`onchain keys revoke` without Redis), at the periodic recheck.
Connections opened with the user's other keys stay open. Across processes: test_shared_limits.py."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.integration.accounts.conftest import ApiFactory

TIERS = {"pro": {"websocket_connections": 4}}


async def _subscribed(url: str, key: str) -> ClientConnection:
    ws = await connect(url, additional_headers={"X-API-Key": key}, open_timeout=10)
    await ws.send('{"type": "subscribe", "channel": "alerts"}')
    assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "subscribed"
    return ws


async def _closed_code(ws: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    return closed.value.rcvd.code if closed.value.rcvd is not None else None


async def _still_open(ws: ClientConnection) -> None:
    await ws.send('{"type": "ping"}')
    assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "pong"}


async def test_revoked_key_loses_its_websockets_others_stay(api_server: ApiFactory, store_url: str) -> None:
    async with api_server(url=store_url, tiers=TIERS) as api:
        user_id, key = await api.user_key("rita", "pro")
        async with api.client({"X-API-Key": key}) as client:
            other = (await client.post("/v2/users/me/keys", json={"name": "other"})).json()
            key_id = next(record.id for record in await api.accounts.store.keys(user_id) if record.name == "test")
            revoked, kept = await _subscribed(api.ws_url, key), await _subscribed(api.ws_url, other["key"])
            async with revoked, kept:
                assert (await client.delete(f"/v2/users/me/keys/{key_id}")).status_code == 204
                assert await _closed_code(revoked) == 1008
                await _still_open(kept)


async def test_revocation_not_announced_here_closes_at_the_recheck(api_server: ApiFactory, store_url: str) -> None:
    async with api_server(url=store_url, tiers=TIERS) as api:
        user_id, key = await api.user_key("otto", "pro")
        key_id = (await api.accounts.store.keys(user_id))[0].id
        async with await _subscribed(api.ws_url, key) as ws:
            # As `onchain keys revoke` in another process without Redis: only the database changes.
            assert await api.accounts.store.revoke_key(key_id, api.accounts.clock()) is not None
            await _still_open(ws)
            assert await api.accounts.close_revoked_connections() == 1
            assert await _closed_code(ws) == 1008
