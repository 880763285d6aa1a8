"""What one user can make `/v2/alerts` do: bounded rules, range-checked numbers, quotas that hold under
concurrency and reactivation, listings that survive a bad stored row. A real app served by uvicorn on
loopback over SQLite and PostgreSQL (issue 20, items 1, 3, 4, 5 and 21)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from onchain.accounts.service import AccountsService
from onchain.alerts.records import Firing
from onchain.alerts.store import AlertRecord, AlertStore
from onchain.alerts.tables import alert_state, user_alerts
from onchain.api import create_app
from onchain.bus import MemoryBus
from onchain.config import Settings
from onchain.storage.store import Store
from tests.integration.api.conftest import serving


@dataclass
class LocalRuntime:
    store: Store
    bus: MemoryBus


@dataclass
class Served:
    url: str
    accounts: AccountsService
    store: Store

    async def client_of(self, name: str, tier: str = "free") -> tuple[str, httpx.AsyncClient]:
        """A new user of `tier` and a client sending one of their keys: (user id, client)."""
        user = await self.accounts.create_user(name, tier)
        key, _ = await self.accounts.create_key(user, "test")
        return user.id, httpx.AsyncClient(base_url=self.url, headers={"X-API-Key": key}, timeout=30)


@pytest.fixture
async def served(store_url: str, tmp_path: Path) -> AsyncIterator[Served]:
    store = await Store.open(store_url)
    runtime = LocalRuntime(store, MemoryBus())
    # Private webhooks allowed, so loopback URLs need no DNS; nothing is delivered in these tests.
    app = create_app(Settings(data_dir=tmp_path, webhook_allow_private=True), runtime)
    try:
        async with serving(app) as address:
            yield Served(f"http://{address}", app.state.accounts, store)
    finally:
        await runtime.bus.close()
        await store.close()


def transfer_rule(**overrides: Any) -> dict[str, Any]:
    """The issue's rule: every transfer on a chain, whatever its size."""
    body: dict[str, Any] = {
        "name": "every transfer",
        "subject": {"type": "chain", "id": "ethereum"},
        "condition": "large_transfer",
        "threshold": 0,
        "channels": [{"type": "websocket"}],
    }
    body.update(overrides)
    return body


def any_of(count: int) -> dict[str, Any]:
    conditions = [{"condition": "large_transfer", "threshold": i} for i in range(count)]
    return transfer_rule(condition=None, threshold=None, any=conditions)


def refused(response: httpx.Response, status: int, code: str, fragment: str) -> bool:
    error = response.json().get("error", {})
    return response.status_code == status and error.get("code") == code and fragment in error.get("message", "")


async def active_rows(store: Store, user_id: str) -> int:
    query = select(func.count()).where(user_alerts.c.user_id == user_id, user_alerts.c.is_active.is_(True))
    async with store.engine.connect() as connection:
        return int((await connection.execute(query)).scalar_one())


async def store_as_before(store: Store, user_id: str, alert_id: str, document: dict[str, Any]) -> None:
    """Write a rule row as earlier versions did, without today's checks."""
    async with store.engine.begin() as connection:
        row = {"id": alert_id, "user_id": user_id, "condition_type": "large_transfer", "threshold_value": 0.0}
        await connection.execute(user_alerts.insert().values(**row, is_active=True, rule=json.dumps(document)))
        state = alert_state.insert().values(alert_id=alert_id, webhook_secret="whsec_x", updated_at=0)
        await connection.execute(state)


async def test_one_rule_cannot_flood_the_outbox(served: Served) -> None:
    user_id, api = await served.client_of("flooder")
    async with api:
        websockets = await api.post("/v2/alerts", json=transfer_rule(channels=[{"type": "websocket"}] * 5000))
        assert websockets.status_code == 201, websockets.text
        assert websockets.json()["channels"] == [{"type": "websocket"}]

        hook = {"type": "webhook", "url": "http://127.0.0.1:9/hook"}
        one_hook = await api.post("/v2/alerts", json=transfer_rule(channels=[hook] * 5000))
        assert one_hook.status_code == 201, one_hook.text
        assert one_hook.json()["channels"] == [hook]

        hooks = [{"type": "webhook", "url": f"http://127.0.0.1:9/hook/{i}"} for i in range(5000)]
        many_hooks = await api.post("/v2/alerts", json=transfer_rule(channels=hooks))
        assert refused(many_hooks, 422, "invalid_rule", "at most 20 distinct channels, got 5000")
        over_tier = await api.post("/v2/alerts", json=transfer_rule(channels=hooks[:4]))
        assert refused(over_tier, 422, "rule_too_large", "the free tier allows 3 distinct channels per alert")

        assert refused(await api.post("/v2/alerts", json=any_of(10_000)), 422, "invalid_rule", "at most 50 conditions")
        assert refused(
            await api.post("/v2/alerts", json=any_of(6)), 422, "rule_too_large", "the free tier allows 5 conditions"
        )
        five = await api.post("/v2/alerts/backtest", json={"rule": any_of(6)})
        assert refused(five, 422, "rule_too_large", "5 conditions")

        replaced = await api.put(f"/v2/alerts/{one_hook.json()['id']}", json=transfer_rule(channels=hooks[:4]))
        assert refused(replaced, 422, "rule_too_large", "3 distinct channels")

    # A firing of the 5,000-websocket rule queues one delivery, not 5,000; so does a firing of such a
    # rule stored by an earlier version, whose channels merge when it is loaded.
    legacy_id = "1e6ac700-0000-4000-8000-000000000000"
    await store_as_before(served.store, user_id, legacy_id, transfer_rule(channels=[{"type": "websocket"}] * 5000))
    alerts = AlertStore(served.store.engine)
    for alert_id in (websockets.json()["id"], legacy_id):
        record = await alerts.get_alert(alert_id)
        assert isinstance(record, AlertRecord)
        firing = Firing(alert_id, "large_transfer", 1683030011, 17173050, "ethereum", "transfer:k", {"valueUsd": 1.0})
        assert len(await alerts.record_firings([(record, firing)], time.time())) == 1


async def test_numbers_out_of_range_are_422_and_nothing_is_stored(served: Served) -> None:
    user_id, api = await served.client_of("numbers", "pro")
    huge = 18446744073709551616
    change = {"condition": "tvl_change_pct", "threshold": -20, "subject": {"type": "chain", "id": "ethereum"}}
    async with api:
        for body, fragment in [
            (transfer_rule(cooldown=huge), "cooldown must be at most"),
            (transfer_rule(cooldown="99999999999999999999999d"), "cooldown must be at most"),
            (transfer_rule(**change, window=huge), "window must be at most"),
            (transfer_rule(threshold=huge), "threshold must be a finite number between"),
            (transfer_rule(threshold=-1e308), "threshold must be a finite number between"),
        ]:
            assert refused(await api.post("/v2/alerts", json=body), 422, "invalid_rule", fragment), body
        late = await api.post("/v2/alerts/backtest", json={"rule": transfer_rule(), "from": huge})
        assert late.status_code == 422, late.text
        listed = await api.get("/v2/alerts")
        assert listed.status_code == 200 and listed.json() == {"alerts": []}
    assert await active_rows(served.store, user_id) == 0


async def test_a_bad_stored_row_does_not_break_the_list(served: Served) -> None:
    user_id, api = await served.client_of("legacy", "pro")
    async with api:
        good = (await api.post("/v2/alerts", json=transfer_rule(name="good"))).json()
        # A row as earlier versions stored it: the cooldown past 64 bits, accepted before it was range-checked.
        bad_id = "0badbad0-0000-4000-8000-000000000000"
        document = {**transfer_rule(name="bad"), "cooldown": 18446744073709551616}
        await store_as_before(served.store, user_id, bad_id, document)

        listed = await api.get("/v2/alerts")
        assert listed.status_code == 200, listed.text
        by_id = {item["id"]: item for item in listed.json()["alerts"]}
        assert by_id[good["id"]]["name"] == "good"
        assert by_id[bad_id]["error"]["code"] == "unreadable_rule" and "cooldown" in by_id[bad_id]["error"]["message"]
        alone = await api.get(f"/v2/alerts/{bad_id}")
        assert alone.status_code == 200 and alone.json()["error"]["code"] == "unreadable_rule"

        # The engine loads only what it can evaluate.
        assert [alert.id for alert in await AlertStore(served.store.engine).active_alerts()] == [good["id"]]

        fixed = await api.put(f"/v2/alerts/{bad_id}", json=transfer_rule(name="fixed", cooldown="1h"))
        assert fixed.status_code == 200 and fixed.json()["cooldown"] == 3600
        assert (await api.delete(f"/v2/alerts/{bad_id}")).status_code == 204
        assert [item["id"] for item in (await api.get("/v2/alerts")).json()["alerts"]] == [good["id"]]


async def test_concurrent_creations_stay_within_the_quota(served: Served) -> None:
    user_id, api = await served.client_of("racer")
    async with api:
        responses = await asyncio.gather(*(api.post("/v2/alerts", json=transfer_rule(name=f"r{i}")) for i in range(20)))
        statuses = sorted(response.status_code for response in responses)
        assert statuses == [201] * 3 + [403] * 17, statuses
        over = [response for response in responses if response.status_code != 201]
        assert all(refused(response, 403, "tier_limit", "the free tier allows 3 active alerts") for response in over)
        assert (await api.get("/v2/usage")).json()["alerts"] == {"limit": 3, "used": 3}
    assert await active_rows(served.store, user_id) == 3


async def test_reactivation_counts_against_the_quota(served: Served) -> None:
    user_id, api = await served.client_of("cycler")
    async with api:
        ids = [(await api.post("/v2/alerts", json=transfer_rule(name=f"a{i}"))).json()["id"] for i in range(3)]
        paused = await api.put(f"/v2/alerts/{ids[0]}", json=transfer_rule(name="a0", active=False))
        assert paused.status_code == 200 and paused.json()["active"] is False
        fourth = await api.post("/v2/alerts", json=transfer_rule(name="a3"))
        assert fourth.status_code == 201

        back = await api.put(f"/v2/alerts/{ids[0]}", json=transfer_rule(name="a0"))
        assert refused(back, 403, "tier_limit", "the free tier allows 3 active alerts")
        assert (await api.get(f"/v2/alerts/{ids[0]}")).json()["active"] is False
        # Edits that keep the active count are fine: an inactive rule stays inactive, an active one active.
        assert (await api.put(f"/v2/alerts/{ids[0]}", json=transfer_rule(name="z", active=False))).status_code == 200
        assert (await api.put(f"/v2/alerts/{ids[1]}", json=transfer_rule(name="a1", threshold=5))).status_code == 200
        assert (await api.get("/v2/usage")).json()["alerts"] == {"limit": 3, "used": 3}

        assert (await api.delete(f"/v2/alerts/{ids[1]}")).status_code == 204
        again = await api.put(f"/v2/alerts/{ids[0]}", json=transfer_rule(name="a0"))
        assert again.status_code == 200 and again.json()["active"] is True
    assert await active_rows(served.store, user_id) == 3


@pytest.mark.parametrize(
    "name", ["ok\r\nBcc: everyone@example.com", "ok\nX-Injected: 1", "red\x1b[31m", "nul\x00", "line\u2028sep", " "]
)
async def test_names_must_be_one_printable_line(served: Served, name: str) -> None:
    user_id, api = await served.client_of("namer", "pro")
    email = [{"type": "email", "to": "ops@example.com"}]
    async with api:
        created = await api.post("/v2/alerts", json=transfer_rule(name=name, channels=email))
        assert created.status_code == 422 and created.json()["error"]["code"] == "invalid_rule", created.text
        alert = (await api.post("/v2/alerts", json=transfer_rule(channels=email))).json()
        replaced = await api.put(f"/v2/alerts/{alert['id']}", json=transfer_rule(name=name, channels=email))
        assert replaced.status_code == 422 and replaced.json()["error"]["code"] == "invalid_rule"
        assert (await api.get(f"/v2/alerts/{alert['id']}")).json()["name"] == "every transfer"
    assert await active_rows(served.store, user_id) == 1
