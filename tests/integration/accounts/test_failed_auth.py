"""Guessing keys: failed authentications count against the client address, which gets 429 with
Retry-After after a bounded number of them and no more database lookups; other addresses and valid
keys are unaffected, and failed lookups never push valid keys out of the key cache. With the
in-memory limiter and with the one shared through Redis."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from onchain.accounts import keys, service
from onchain.accounts.service import AUTH_FAILURES_PER_MINUTE
from tests.integration.accounts.conftest import Api, ApiFactory

GUESSES = 150
ATTACKER = "203.0.113.9"
OTHER = "198.51.100.4"


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def limiter_settings(request: pytest.FixtureRequest, unique_prefix: str) -> dict[str, Any]:
    if request.param == "memory":
        return {}
    return {"redis_url": request.getfixturevalue("redis_url"), "redis_prefix": f"{unique_prefix}:"}


@contextmanager
def key_lookups(api: Api) -> Iterator[list[str]]:
    """The SQL statements that read api_keys, as the database driver receives them."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM api_keys" in statement:
            seen.append(statement)

    engine = api.runtime.store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def from_address(address: str, **headers: str) -> dict[str, str]:
    return {"X-Forwarded-For": address, **headers}


async def test_guessing_keys_gets_429_after_a_bounded_number_of_failures(
    api_server: ApiFactory, limiter_settings: dict[str, Any]
) -> None:
    async with api_server(trusted_proxies=["127.0.0.1/32"], **limiter_settings) as api:
        _, valid = await api.user_key("vera", "pro")
        async with api.client() as client:
            started = time.monotonic()
            with key_lookups(api) as lookups:
                answers = [
                    await client.get("/v2/chains", headers=from_address(ATTACKER, **{"X-API-Key": keys.generate_key()}))
                    for _ in range(GUESSES)
                ]
            elapsed = time.monotonic() - started
            statuses = [answer.status_code for answer in answers]
            assert set(statuses) == {401, 429}, statuses
            refilled = math.ceil(elapsed * AUTH_FAILURES_PER_MINUTE / 60)
            assert AUTH_FAILURES_PER_MINUTE <= statuses.count(401) <= AUTH_FAILURES_PER_MINUTE + refilled
            refused = answers[statuses.index(429)]
            assert refused.json()["error"]["code"] == "too_many_failures"
            assert int(refused.headers["retry-after"]) >= 1
            assert len(lookups) <= statuses.count(401)  # refused guesses never reach the database
            # A bad bearer token from there is refused alike; another address and a valid key are unaffected.
            bad_token = await client.get("/v2/chains", headers=from_address(ATTACKER, Authorization="Bearer x"))
            assert bad_token.status_code == 429
            elsewhere = await client.get("/v2/users/me", headers=from_address(OTHER, **{"X-API-Key": valid}))
            assert elsewhere.status_code == 200
            guess = await client.get("/v2/chains", headers=from_address(OTHER, **{"X-API-Key": keys.generate_key()}))
            assert guess.status_code == 401


async def test_failed_lookups_do_not_evict_valid_cached_keys(
    api_server: ApiFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = 8
    monkeypatch.setattr(service, "CACHE_ENTRIES", entries)
    monkeypatch.setattr(service, "CACHE_SECONDS", 3600.0)  # the test's pace must not matter
    async with api_server(trusted_proxies=["127.0.0.1/32"]) as api, api.client() as client:
        _, valid = await api.user_key("cachey", "pro")
        assert (await client.get("/v2/users/me", headers={"X-API-Key": valid})).status_code == 200
        for i in range(3 * entries):  # from many addresses, so none reaches its failure limit
            guess = from_address(f"198.51.100.{i + 1}", **{"X-API-Key": keys.generate_key()})
            assert (await client.get("/v2/chains", headers=guess)).status_code == 401
        with key_lookups(api) as lookups:
            assert (await client.get("/v2/users/me", headers={"X-API-Key": valid})).status_code == 200
        assert lookups == []
