"""Issue 20 item 2: `onchain serve` on a Redis of the test's own survives that Redis being restarted.

The running server must, after Redis comes back on the same port, deliver alerts again (webhook and the
private WebSocket channel: engine, delivery worker and feed all resubscribed), push realtime updates
again, and go from `degraded` (naming the disconnected topics) back to `healthy` on `/health`, logging
one line when it lost its subscriptions and one when they are back. The test publishes the pipeline's
messages itself, on the same Redis channels the ingest would use.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
from websockets.asyncio.client import ClientConnection, connect

from onchain.bus.redis import RedisBus
from tests.integration.alerts.servers import WebhookReceiver, free_port
from tests.integration.bus.own_redis import OwnRedis

JWT_SECRET = "redis-restart-test-secret-0123456789abcdef"
SEARCHER = "0x" + "5e" * 20
DEADLINE = 30.0


def bearer() -> dict[str, str]:
    claims = {"sub": "alice", "aud": "onchain-services", "exp": int(time.time()) + 3600, "tier": "enterprise"}
    return {"Authorization": "Bearer " + jwt.encode(claims, JWT_SECRET, algorithm="HS256")}


def block(number: int) -> dict[str, Any]:
    return {"chain": "ethereum", "number": number, "hash": f"0x{number:064x}", "parent_hash": f"0x{number - 1:064x}",
            "timestamp": 1683000000 + number * 12, "logs": 0, "events": 0}


def sandwich(number: int) -> dict[str, Any]:
    """One block's MEV findings as the MEV service publishes them: a $182.50 sandwich by SEARCHER."""
    found = {"frontrun_tx": f"0x{number:064x}", "backrun_tx": f"0x{number + 1:064x}", "victims": [],
             "searcher": SEARCHER, "pool": "0x" + "9a" * 20, "protocol": "uniswap-v2", "profit_usd": 182.5}
    return {"chain": "ethereum", "block": number, "timestamp": 1683000000 + number * 12,
            "sandwiches": [found], "arbitrages": [], "liquidations": [], "jit": []}


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def next_of(ws: ClientConnection, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The next message from the server that `wanted` accepts (frames may carry a list of messages)."""
    async with asyncio.timeout(DEADLINE):
        while True:
            decoded = json.loads(await ws.recv())
            for message in decoded if isinstance(decoded, list) else [decoded]:
                if wanted(message):
                    return message


def is_block(number: int) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m.get("type") == "update" and m.get("channel") == "blocks" and m["data"]["value"] == number


def is_alert(number: int) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m.get("type") == "alert" and m["data"].get("block") == number


async def test_alerts_realtime_feed_and_health_recover_after_redis_restarts(tmp_path: Path) -> None:
    redis = OwnRedis(tmp_path)
    redis.start()
    prefix = f"restart{os.getpid()}:"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ONCHAIN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'onchain.db'}",
           "ONCHAIN_DATA_DIR": str(tmp_path), "ONCHAIN_REDIS_URL": redis.url, "ONCHAIN_REDIS_PREFIX": prefix,
           "ONCHAIN_JWT_SECRET": JWT_SECRET, "ONCHAIN_WEBHOOK_ALLOW_PRIVATE": "1", "ONCHAIN_LOG_LEVEL": "WARNING",
           "ONCHAIN_ALERT_RETRY_BASE_DELAY": "0.2", "ONCHAIN_ALERT_RETRY_MAX_DELAY": "0.5"}
    log = tmp_path / "serve.log"
    receiver = WebhookReceiver()
    await receiver.start()
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "-c", "from onchain.cli import main; main()", "serve",
                                   "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT)
    publisher = RedisBus.from_url(redis.url, prefix=prefix)
    try:
        async with httpx.AsyncClient(timeout=5.0) as api:

            async def health() -> dict[str, Any]:
                assert server.poll() is None, log.read_text()[-4000:]
                try:
                    answer = await api.get(f"{base}/health")
                except httpx.TransportError:
                    return {}
                body: dict[str, Any] = answer.json()
                return body

            async def healthy() -> bool:
                return (await health()).get("status") == "healthy"

            await eventually(healthy, "onchain serve to start healthy")
            key = await api.post(f"{base}/v2/users/me/keys", json={"name": "ws"}, headers=bearer())
            assert key.status_code == 201, key.text
            rule = {"name": "sandwiches", "subject": {"type": "wallet", "id": f"ethereum:{SEARCHER}"},
                    "condition": "mev_detected", "threshold": 100,
                    "channels": [{"type": "webhook", "url": receiver.url}, {"type": "websocket"}]}
            created = await api.post(f"{base}/v2/alerts", json=rule, headers=bearer())
            assert created.status_code == 201, created.text
            receiver.secret = created.json()["webhookSecret"]

            async with connect(f"ws://127.0.0.1:{port}/v2/realtime",
                               additional_headers={"X-API-Key": key.json()["key"]}) as ws:
                for channel in ("blocks", "alerts"):
                    await ws.send(json.dumps({"type": "subscribe", "channel": channel}))
                    await next_of(ws, lambda m, c=channel: m.get("type") == "subscribed" and m["channel"] == c)

                async def delivered(number: int) -> None:
                    await publisher.publish("blocks", block(number))
                    await next_of(ws, is_block(number))
                    await publisher.publish("mev", sandwich(number))
                    await next_of(ws, is_alert(number))

                    async def hooked() -> bool:
                        return any(json.loads(r.body)["data"].get("block") == number for r in receiver.received)

                    await eventually(hooked, f"the webhook for block {number}")

                await delivered(100)

                redis.stop()

                async def degraded() -> bool:
                    body = await health()
                    return body.get("status") == "degraded" and "mev" in body["bus"]["disconnected"]

                await eventually(degraded, "/health to name the lost subscriptions")
                redis.start()
                await eventually(healthy, "/health to recover")
                assert (await health())["bus"]["disconnected"] == []

                await delivered(101)
    finally:
        await publisher.close()
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        await receiver.stop()
        redis.stop()

    output = log.read_text()
    assert output.count("lost the redis subscription") == 1, output
    assert output.count("every redis subscription is back") == 1, output
    assert all(r.signature_ok for r in receiver.received)
