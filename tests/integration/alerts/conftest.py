"""Alert edges on real servers: SQLite and PostgreSQL stores (the webhook receiver and SMTP sink are in
tests/integration/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from onchain.alerts.store import AlertStore
from onchain.storage import Store


@pytest.fixture
def alerts(store: Store) -> AlertStore:
    return AlertStore(store.engine)


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client
