"""Tenant isolation and erase on a running server, over SQLite and PostgreSQL.

User A must get 404 (never 403) for B's alert ids on every verb, and for B's key ids; erasing B
removes B's keys, alerts, firings, deliveries and preferences, closes B's WebSockets, leaves A
untouched, and writes one audit line that holds no data of B's.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from sqlalchemy import func, select
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from onchain.accounts.tables import api_keys, audit_log, user_preferences, users
from onchain.alerts.records import Firing
from onchain.alerts.store import AlertStore
from onchain.alerts.tables import alert_deliveries, alert_firings, alert_state, user_alerts
from tests.integration.accounts.conftest import WETH, Api, ApiFactory

RULE = {
    "name": "weth under 1800",
    "subject": {"type": "coin", "id": WETH},
    "condition": "price_below",
    "threshold": 1800,
    "channels": [{"type": "websocket"}],
}


async def _alert_with_delivery(api: Api, key: str) -> str:
    async with api.client({"X-API-Key": key}) as client:
        created = await client.post("/v2/alerts", json=RULE)
        assert created.status_code == 201, created.text
    alert_id: str = created.json()["id"]
    alerts = AlertStore(api.runtime.store.engine)
    record = await alerts.get_alert(alert_id)
    assert record is not None
    firing = Firing(alert_id, "price_below", 1683030011, 17173050, "ethereum", "k", {"value": 1790.0})
    assert await alerts.record_firings([(record, firing)], time.time())
    return alert_id


async def _rows_of(api: Api, user_id: str) -> dict[str, int]:
    tables: list[tuple[str, Any]] = [
        ("users", users.c.id),
        ("api_keys", api_keys.c.user_id),
        ("user_preferences", user_preferences.c.user_id),
        ("user_alerts", user_alerts.c.user_id),
        ("alert_firings", alert_firings.c.user_id),
        ("alert_deliveries", alert_deliveries.c.user_id),
    ]
    async with api.runtime.store.engine.connect() as connection:
        return {
            name: (await connection.execute(select(func.count()).where(column == user_id))).scalar_one()
            for name, column in tables
        }


@pytest.mark.timeout(120)
async def test_a_never_reaches_b_and_erase_removes_only_b(api_server: ApiFactory, store_url: str) -> None:
    async with api_server(url=store_url) as api:
        a_id, a_key = await api.user_key("alice", "enterprise")
        b_id, b_key = await api.user_key("bob", "enterprise")
        a_alert = await _alert_with_delivery(api, a_key)
        b_alert = await _alert_with_delivery(api, b_key)
        b_key_id = (await api.accounts.store.keys(b_id))[0].id
        deliveries = await AlertStore(api.runtime.store.engine).deliveries(b_alert, b_id)
        delivery_id = deliveries[0]["id"]

        async with api.client({"X-API-Key": a_key}) as alice, api.client({"X-API-Key": b_key}) as bob:
            # Every verb on B's alert, as A: 404, exactly as for an id that does not exist.
            attempts = [
                await alice.get(f"/v2/alerts/{b_alert}"),
                await alice.put(f"/v2/alerts/{b_alert}", json=RULE),
                await alice.get(f"/v2/alerts/{b_alert}/deliveries"),
                await alice.post(f"/v2/alerts/{b_alert}/deliveries/{delivery_id}/redeliver"),
                await alice.delete(f"/v2/alerts/{b_alert}"),
                await alice.delete(f"/v2/users/me/keys/{b_key_id}"),
            ]
            assert [r.status_code for r in attempts] == [404] * len(attempts), [r.text for r in attempts]
            assert [a["id"] for a in (await alice.get("/v2/alerts")).json()["alerts"]] == [a_alert]
            assert b_key_id not in {k["id"] for k in (await alice.get("/v2/users/me/keys")).json()["keys"]}
            # ... and B still has all of it.
            assert (await bob.get(f"/v2/alerts/{b_alert}")).status_code == 200
            assert len((await bob.get(f"/v2/alerts/{b_alert}/deliveries")).json()["deliveries"]) == 1
            saved = await bob.put("/v2/users/me/preferences", json={"preferences": {"theme": "dark"}})
            assert saved.status_code == 200
            assert (await alice.get("/v2/users/me/preferences")).json() == {"preferences": {}}

            # B erases itself while holding an open WebSocket.
            async with connect(api.ws_url, additional_headers={"X-API-Key": b_key}, open_timeout=10) as ws:
                await ws.send('{"type": "ping"}')
                assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "pong"}
                erased = await bob.delete("/v2/users/me")
                assert erased.status_code == 200, erased.text
                assert erased.json() == {"erased": True, "keys": 1, "alerts": 1, "preferences": 1}
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        await asyncio.wait_for(ws.recv(), 10)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008

            gone = await bob.get("/v2/users/me")
            assert gone.status_code == 401 and gone.json()["error"]["code"] == "invalid_api_key"
            assert (await alice.get(f"/v2/alerts/{a_alert}")).status_code == 200

        assert await _rows_of(api, b_id) == dict.fromkeys(
            ["users", "api_keys", "user_preferences", "user_alerts", "alert_firings", "alert_deliveries"], 0
        )
        async with api.runtime.store.engine.connect() as connection:
            states = (await connection.execute(select(func.count()).select_from(alert_state))).scalar_one()
        assert states == 1  # A's alert only
        a_rows = await _rows_of(api, a_id)
        assert a_rows["api_keys"] == 1 and a_rows["user_alerts"] == 1 and a_rows["alert_deliveries"] == 1

        entries = await api.accounts.store.audit_entries(b_id)
        erase = [e for e in entries if e["action"] == "user.erased"]
        assert len(erase) == 1
        assert erase[0]["detail"] == {"keys": 1, "alerts": 1, "preferences": 1, "user": 1}
        async with api.runtime.store.engine.connect() as connection:
            logged = json.dumps([list(row) for row in (await connection.execute(select(audit_log))).all()])
        assert "bob" not in logged and b_key not in logged and "dark" not in logged


async def test_key_routes_list_create_revoke_own_keys(api_server: ApiFactory, store_url: str) -> None:
    async with api_server(url=store_url) as api:
        _, key = await api.user_key("carol", "basic")
        async with api.client({"X-API-Key": key}) as carol:
            created = await carol.post("/v2/users/me/keys", json={"name": "ci"})
            assert created.status_code == 201, created.text
            new_key = created.json()["key"]
            assert new_key.startswith("onk_") and created.json()["prefix"] == new_key[:12]
            listed = (await carol.get("/v2/users/me/keys")).json()["keys"]
            assert sorted(k["name"] for k in listed) == ["ci", "test"]
            assert all("key" not in k for k in listed)
            refused = await carol.post("/v2/users/me/keys", json={"allowedCidrs": ["10.0.0.0/8"]})
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "tier_limit"
            async with api.client({"X-API-Key": new_key}) as ci:
                assert (await ci.get("/v2/users/me")).json()["limits"]["tier"] == "basic"
            assert (await carol.delete(f"/v2/users/me/keys/{created.json()['id']}")).status_code == 204
            async with api.client({"X-API-Key": new_key}) as ci:
                revoked = await ci.get("/v2/users/me")
            assert revoked.status_code == 401
            assert (await carol.get("/v2/users/me")).status_code == 200
        async with api.client() as anonymous:
            for method, path in [("GET", "/v2/users/me"), ("GET", "/v2/users/me/keys"), ("DELETE", "/v2/users/me"),
                                 ("GET", "/v2/alerts"), ("POST", "/v2/users/me/keys")]:
                response = await anonymous.request(method, path)
                assert response.status_code == 401, (method, path)
                assert response.json()["error"]["code"] == "unauthorized"
                assert "www-authenticate" in response.headers
