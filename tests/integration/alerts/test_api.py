"""`/v2/alerts` in-process (ASGI) over a real store holding two replayed mainnet blocks (17173049-50)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from onchain.alerts.backtest import fresh_state
from onchain.alerts.records import Firing
from onchain.alerts.store import AlertStore
from onchain.analytics.mev.service import finding_rows
from onchain.analytics.mev.tables import mev_findings
from onchain.api import create_app
from onchain.bus import MemoryBus
from onchain.config import Settings
from onchain.domain.chain import Block, BlockBundle
from onchain.ingest.pipeline import Pipeline
from onchain.metrics.service import MARKET_KINDS, MarketService
from onchain.protocols.registry import Decoder
from onchain.sources.replay import ReplaySource
from onchain.storage.records import BlockWrite
from onchain.storage.store import Store

WETH = "ethereum:0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
JWT_SECRET = "alerts-api-test-secret-0123456789abcdef"


def bearer(user: str) -> dict[str, str]:
    """Credentials for `user` (HS256 bearer token at the enterprise tier, so quotas never interfere)."""
    claims = {"sub": user, "aud": "onchain-services", "exp": int(time.time()) + 3600, "tier": "enterprise"}
    return {"Authorization": "Bearer " + jwt.encode(claims, JWT_SECRET, algorithm="HS256")}


USER = bearer("alice")


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=tmp_path, jwt_secret=JWT_SECRET, **overrides)


@pytest.fixture
async def runtime(tmp_path: Path, chaindata: Path) -> AsyncIterator[Any]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}")
    bus = MemoryBus()
    source = ReplaySource(chaindata / "ethereum-etl-17173049")
    try:
        await Pipeline("ethereum", source, Decoder("ethereum"), store, bus, allow_gaps=True).run(17173049, 17173050)
    finally:
        await source.close()

    class Runtime:
        def __init__(self) -> None:
            self.store, self.bus = store, bus

    try:
        yield Runtime()
    finally:
        await bus.close()
        await store.close()


@pytest.fixture
async def market(runtime: Any) -> MarketService:
    service = MarketService(runtime.store)
    await service.rebuild()
    return service


def client_for(settings: Settings, runtime: Any, market: MarketService) -> httpx.AsyncClient:
    app = create_app(settings, runtime, market=market)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def rule(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "weth under 1800",
        "subject": {"type": "coin", "id": WETH},
        "condition": "price_below",
        "threshold": 1800,
        "channels": [{"type": "websocket"}, {"type": "webhook", "url": "http://127.0.0.1:9/hook"}],
    }
    body.update(overrides)
    return body


async def test_crud_is_owned_validated_and_secret_shown_once(
    tmp_path: Path, runtime: Any, market: MarketService
) -> None:
    async with client_for(settings(tmp_path, webhook_allow_private=True), runtime, market) as api:
        assert (await api.post("/v2/alerts", json=rule())).status_code == 401
        created = await api.post("/v2/alerts", json=rule(cooldown="10m"), headers=USER)
        assert created.status_code == 201, created.text
        alert = created.json()
        assert alert["webhookSecret"].startswith("whsec_") and alert["cooldown"] == 600 and alert["active"] is True
        alert_id = alert["id"]

        listed = (await api.get("/v2/alerts", headers=USER)).json()["alerts"]
        assert [item["id"] for item in listed] == [alert_id] and "webhookSecret" not in listed[0]
        assert (await api.get("/v2/alerts", headers=bearer("bob"))).json() == {"alerts": []}
        assert (await api.get(f"/v2/alerts/{alert_id}", headers=bearer("bob"))).status_code == 404

        replaced = await api.put(f"/v2/alerts/{alert_id}", json=rule(threshold=1700, active=False), headers=USER)
        assert replaced.status_code == 200 and replaced.json()["threshold"] == 1700
        assert replaced.json()["active"] is False

        deliveries = await api.get(f"/v2/alerts/{alert_id}/deliveries", headers=USER)
        assert deliveries.json() == {"deliveries": []}
        missing = await api.post(f"/v2/alerts/{alert_id}/deliveries/{alert_id}/redeliver", headers=USER)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "delivery_not_found"

        assert (await api.delete(f"/v2/alerts/{alert_id}", headers=USER)).status_code == 204
        assert (await api.get(f"/v2/alerts/{alert_id}", headers=USER)).status_code == 404


@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        (rule(condition="price_bellow"), "invalid_rule", "unknown condition 'price_bellow'"),
        (rule(condition="price_change_pct", threshold=-5, window=-1), "invalid_rule", "window must not be negative"),
        (rule(subject={"type": "coin", "id": "weth"}), "invalid_rule", "chain:0xaddress"),
        (
            rule(subject={"type": "coin", "id": "ethereum:0x" + "12" * 20}, channels=[{"type": "websocket"}]),
            "unknown_coin",
            "no coin",
        ),
        (
            rule(subject={"type": "chain", "id": "atlantis"}, condition="tvl_below", channels=[{"type": "websocket"}]),
            "unknown_chain",
            "atlantis",
        ),
        (rule(), "webhook_refused", "127.0.0.1"),
    ],
)
async def test_bad_rules_are_422_with_a_reason(
    tmp_path: Path, runtime: Any, market: MarketService, body: dict[str, Any], code: str, fragment: str
) -> None:
    async with client_for(settings(tmp_path), runtime, market) as api:
        response = await api.post("/v2/alerts", json=body, headers=USER)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == code and fragment in error["message"]


async def test_backtest_fires_where_the_stored_price_crossed(
    tmp_path: Path, runtime: Any, market: MarketService
) -> None:
    # The WETH price each stored block produced, folded independently of the backtest.
    state = fresh_state(market)
    prices: list[tuple[int, float]] = []
    for record in await runtime.store.blocks("ethereum"):
        events = await runtime.store.events(
            "ethereum", kinds=MARKET_KINDS, from_block=record.number, to_block=record.number
        )
        block = Block(record.number, record.hash, record.parent_hash, record.timestamp)
        for update in state.apply("ethereum", block, events).updates:
            if update.channel == "prices" and update.id == WETH:
                prices.append((record.number, update.value))
    assert [number for number, _ in prices] == [17173049, 17173050]
    (_, first), (_, second) = prices
    assert first != second and 1700 < first < 1900
    crossing = "price_below" if second < first else "price_above"
    threshold = (first + second) / 2

    async with client_for(settings(tmp_path), runtime, market) as api:
        body = {"rule": {"subject": {"type": "coin", "id": WETH}, "condition": crossing, "threshold": threshold}}
        response = await api.post("/v2/alerts/backtest", json=body, headers=USER)
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["blocks"] == 2 and result["chains"] == ["ethereum"]
        [fired] = result["firings"]
        assert fired["block"] == 17173050 and fired["condition"] == crossing
        assert fired["data"]["value"] == second and fired["data"]["previous"] == first

        never = {"rule": {"subject": {"type": "coin", "id": WETH}, "condition": "price_below", "threshold": 10}}
        assert (await api.post("/v2/alerts/backtest", json=never, headers=USER)).json()["count"] == 0


async def test_redeliver_queues_a_new_delivery(tmp_path: Path, runtime: Any, market: MarketService) -> None:
    async with client_for(settings(tmp_path, webhook_allow_private=True), runtime, market) as api:
        alert = (await api.post("/v2/alerts", json=rule(), headers=USER)).json()
        alerts = AlertStore(runtime.store.engine)
        record = await alerts.get_alert(alert["id"])
        assert record is not None
        firing = Firing(alert["id"], "price_below", 1683030011, 17173050, "ethereum", "k", {"value": 1.0})
        delivery = (await alerts.record_firings([(record, firing)], time.time()))[1]
        response = await api.post(f"/v2/alerts/{alert['id']}/deliveries/{delivery}/redeliver", headers=USER)
        assert response.status_code == 202 and response.json()["redeliveryOf"] == delivery
        logged = (await api.get(f"/v2/alerts/{alert['id']}/deliveries", headers=USER)).json()["deliveries"]
        assert len(logged) == 3 and response.json()["id"] in {item["id"] for item in logged}
        assert all(item["status"] == "pending" for item in logged)


async def test_backtest_finds_the_anomaly_of_a_drained_pool(
    tmp_path: Path, runtime: Any, market: MarketService
) -> None:
    """A block after the two stored ones drains a V2 pool to a tenth of its reserves: the anomaly rule fires there."""
    store = runtime.store
    [last] = await store.blocks("ethereum", 17173050, 17173050)
    syncs = await store.events("ethereum", kinds=["uniswap_v2.Sync"], from_block=17173050, to_block=17173050)
    pool = next(e for e in syncs if f"ethereum:{e.address}" in market.state.pools)
    drained_args = {**pool.args, "reserve0": pool.args["reserve0"] // 10, "reserve1": pool.args["reserve1"] // 10}
    block = Block(17173051, "0x" + "d1" * 32, last.hash, last.timestamp + 12)
    drained = replace(pool, block_number=17173051, block_hash=block.hash, log_index=0, args=drained_args)
    await store.write_blocks([BlockWrite(BlockBundle("ethereum", block), [drained])])

    subject = {"type": "pool", "id": f"ethereum:{pool.address}"}
    async with client_for(settings(tmp_path), runtime, market) as api:
        body = {"rule": {"subject": subject, "condition": "anomaly", "threshold": 0.5}}
        response = await api.post("/v2/alerts/backtest", json=body, headers=USER)
        assert response.status_code == 200, response.text
        result = response.json()
        [fired] = result["firings"]
        assert fired["block"] == 17173051 and fired["condition"] == "anomaly"
        assert fired["data"]["kind"] == "tvl_drop" and 0.85 < fired["data"]["value"] < 0.95
        stricter = {"rule": {**body["rule"], "threshold": 0.95}}
        assert (await api.post("/v2/alerts/backtest", json=stricter, headers=USER)).json()["count"] == 0


async def test_backtest_fires_on_stored_mev_findings(tmp_path: Path, runtime: Any, market: MarketService) -> None:
    searcher = "0x" + "5e" * 20
    sandwich = {"frontrun_tx": "0x" + "f1" * 32, "backrun_tx": "0x" + "b1" * 32, "victims": ["0x" + "a1" * 32],
                "searcher": searcher, "pool": "0x" + "9a" * 20, "protocol": "uniswap-v2",
                "profit_token": WETH.split(":")[1], "profit_amount": 10**17, "profit_usd": 182.5}
    shaped = {"sandwiches": [sandwich], "arbitrages": [], "liquidations": [], "jit": []}
    async with runtime.store.engine.begin() as connection:
        await connection.execute(mev_findings.insert(), finding_rows("ethereum", 17173050, shaped))

    async with client_for(settings(tmp_path), runtime, market) as api:
        rule = {"subject": {"type": "wallet", "id": f"ethereum:{searcher}"}, "condition": "mev_detected",
                "threshold": 100}
        response = await api.post("/v2/alerts/backtest", json={"rule": rule}, headers=USER)
        assert response.status_code == 200, response.text
        [fired] = response.json()["firings"]
        assert fired["block"] == 17173050 and fired["condition"] == "mev_detected"
        above = {"rule": {**rule, "threshold": 200}}  # the sandwich made $182.5
        assert (await api.post("/v2/alerts/backtest", json=above, headers=USER)).json()["count"] == 0
