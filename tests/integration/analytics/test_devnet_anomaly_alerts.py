"""On a real devnet, through the pipeline, the bus, the analytics and alert services and a uvicorn API: a
pool drained by its main provider is flagged as an anomaly, which reaches the WebSocket `anomalies`
channel, fires the owner's `anomaly` rule on that pool, and (the protocol now scoring riskier on the
`risk` topic) their `risk_above` rule; both alert messages reach the owner's `alerts` subscription."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from onchain.alerts.delivery import RetryPolicy
from onchain.alerts.service import AlertService
from onchain.analytics.service import AnalyticsService
from onchain.api import create_app
from onchain.bus import MemoryBus
from onchain.config import Settings
from onchain.devnet.deployment import DEVNET_CHAIN, Devnet
from onchain.devnet.traffic import TrafficGenerator
from onchain.devnet.wallet import calldata
from onchain.ingest.pipeline import Pipeline
from onchain.metrics.service import MarketService
from onchain.protocols.registry import Decoder
from onchain.sources.jsonrpc import JsonRpcClient
from onchain.sources.rpc import RpcSource
from onchain.storage.store import Store
from tests.integration.analytics.test_devnet_analytics import require_devnet
from tests.integration.api.conftest import LocalRuntime, serving

pytestmark = pytest.mark.devnet
TIMEOUT = 15.0


async def test_a_drained_pool_fires_anomaly_and_risk_alerts_to_the_owners_websocket(tmp_path: Path) -> None:
    require_devnet()
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'devnet.db'}")
    bus = MemoryBus()
    settings = Settings(data_dir=tmp_path)
    async with Devnet(mining="manual") as devnet:
        deployment = devnet.deployment
        assert deployment is not None
        market = MarketService(store, bus)
        market.configure_devnet(deployment)
        analytics = AnalyticsService(market, bus)
        alerts = AlertService(settings, store, bus, policy=RetryPolicy(base_delay=0.05, max_delay=0.2))
        await market.start()
        await analytics.start()
        await alerts.start()
        source = RpcSource(DEVNET_CHAIN, JsonRpcClient([devnet.rpc_url]), poll_interval=0.05)
        pipeline = Pipeline(DEVNET_CHAIN, source, Decoder(DEVNET_CHAIN, factories=[deployment.factory_config()]),
                            store, bus, batch_delay=0.0)

        async def ingest_to_head() -> int:
            head = await devnet.block_number()
            cursor = await store.cursor(DEVNET_CHAIN)
            await pipeline.run(0 if cursor is None else cursor.block_number + 1, head)
            async with asyncio.timeout(30):
                while analytics.heads.get(DEVNET_CHAIN, (0, 0))[0] < head:
                    await asyncio.sleep(0.01)
            return head

        app = create_app(settings, LocalRuntime(store, bus), market=market)
        app.state.analytics, app.state.alerts = analytics, alerts
        accounts = app.state.accounts
        owner = await accounts.create_user("owner", "pro")
        key, _ = await accounts.create_key(owner, "alerts")
        pair = deployment.pool("WETH", "USDC")
        pool_id = f"{DEVNET_CHAIN}:{pair.address}"
        try:
            async with serving(app) as address, httpx.AsyncClient(
                base_url=f"http://{address}", headers={"X-API-Key": key}, timeout=TIMEOUT
            ) as client:
                await TrafficGenerator(devnet, seed=3, tx_per_block=4).run(steps=12)
                await ingest_to_head()
                before = analytics.risk("uniswap-v2").score
                assert before is not None
                created = {}
                for name, body in {
                    "anomaly": {"subject": {"type": "pool", "id": pool_id}, "condition": "anomaly"},
                    "risk": {"subject": {"type": "protocol", "id": "uniswap-v2"}, "condition": "risk_above",
                             "threshold": before + 1.0},
                }.items():
                    answer = await client.post("/v2/alerts", json={"name": name, **body,
                                                                   "channels": [{"type": "websocket"}]})
                    assert answer.status_code == 201, answer.text
                    created[name] = answer.json()["id"]
                async with asyncio.timeout(TIMEOUT):
                    while not all(i in alerts.engine.book for i in created.values()):
                        await asyncio.sleep(0.02)
                refused = await client.post("/v2/alerts", json={
                    "name": "bad", "subject": {"type": "wallet", "id": "0x" + "11" * 20}, "condition": "anomaly"})
                assert refused.status_code == 422

                ws = await connect(f"ws://{address}/v2/realtime", additional_headers={"X-API-Key": key},
                                   open_timeout=TIMEOUT)
                for channel, params in (("alerts", {}), ("anomalies", {"tokenIds": [pool_id]})):
                    await ws.send(json.dumps({"type": "subscribe", "channel": channel, "params": params}))
                    assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["type"] == "subscribed"

                (held,) = await devnet.read(pair.address, "balanceOf(address)", ["uint256"], deployment.deployer)
                await devnet.transact([
                    (deployment.deployer, pair.address,
                     calldata("transfer(address,uint256)", pair.address, held * 9 // 10), 90_000, 0),
                    (deployment.deployer, pair.address, calldata("burn(address)", deployment.deployer), 250_000, 0),
                ])
                drained_block = await ingest_to_head()

                anomaly: dict[str, Any] | None = None
                fired: dict[str, dict[str, Any]] = {}
                async with asyncio.timeout(TIMEOUT):
                    while anomaly is None or len(fired) < 2:
                        decoded = json.loads(await ws.recv())
                        for message in decoded if isinstance(decoded, list) else [decoded]:
                            if message["type"] == "update":
                                assert message["channel"] == "anomalies" and message["data"]["id"] == pool_id
                                anomaly = message["data"]
                            else:
                                assert message["type"] == "alert", message
                                fired[message["alertId"]] = message
                await ws.close()
        finally:
            await alerts.stop()
            await analytics.stop()
            await market.stop()
            await source.close()
            await store.close()

    assert anomaly["kind"] == "tvl_drop" and anomaly["block"] == drained_block and anomaly["value"] > 0.8
    assert set(fired) == set(created.values())
    flagged = fired[created["anomaly"]]
    assert flagged["condition"] == "anomaly"
    assert flagged["data"]["kind"] == "tvl_drop" and flagged["data"]["block"] == drained_block
    assert flagged["data"]["value"] == anomaly["value"]
    risky = fired[created["risk"]]
    assert risky["condition"] == "risk_above" and risky["data"]["value"] > before + 1.0
    assert risky["data"]["block"] == drained_block
