"""Issue 20: a rule change the alert engine cannot read while the database is away is applied once it is
back (SQLite and PostgreSQL), logged as one line for the outage and one for its end, instead of being
dropped with a traceback and the engine evaluating stale rules until a restart."""

from __future__ import annotations

import logging
import time

import pytest

from onchain.alerts.engine import AlertEngine, announce_rule_change
from onchain.alerts.rule_schema import RuleIn
from onchain.alerts.store import AlertStore
from onchain.bus.memory import MemoryBus
from onchain.outage import Backoff
from onchain.storage import Store
from tests.integration.alerts.test_database_outage import SEARCHER, lines, until
from tests.integration.storage.outage import database_gone


async def test_a_rule_change_during_an_outage_is_applied_when_the_database_is_back(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    alerts, bus = AlertStore(store.engine), MemoryBus()
    engine = AlertEngine(alerts, bus, retry=Backoff(0.02, 0.1))
    await engine.start()
    caplog.set_level(logging.INFO, logger="onchain.alerts.engine")
    try:
        rule = RuleIn.model_validate({"name": "sandwiches", "subject": {"type": "wallet", "id": f"ethereum:{SEARCHER}"},
                                      "condition": "mev_detected", "threshold": 100,
                                      "channels": [{"type": "websocket"}]})
        created = await alerts.create_alert("user-1", rule, time.time())
        async with database_gone(store):
            await announce_rule_change(bus, "upsert", created.id)
            await until(lambda: any("failing" in line for line in lines(caplog, "onchain.alerts.engine")),
                        "the engine to fail to read the rule")
            assert created.id not in engine.alerts
        await until(lambda: created.id in engine.alerts, "the rule to be applied")
    finally:
        await engine.stop()
        await bus.close()
    logged = lines(caplog, "onchain.alerts.engine")
    assert len(logged) == 2 and "failing" in logged[0] and "works again" in logged[1], logged
