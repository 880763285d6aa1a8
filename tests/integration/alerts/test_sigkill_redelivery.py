"""Issue 4's restart promise with a real process kill: `onchain serve` is SIGKILLed while webhook requests
are in flight, started again, and still delivers every firing, with every attempt in the log (the ones the
kill cut off as interrupted).

The alert is created over REST; its firings enter the outbox through `AlertStore.record_firings`, the
engine's own path (the engine's crossing logic is tested in test_engine and test_devnet_alert). Short
retry and lease settings (`ONCHAIN_ALERT_RETRY_*`, `ONCHAIN_ALERT_DELIVERY_LEASE`) keep it to seconds.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt

from onchain.alerts.records import Firing
from onchain.alerts.store import AlertRecord, AlertStore
from onchain.storage import Store
from tests.integration.alerts.servers import WebhookReceiver, free_port

WALLET = "ethereum:0x28c6c06298d514db089934071355e5743bf21d60"
JWT_SECRET = "sigkill-test-secret-0123456789abcdef0123"
FIRINGS = 5
LEASE = 2.0
DEADLINE = 60.0


def transfer(alert: AlertRecord, block: int) -> Firing:
    """What the engine records for a $1.5M transfer out of the watched wallet at `block`."""
    data = {"subject": {"type": "wallet", "id": WALLET}, "value": 1_500_000.0, "block": block}
    return Firing(alert.id, "large_transfer", 1704412800 + block * 12, block, "ethereum", f"transfer:{block}", data)


def bearer(user: str) -> dict[str, str]:
    claims = {"sub": user, "aud": "onchain-services", "exp": int(time.time()) + 3600, "tier": "enterprise"}
    return {"Authorization": "Bearer " + jwt.encode(claims, JWT_SECRET, algorithm="HS256")}


USER = bearer("alice")


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll `check` until it holds, failing after DEADLINE seconds."""
    deadline = time.monotonic() + DEADLINE
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


class Service:
    """One `onchain serve --role all` process on a loopback port, its output in a log file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("a") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-c", "from onchain.cli import main; main()", "serve", "--port", str(self.port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def ready(self, api: httpx.AsyncClient) -> None:
        async def answers() -> bool:
            assert self.process.poll() is None, self.log.read_text()[-4000:]
            try:
                return (await api.get(f"{self.base}/health", timeout=2)).status_code in (200, 503)
            except httpx.TransportError:
                return False

        await eventually(answers, "onchain serve to answer /health")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


async def test_sigkill_mid_delivery_then_restart_delivers_every_firing(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'onchain.db'}"
    env = {
        **os.environ,
        "ONCHAIN_DATABASE_URL": database,
        "ONCHAIN_DATA_DIR": str(tmp_path),
        "ONCHAIN_JWT_SECRET": JWT_SECRET,
        "ONCHAIN_WEBHOOK_ALLOW_PRIVATE": "1",
        "ONCHAIN_ALERT_RETRY_BASE_DELAY": "0.2",
        "ONCHAIN_ALERT_RETRY_MAX_DELAY": "0.5",
        "ONCHAIN_ALERT_DELIVERY_LEASE": str(LEASE),
        "ONCHAIN_LOG_LEVEL": "WARNING",
    }
    env.pop("ONCHAIN_REDIS_URL", None)
    receiver = WebhookReceiver()  # down: its port refuses connections
    log = tmp_path / "serve.log"
    first = Service(env, log)
    second: Service | None = None
    store: Store | None = None
    try:
        async with httpx.AsyncClient(timeout=5.0) as api:
            await first.ready(api)
            body = {
                "name": "big moves",
                "subject": {"type": "wallet", "id": WALLET},
                "condition": "large_transfer",
                "threshold": 1_000_000,
                "channels": [{"type": "webhook", "url": receiver.url}],
            }
            created = await api.post(f"{first.base}/v2/alerts", json=body, headers=USER)
            assert created.status_code == 201, created.text
            alert_id, receiver.secret = created.json()["id"], created.json()["webhookSecret"]

            store = await Store.open(database)
            alerts = AlertStore(store.engine)
            alert = await alerts.get_alert(alert_id)
            assert alert is not None
            now = time.time()
            ids = await alerts.record_firings([(alert, transfer(alert, 100 + n)) for n in range(FIRINGS)], now)
            assert len(ids) == FIRINGS

            async def log_of(service: Service) -> list[dict[str, Any]]:
                answer = await api.get(f"{service.base}/v2/alerts/{alert_id}/deliveries", headers=USER)
                assert answer.status_code == 200, answer.text
                deliveries: list[dict[str, Any]] = answer.json()["deliveries"]
                return deliveries

            async def failed_twice() -> bool:
                items = await log_of(first)
                return len(items) == FIRINGS and all(item["attempts"] >= 2 for item in items)

            await eventually(failed_twice, "two failed attempts per delivery while the receiver is down")

            # The receiver comes up but holds every request: the service is mid-send when it is killed.
            receiver.hang = True
            await receiver.start()

            async def all_in_flight() -> bool:
                return set(receiver.delivery_ids()) == set(ids)

            await eventually(all_in_flight, "every delivery to be in flight")
            before_kill = {item["id"]: item["attempts"] for item in await log_of(first)}
            first.kill()

            receiver.hang = False
            second = Service(env, log)
            await second.ready(api)
            service = second

            async def all_delivered() -> bool:
                items = await log_of(service)
                return len(items) == FIRINGS and all(item["status"] == "delivered" for item in items)

            await eventually(all_delivered, "every delivery after the restart")
            final = await log_of(second)
    finally:
        if store is not None:
            await store.close()
        first.stop()
        if second is not None:
            second.stop()
        await receiver.stop()

    # At least once: the killed requests reached the receiver and were sent again; once each after dedupe.
    assert sorted(set(receiver.delivery_ids())) == sorted(ids)
    assert len(receiver.received) >= 2 * FIRINGS
    assert all(item.signature_ok for item in receiver.received)
    interrupted = 0
    for item in final:
        attempts = item["attemptLog"]
        assert [a["attempt"] for a in attempts] == list(range(1, len(attempts) + 1))
        # The failures before the kill, the attempt the kill cut off (unless it had timed out by then), the success.
        cut_off = attempts[before_kill[item["id"]] : -1]
        assert len(cut_off) <= 1 and all(a["error"].startswith("interrupted: the delivering process") for a in cut_off)
        interrupted += len(cut_off)
        assert all(not a["ok"] and a["error"] for a in attempts[:-1])
        assert attempts[-1]["ok"] and attempts[-1]["statusCode"] == 200
    assert interrupted >= 1  # at least the request that reached the receiver last was still waiting at the kill
