"""The alerts role of a process: the bus-fed engine and the outbox worker, started and stopped together.

Wire it where a process runs alerts (`onchain serve --role alerts|all`, `onchain demo`):
`service = AlertService(settings, runtime.store, runtime.bus, tokens=runtime.tokens)`, `await service.start()`,
and `app.state.alerts = service` so the API wakes the worker after a redelivery.
"""

from __future__ import annotations

import httpx

from onchain.alerts.delivery import AlertNotifier, BusNotifier, DeliveryWorker, RetryPolicy, default_senders
from onchain.alerts.engine import AlertEngine
from onchain.alerts.store import AlertStore
from onchain.bus.base import Bus
from onchain.config import Settings
from onchain.protocols.tokens import TokenDirectory
from onchain.storage.store import Store

WEBHOOK_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class AlertService:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        bus: Bus,
        *,
        notifier: AlertNotifier | None = None,
        policy: RetryPolicy | None = None,
        tokens: TokenDirectory | None = None,
    ) -> None:
        self.store = AlertStore(store.engine)
        self.client = httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT, headers={"User-Agent": "onchain-alerts"})
        senders = default_senders(settings, self.client, notifier or BusNotifier(bus))
        if policy is None:
            policy = RetryPolicy(base_delay=settings.alert_retry_base_delay, max_delay=settings.alert_retry_max_delay)
        self.worker = DeliveryWorker(self.store, senders, policy, lease=settings.alert_delivery_lease)
        self.engine = AlertEngine(self.store, bus, on_recorded=self.worker.wake, tokens=tokens)

    def wake(self) -> None:
        self.worker.wake()

    async def start(self) -> None:
        await self.engine.start()
        self.worker.start()

    async def stop(self) -> None:
        await self.engine.stop()
        await self.worker.stop()
        await self.client.aclose()
