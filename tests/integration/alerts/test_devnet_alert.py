"""On the devnet: a `price_below` rule fires in the block where the WETH feed crosses it, and every
channel gets it (signed webhook, SMTP mail, the `alerts` bus topic, and through the API's WebSocket
gateway the owner's `alerts` subscription, while another user's subscription gets nothing)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from onchain.alerts.delivery import RetryPolicy
from onchain.alerts.engine import announce_rule_change
from onchain.alerts.rule_schema import RuleIn
from onchain.alerts.service import AlertService
from onchain.api import create_app
from onchain.bus import MemoryBus
from onchain.config import Settings
from onchain.devnet.anvil import find_anvil
from onchain.devnet.deployment import ARTIFACTS, DEVNET_CHAIN, Devnet
from onchain.devnet.traffic import TrafficGenerator
from onchain.devnet.wallet import calldata
from onchain.domain.topics import ALERTS as ALERTS_TOPIC
from onchain.ingest.pipeline import Pipeline
from onchain.metrics.service import MarketService
from onchain.protocols.registry import Decoder
from onchain.sources.jsonrpc import JsonRpcClient
from onchain.sources.rpc import RpcSource
from onchain.storage.store import Store
from tests.integration.alerts.servers import SmtpSink, WebhookReceiver
from tests.integration.api.conftest import LocalRuntime, serving

pytestmark = pytest.mark.devnet


@pytest.fixture
async def devnet() -> AsyncIterator[Devnet]:
    if find_anvil() is None or not (ARTIFACTS / "PriceFeed.json").exists():
        pytest.skip("anvil or compiled devnet contracts missing; run `make install`")
    async with Devnet(mining="manual") as net:
        yield net


async def test_price_below_fires_in_the_crossing_block_on_every_channel(
    devnet: Devnet, tmp_path: Path, receiver: WebhookReceiver, smtp_sink: SmtpSink
) -> None:
    deployment = devnet.deployment
    weth = f"{DEVNET_CHAIN}:{deployment.weth.address}"
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'devnet.db'}")
    bus = MemoryBus()
    market = MarketService(store, bus)
    market.configure_devnet(deployment)
    settings = Settings(data_dir=tmp_path, webhook_allow_private=True, smtp_host="127.0.0.1", smtp_port=smtp_sink.port)
    service = AlertService(settings, store, bus, policy=RetryPolicy(base_delay=0.05, max_delay=0.2))
    websocket = await bus.subscribe(ALERTS_TOPIC)
    await market.start()
    await service.start()
    app = create_app(settings, LocalRuntime(store, bus), market=market)
    app.state.alerts = service
    accounts = app.state.accounts
    owner, stranger = await accounts.create_user("owner", "pro"), await accounts.create_user("stranger", "pro")
    owner_key, _ = await accounts.create_key(owner, "ws")
    stranger_key, _ = await accounts.create_key(stranger, "ws")
    api = contextlib.AsyncExitStack()
    address = await api.enter_async_context(serving(app))
    peers = []
    for key in (owner_key, stranger_key):
        peer = await connect(f"ws://{address}/v2/realtime", additional_headers={"X-API-Key": key}, open_timeout=10)
        await peer.send(json.dumps({"type": "subscribe", "channel": "alerts"}))
        assert json.loads(await asyncio.wait_for(peer.recv(), 10))["type"] == "subscribed"
        peers.append(peer)
    owner_ws, stranger_ws = peers
    await TrafficGenerator(devnet, seed=11, tx_per_block=4).run(steps=3)
    source = RpcSource(DEVNET_CHAIN, JsonRpcClient([devnet.rpc_url]), poll_interval=0.05)
    decoder = Decoder(DEVNET_CHAIN, factories=[deployment.factory_config()])
    ingest = asyncio.create_task(Pipeline(DEVNET_CHAIN, source, decoder, store, bus, batch_delay=0.0).run(0, None))
    try:
        async with asyncio.timeout(30):
            while weth not in market.state.prices:
                await asyncio.sleep(0.02)
        price = market.state.prices[weth].price_usd
        rule = RuleIn.model_validate(
            {
                "name": "devnet WETH under 80%",
                "subject": {"type": "coin", "id": weth},
                "condition": "price_below",
                "threshold": price * 0.8,
                "channels": [
                    {"type": "webhook", "url": receiver.url},
                    {"type": "email", "to": "ops@example.com"},
                    {"type": "websocket"},
                ],
            }
        )
        alert = await service.store.create_alert(owner.id, rule, time.time())
        receiver.secret = alert.webhook_secret
        await announce_rule_change(bus, "upsert", alert.id)
        async with asyncio.timeout(10):
            while alert.id not in service.engine.book:
                await asyncio.sleep(0.02)

        feed = next(f for f in deployment.feeds if f.base == deployment.weth.symbol)
        answer = round(price * 0.5 * 10**feed.decimals)
        update = (deployment.deployer, feed.address, calldata("updateAnswer(int256)", answer), 200_000, 0)
        [receipt] = await devnet.transact([update])
        crossing_block = int(receipt["blockNumber"], 16)

        async with asyncio.timeout(30):
            while not receiver.received or not smtp_sink.messages:
                await asyncio.sleep(0.02)
        [posted] = receiver.received
        assert posted.signature_ok
        [logged] = [d for d in await service.store.deliveries(alert.id, owner.id) if d["channel"] == "webhook"]
        assert logged["block"] == crossing_block and logged["status"] == "delivered"
        assert logged["payload"]["data"]["value"] == pytest.approx(price * 0.5)
        [(recipients, mail)] = smtp_sink.messages
        assert recipients == ["ops@example.com"] and f"block {crossing_block}" in mail.get_payload()
        pushed = (await websocket.get(timeout=10)).json()
        assert pushed["userId"] == owner.id and pushed["message"]["alertId"] == alert.id
        assert pushed["message"]["type"] == "alert" and pushed["message"]["condition"] == "price_below"
        received = json.loads(await asyncio.wait_for(owner_ws.recv(), 10))
        assert received == pushed["message"] and received["data"]["block"] == crossing_block
        # A ping's pong is ordered after anything sent before it: the stranger got no alert.
        await stranger_ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(stranger_ws.recv(), 10)) == {"type": "pong"}
    finally:
        for peer in peers:
            await peer.close()
        await api.aclose()
        ingest.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await ingest
        await source.close()
        await websocket.close()
        await service.stop()
        await market.stop()
        await store.close()
