"""Issue 20 item 13: the alert loops across a database outage (SQLite and PostgreSQL).

The delivery worker polls the outbox every `poll` seconds and the engine stores the firings of every
message; while the database is gone each says so in one line (no traceback per try), says once that it
works again when the database is back, and then delivers and stores as before.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest

from onchain.alerts.delivery import BusNotifier, DeliveryWorker, WebsocketSender
from onchain.alerts.engine import AlertEngine
from onchain.alerts.rule_schema import RuleIn
from onchain.alerts.store import AlertStore
from onchain.bus.memory import MemoryBus
from onchain.domain.topics import ALERTS as ALERTS_TOPIC
from onchain.storage import Store
from tests.integration.alerts.test_delivery import FAST
from tests.integration.storage.outage import database_gone

SEARCHER = "0x" + "5e" * 20
FAILED_TRIES = 5
DEADLINE = 30.0


def sandwich(block: int) -> dict[str, object]:
    found = {"frontrun_tx": f"0x{block:064x}", "searcher": SEARCHER, "profit_usd": 182.5}
    return {"chain": "ethereum", "block": block, "timestamp": 1683000000 + block * 12,
            "sandwiches": [found], "arbitrages": [], "liquidations": []}


async def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def lines(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    records = [r for r in caplog.records if r.name == logger]
    assert all(r.exc_info is None for r in records), "a traceback was logged"
    return [r.getMessage() for r in records]


async def test_delivery_worker_and_engine_log_one_line_per_outage(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    alerts, bus = AlertStore(store.engine), MemoryBus()
    rule = RuleIn.model_validate({"name": "sandwiches", "subject": {"type": "wallet", "id": f"ethereum:{SEARCHER}"},
                                  "condition": "mev_detected", "threshold": 100, "channels": [{"type": "websocket"}]})
    await alerts.create_alert("user-1", rule, time.time())
    delivered = await bus.subscribe(ALERTS_TOPIC)
    worker = DeliveryWorker(alerts, {"websocket": WebsocketSender(BusNotifier(bus))}, FAST, poll=0.02)
    engine = AlertEngine(alerts, bus, on_recorded=worker.wake)
    await engine.start()
    worker.start()
    caplog.set_level(logging.INFO)
    try:
        async with database_gone(store):
            await until(lambda: worker.outage.failures >= FAILED_TRIES, "the worker to fail a few polls")
            for block in range(100, 100 + FAILED_TRIES):
                await bus.publish("mev", sandwich(block))
            await until(lambda: engine._storing.failures >= FAILED_TRIES, "the engine to fail to store each firing")
            assert engine.fired == 0
        await bus.publish("mev", sandwich(200))
        message = await delivered.get(timeout=DEADLINE)
        assert message.json()["message"]["data"]["block"] == 200
        await until(lambda: not worker.outage.failing, "the worker to finish a round")
    finally:
        await worker.stop()
        await engine.stop()
        await bus.close()

    for logger in ("onchain.alerts.delivery", "onchain.alerts.engine"):
        logged = lines(caplog, logger)
        assert len(logged) == 2 and "failing" in logged[0] and "works again" in logged[1], logged
