"""The alert service on a real bus and database: market updates in, a signed webhook out, once per crossing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from onchain.alerts.delivery import RetryPolicy
from onchain.alerts.engine import announce_rule_change
from onchain.alerts.rule_schema import RuleIn
from onchain.alerts.service import AlertService
from onchain.bus.memory import MemoryBus
from onchain.config import Settings
from onchain.storage import Store
from tests.integration.alerts.servers import WebhookReceiver

WETH = "ethereum:0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
USDT = "0xdac17f958d2ee523a2206206994597c13d831ec7"


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def price(value: float, block: int) -> dict[str, object]:
    return {"id": WETH, "value": value, "timestamp": 1683000000 + block * 12, "change24h": None, "block": block}


async def test_price_crossing_on_the_bus_reaches_the_webhook_once(store: Store, receiver: WebhookReceiver) -> None:
    bus = MemoryBus()
    settings = Settings(webhook_allow_private=True)
    service = AlertService(settings, store, bus, policy=RetryPolicy(base_delay=0.05, max_delay=0.1))
    await service.start()
    try:
        rule = RuleIn.model_validate(
            {
                "name": "eth under 1830",
                "subject": {"type": "coin", "id": WETH},
                "condition": "price_below",
                "threshold": 1830,
                "channels": [{"type": "webhook", "url": receiver.url}],
            }
        )
        alert = await service.store.create_alert("user-1", rule, time.time())
        receiver.secret = alert.webhook_secret
        await announce_rule_change(bus, "upsert", alert.id)
        await eventually(lambda: _ready(service, alert.id))

        for block, value in [(17173049, 1831.2), (17173050, 1829.9), (17173050, 1829.9), (17173051, 1828.0)]:
            await bus.publish("prices", price(value, block))

        async def delivered() -> bool:
            return (await service.store.status_counts()).get("delivered") == 1

        await eventually(delivered)
        [got] = receiver.received
        assert got.signature_ok
        [logged] = await service.store.deliveries(alert.id, "user-1")
        assert logged["block"] == 17173050 and logged["payload"]["data"]["value"] == 1829.9

        # a large USDT transfer valued with the latest price and the token's decimals
        await bus.publish(
            "prices", {"id": f"ethereum:{USDT}", "value": 1.0, "timestamp": 1683000620, "block": 17173052}
        )
        transfer_rule = RuleIn.model_validate(
            {
                "name": "whale",
                "subject": {"type": "coin", "id": f"ethereum:{USDT}"},
                "condition": "large_transfer",
                "threshold": 1_000_000,
                "channels": [{"type": "websocket"}],
            }
        )
        whale = await service.store.create_alert("user-1", transfer_rule, time.time())
        await announce_rule_change(bus, "upsert", whale.id)
        await eventually(lambda: _ready(service, whale.id))
        batch = {
            "chain": "ethereum",
            "from_block": 17173052,
            "to_block": 17173052,
            "events": [
                _transfer(7, 2_500_000 * 10**6),
                _transfer(8, 10 * 10**6),
            ],
        }
        await bus.publish("events", batch)
        await bus.publish("events", batch)  # redelivered: still one firing

        async def whale_logged() -> bool:
            return len(await service.store.deliveries(whale.id, "user-1")) == 1

        await eventually(whale_logged)
        [entry] = await service.store.deliveries(whale.id, "user-1")
        assert entry["payload"]["data"]["valueUsd"] == 2_500_000.0 and entry["payload"]["data"]["logIndex"] == 7

        await service.store.delete_alert(alert.id, "user-1")
        await announce_rule_change(bus, "delete", alert.id)
        await eventually(lambda: _gone(service, alert.id))
    finally:
        await service.stop()


def _transfer(log_index: int, amount: int) -> dict[str, object]:
    return {
        "chain": "ethereum",
        "block_number": 17173052,
        "block_hash": "0x" + "11" * 32,
        "transaction_hash": "0x" + f"{log_index:064x}",
        "transaction_index": log_index,
        "log_index": log_index,
        "address": USDT,
        "family": "erc20",
        "name": "Transfer",
        "kind": "erc20.Transfer",
        "protocol": None,
        "args": {"from": "0x28c6c06298d514db089934071355e5743bf21d60", "to": "0x" + "ab" * 20, "value": amount},
    }


async def _ready(service: AlertService, alert_id: str) -> bool:
    return alert_id in service.engine.book


async def _gone(service: AlertService, alert_id: str) -> bool:
    return alert_id not in service.engine.book
