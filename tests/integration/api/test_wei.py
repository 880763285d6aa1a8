"""Wei amounts beyond 64 bits on every path that carries them, over recorded mainnet blocks 17173049-50.

Block 17173050 holds a sandwich whose profit is 1091168146516342734848 (about 2**70) units of its token.
The blocks replay through the real pipeline (with MEV detection) into SQLite and PostgreSQL while an
MEV alert with a webhook, an email and a WebSocket channel is live; then every REST endpoint that can
carry the amount, the webhook body, the mail and the WebSocket message must hold its exact digits, as
`/v2/analytics/mev` writes them.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
from websockets.asyncio.client import connect

from onchain.alerts.service import AlertService
from onchain.api import create_app
from onchain.bus import MemoryBus
from onchain.config import Settings
from onchain.metrics.service import MarketService
from onchain.runtime import Runtime
from onchain.sources.replay import ReplaySource
from onchain.storage.store import Store
from tests.integration.alerts.servers import SmtpSink, WebhookReceiver
from tests.integration.api.conftest import serving
from tests.integration.api.test_ws import TIMEOUT, Peer

PROFIT = 1091168146516342734848
SEARCHER = "0x6b75d8af000000e20b7a7ddf000ba900b4009a80"
JWT_SECRET = "wei-test-secret-0123456789abcdef0123"
CLAIMS = {"sub": "whale-watcher", "aud": "onchain-services", "tier": "enterprise"}


def bearer() -> dict[str, str]:
    token = jwt.encode({**CLAIMS, "exp": int(time.time()) + 3600}, JWT_SECRET, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


def exact(response: httpx.Response) -> Any:
    """The body as a JSON client with exact integers reads it (stdlib json), after a 200."""
    assert response.status_code == 200, response.text
    return json.loads(response.content)


def profits(value: Any) -> list[Any]:
    """Every `profit_amount` anywhere in a decoded JSON value."""
    if isinstance(value, dict):
        return [v for k, v in value.items() if k == "profit_amount"] + [p for v in value.values() for p in profits(v)]
    if isinstance(value, list):
        return [p for v in value for p in profits(v)]
    return []


async def test_a_sandwich_profit_past_64_bits_is_exact_everywhere(
    store_url: str, tmp_path: Path, chaindata: Path, receiver: WebhookReceiver, smtp_sink: SmtpSink
) -> None:
    settings = Settings(data_dir=tmp_path, jwt_secret=JWT_SECRET, webhook_allow_private=True,
                        smtp_host="127.0.0.1", smtp_port=smtp_sink.port)
    runtime = Runtime(settings, await Store.open(store_url), MemoryBus())
    market = MarketService(runtime.store)
    app = create_app(settings, runtime, market=market)
    service = AlertService(settings, runtime.store, runtime.bus, tokens=runtime.tokens)
    app.state.alerts = service
    try:
        async with serving(app) as address, httpx.AsyncClient(base_url=f"http://{address}", timeout=10) as api:
            rule = {"name": "searcher", "subject": {"type": "wallet", "id": f"ethereum:{SEARCHER}"},
                    "condition": "mev_detected", "threshold": 0,
                    "channels": [{"type": "webhook", "url": receiver.url}, {"type": "email", "to": "ops@example.com"},
                                 {"type": "websocket"}]}
            created = await api.post("/v2/alerts", json=rule, headers=bearer())
            assert created.status_code == 201, created.text
            alert_id = created.json()["id"]
            receiver.secret = created.json()["webhookSecret"]
            await service.start()
            ws = await connect(f"ws://{address}/v2/realtime", open_timeout=TIMEOUT, additional_headers=bearer())
            peer = Peer(ws)
            await peer.send({"type": "subscribe", "channel": "alerts"})
            await peer.expect("subscribed")

            source = ReplaySource(chaindata / "ethereum-etl-17173049")
            try:
                pipeline = await runtime.pipeline(source, allow_gaps=True)
                await pipeline.run(17173049, 17173050)
            finally:
                await source.close()
            await market.rebuild()

            # WebSocket: the private alert messages, one per sandwich of the searcher (17173049 and 17173050).
            pushed = [await peer.expect("alert") for _ in range(2)]
            assert PROFIT in profits(pushed)
            await asyncio.wait_for(ws.close(), TIMEOUT)

            # The delivery log, once all three channels have delivered both firings.
            deadline = time.monotonic() + 30
            while True:
                deliveries = exact(await api.get(f"/v2/alerts/{alert_id}/deliveries", headers=bearer()))["deliveries"]
                if len(deliveries) == 6 and all(d["status"] == "delivered" for d in deliveries):
                    break
                assert time.monotonic() < deadline, deliveries
                await asyncio.sleep(0.1)
            assert {d["channel"] for d in deliveries if PROFIT in profits(d["payload"])} == {
                "webhook", "email", "websocket"}

            backtest = await api.post("/v2/alerts/backtest", json={"rule": rule}, headers=bearer())
            assert sorted(profits(exact(backtest))) == [235382152194162688, PROFIT]

            mev = await api.get("/v2/analytics/mev", params={"from_block": 17173050}, headers=bearer())
            assert PROFIT in profits(exact(mev))
            assert b"1091168146516342734848" in mev.content  # a JSON number, not a string or a float

        # The webhook body and the mail carry it exactly too.
        bodies = [json.loads(item.body) for item in receiver.received]
        assert all(item.signature_ok for item in receiver.received) and PROFIT in profits(bodies)
        mails = [message.get_payload(decode=True).decode() for _, message in smtp_sink.messages]
        assert len(mails) == 2 and any(str(PROFIT) in mail for mail in mails)
    finally:
        await service.stop()
        await runtime.close()
