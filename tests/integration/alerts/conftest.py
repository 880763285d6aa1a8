"""Alert edges on real servers: SQLite and PostgreSQL stores, a local webhook receiver, an SMTP sink."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from onchain.alerts.store import AlertStore
from onchain.storage import Store
from tests.integration.alerts.servers import SmtpSink, WebhookReceiver


@pytest.fixture
def alerts(store: Store) -> AlertStore:
    return AlertStore(store.engine)


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    server = WebhookReceiver()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client
