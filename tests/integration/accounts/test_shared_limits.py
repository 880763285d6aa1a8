"""Two api processes sharing the real Redis enforce one limit: the request bucket, the WebSocket
connection count, key revocation and erase all hold across processes (unique key prefix per run)."""

from __future__ import annotations

import asyncio
import json
import math
import os
import select
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from onchain.accounts.service import AccountsService
from onchain.config import Settings
from onchain.storage.store import Store

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[3]
LIMIT = 12  # requests per minute of the pro tier here: one token per 5 s refills during the test
CONNECTIONS = 2
PEPPER = "shared-pepper-for-two-api-processes-0123456789"


@dataclass
class Cluster:
    urls: list[str]
    settings: Settings

    async def user_key(self, name: str) -> tuple[str, str]:
        store = await Store.open(self.settings.resolved_database_url)
        try:
            accounts = AccountsService(self.settings, store.engine)
            user = await accounts.create_user(name, "pro")
            key, _ = await accounts.create_key(user, "test")
            return user.id, key
        finally:
            await store.close()


def _start(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.accounts.server"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=log.open("wb"),
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 60)
    line = process.stdout.readline() if ready else b""
    if not line.strip().isdigit():
        process.kill()
        raise RuntimeError(f"api process did not start: {log.read_text()[-2000:]}")
    return process, f"http://127.0.0.1:{int(line)}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("cluster")
    tiers = {"pro": {"requests_per_minute": LIMIT, "websocket_connections": CONNECTIONS}}
    env = os.environ | {
        "ONCHAIN_DATA_DIR": str(folder),
        "ONCHAIN_DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'shared.db'}",
        "ONCHAIN_REDIS_URL": redis_url,
        "ONCHAIN_REDIS_PREFIX": f"t{uuid.uuid4().hex[:12]}:",
        "ONCHAIN_API_KEY_PEPPER": PEPPER,
        "ONCHAIN_TIERS": json.dumps(tiers),
        "ONCHAIN_CONFIG": str(folder / "none.toml"),
    }
    (folder / "none.toml").write_text("")
    processes = []
    try:
        first, url_a = _start(env, folder / "a.log")  # the first one migrates the database
        processes.append(first)
        second, url_b = _start(env, folder / "b.log")
        processes.append(second)
        settings = Settings(
            data_dir=folder,
            database_url=env["ONCHAIN_DATABASE_URL"],
            api_key_pepper=PEPPER,
            tiers=tiers,
        )
        yield Cluster([url_a, url_b], settings)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


async def test_one_request_budget_across_two_processes(cluster: Cluster) -> None:
    _, key = await cluster.user_key("shared-rest")
    started = time.monotonic()
    statuses: dict[str, list[int]] = {url: [] for url in cluster.urls}
    async with httpx.AsyncClient(headers={"X-API-Key": key}, timeout=10) as client:
        for i in range(2 * LIMIT):
            url = cluster.urls[i % 2]
            statuses[url].append((await client.get(f"{url}/v2/chains")).status_code)
    elapsed = time.monotonic() - started
    allowed = sum(s.count(200) for s in statuses.values())
    # Separate buckets would allow 2 * LIMIT; one shared bucket allows LIMIT plus what refilled meanwhile.
    assert LIMIT <= allowed <= LIMIT + math.ceil(elapsed * LIMIT / 60)
    assert all(429 in s for s in statuses.values()), statuses
    assert {s for seq in statuses.values() for s in seq} == {200, 429}


async def test_one_connection_count_across_two_processes(cluster: Cluster) -> None:
    _, key = await cluster.user_key("shared-ws")
    a, b = (url.replace("http://", "ws://") + "/v2/realtime" for url in cluster.urls)
    headers = {"X-API-Key": key}
    async with connect(a, additional_headers=headers), connect(b, additional_headers=headers):
        for url in (a, b):
            with pytest.raises(InvalidStatus) as refused:
                await connect(url, additional_headers=headers, open_timeout=10)
            assert refused.value.response.status_code == 429


async def test_revoke_and_erase_reach_the_other_process(cluster: Cluster) -> None:
    _, key = await cluster.user_key("shared-erase")
    url_a, url_b = cluster.urls
    headers = {"X-API-Key": key}
    async with httpx.AsyncClient(headers=headers, timeout=10) as client:
        spare = (await client.post(f"{url_a}/v2/users/me/keys", json={"name": "spare"})).json()
        async with httpx.AsyncClient(headers={"X-API-Key": spare["key"]}, timeout=10) as spare_client:
            assert (await spare_client.get(f"{url_b}/v2/users/me")).status_code == 200  # B now caches it
            assert (await client.delete(f"{url_a}/v2/users/me/keys/{spare['id']}")).status_code == 204
            statuses = []
            for _ in range(100):  # B hears of the revocation over Redis, well before its cache expires
                statuses.append((await spare_client.get(f"{url_b}/v2/users/me")).status_code)
                if statuses[-1] == 401:
                    break
                await asyncio.sleep(0.01)
            assert statuses[-1] == 401

        ws_b = url_b.replace("http://", "ws://") + "/v2/realtime"
        async with connect(ws_b, additional_headers=headers, open_timeout=10) as ws:
            await ws.send('{"type": "ping"}')
            assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "pong"}
            erased = await client.delete(f"{url_a}/v2/users/me")
            assert erased.status_code == 200 and erased.json()["keys"] == 2
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_revoking_a_key_on_one_process_closes_its_websocket_on_the_other(cluster: Cluster) -> None:
    user_id, key = await cluster.user_key("shared-revoke-ws")
    url_a, url_b = cluster.urls
    store = await Store.open(cluster.settings.resolved_database_url)
    try:
        key_id = (await AccountsService(cluster.settings, store.engine).store.keys(user_id))[0].id
    finally:
        await store.close()
    ws_b = url_b.replace("http://", "ws://") + "/v2/realtime"
    async with connect(ws_b, additional_headers={"X-API-Key": key}, open_timeout=10) as ws:
        await ws.send('{"type": "subscribe", "channel": "alerts"}')
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "subscribed"
        async with httpx.AsyncClient(headers={"X-API-Key": key}, timeout=10) as client:
            assert (await client.delete(f"{url_a}/v2/users/me/keys/{key_id}")).status_code == 204
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
