"""The active-key quota holds under concurrent creation on a running server: requests race over
separate sockets and exactly as many keys as the tier allows exist afterwards (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import httpx

from tests.integration.accounts.conftest import ApiFactory

CONCURRENT = 20
TIERS = {"free": {"api_keys": 2, "requests_per_minute": 1000}}


async def test_concurrent_key_creation_stops_at_the_tier_limit(api_server: ApiFactory, store_url: str) -> None:
    async with api_server(url=store_url, tiers=TIERS) as api:
        user_id, key = await api.user_key("racer", "free")  # one of the two keys already taken
        limits = httpx.Limits(max_connections=CONCURRENT, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=api.url, headers={"X-API-Key": key}, limits=limits, timeout=30) as client:
            answers = await asyncio.gather(
                *(client.post("/v2/users/me/keys", json={"name": f"k{i}"}) for i in range(CONCURRENT))
            )
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [201] + [403] * (CONCURRENT - 1), [a.text for a in answers if a.status_code != 403]
        refused = next(answer for answer in answers if answer.status_code == 403)
        assert refused.json()["error"]["code"] == "tier_limit"
        active = [record for record in await api.accounts.store.keys(user_id) if record.active]
        assert len(active) == 2
