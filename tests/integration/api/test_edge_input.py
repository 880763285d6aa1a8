"""Out-of-range and hostile input at the HTTP edge, over one real keep-alive connection to uvicorn.

The server holds recorded mainnet blocks 17173049-50 (SQLite and PostgreSQL). Every request here is
a client mistake: it must be a 422 with a short body, never a 500 or 503, and never cost the client
its connection; no Host header may shape a redirect.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest

from onchain.api import create_app
from onchain.bus import MemoryBus
from onchain.config import Settings
from onchain.metrics.service import MarketService
from onchain.runtime import Runtime
from onchain.sources.replay import ReplaySource
from onchain.storage.store import Store
from tests.integration.api.conftest import serving

JWT_SECRET = "edge-input-test-secret-0123456789abcdef"
SEARCHER = "ethereum:0x6b75d8af000000e20b7a7ddf000ba900b4009a80"
TIMEOUT = 10


def bearer() -> str:
    claims = {"sub": "edge-tester", "aud": "onchain-services", "tier": "enterprise", "exp": int(time.time()) + 3600}
    return "Bearer " + jwt.encode(claims, JWT_SECRET, algorithm="HS256")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def error_code(self) -> str:
        return str(json.loads(self.body)["error"]["code"])


class Connection:
    """One HTTP/1.1 connection, requests sent one after another on it; fails if the server closes it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    async def request(self, method: str, path: str, body: Any = None, host: str | None = None) -> Answer:
        payload = b"" if body is None else json.dumps(body).encode()
        head = [f"{method} {path} HTTP/1.1", f"Host: {host or self.host}", f"Authorization: {bearer()}",
                f"Content-Length: {len(payload)}", "Content-Type: application/json"]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        await self.writer.drain()
        raw = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        status_line, *lines = raw.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        content = await asyncio.wait_for(self.reader.readexactly(int(headers.get("content-length", "0"))), TIMEOUT)
        assert headers.get("connection", "").lower() != "close", (path, status_line)
        return Answer(int(status_line.split()[1]), headers, content)


@pytest.fixture
async def connection(store_url: str, tmp_path: Path, chaindata: Path) -> AsyncIterator[Connection]:
    settings = Settings(data_dir=tmp_path, jwt_secret=JWT_SECRET)
    runtime = Runtime(settings, await Store.open(store_url), MemoryBus())
    try:
        source = ReplaySource(chaindata / "ethereum-etl-17173049")
        try:
            await (await runtime.pipeline(source, allow_gaps=True)).run(17173049, 17173050)
        finally:
            await source.close()
        market = MarketService(runtime.store)
        await market.rebuild()
        async with serving(create_app(settings, runtime, market=market)) as address:
            host, port = address.split(":")
            reader, writer = await asyncio.open_connection(host, int(port))
            try:
                yield Connection(reader, writer, address)
            finally:
                writer.close()
    finally:
        await runtime.close()


def query(path: str, **params: Any) -> str:
    return f"{path}?{urlencode(params)}"


async def test_time_parameters_out_of_range_are_422(connection: Connection) -> None:
    metrics = "/v2/protocols/uniswap-v2/metrics"
    for params in ({"start": 253402300800}, {"start": 10**22}, {"end": 253402300800}, {"end": -1}):
        answer = await connection.request("GET", query(metrics, interval="block", **params))
        assert answer.status == 422 and answer.error_code() == "invalid_request", (params, answer)
    # The last second a datetime holds is fine on both databases.
    assert (await connection.request("GET", query(metrics, interval="block", start=253402300799))).status == 200
    rule = {"subject": {"type": "wallet", "id": SEARCHER}, "condition": "mev_detected", "threshold": 0}
    for window in ({"from": 10**22}, {"to": 2**63}, {"from": -5}):
        answer = await connection.request("POST", "/v2/alerts/backtest", {"rule": rule, **window})
        assert answer.status == 422, (window, answer)


async def test_block_and_cursor_parameters_out_of_range_are_422(connection: Connection) -> None:
    mev = "/v2/analytics/mev"
    cursors = ["12345678901234567890123:ethereum:sandwich:0", f"{2**63}:ethereum:sandwich:0",
               f"17173050:ethereum:sandwich:{2**31}", "-1:ethereum:sandwich:0"]
    for params in ({"from_block": 2**63}, {"to_block": 10**22}, *({"cursor": cursor} for cursor in cursors)):
        answer = await connection.request("GET", query(mev, **params))
        assert answer.status == 422, (params, answer)
        assert answer.error_code() in ("invalid_request", "invalid_cursor"), (params, answer)
    assert (await connection.request("GET", query(mev, from_block=2**63 - 1))).status == 200


async def test_malformed_and_internal_webhook_urls_are_422(connection: Connection) -> None:
    malformed = ["http://a..b/", f"http://{'a' * 64}.example/", "http://x:65536/",
                 "http://x:99999999999999999999999/", "http://x:0/"]
    internal = ["http://[::7f00:1]/", "http://[::127.0.0.1]/", "http://[64:ff9b::7f00:1]/",
                "http://[64:ff9b::a9fe:a9fe]/", "http://[2002:7f00:1::]/",
                "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "http://[64:ff9b:1::a9fe:a9fe]/"]
    for url in malformed + internal:
        body = {"name": "hook", "subject": {"type": "wallet", "id": SEARCHER}, "condition": "mev_detected",
                "threshold": 0, "channels": [{"type": "webhook", "url": url}]}
        answer = await connection.request("POST", "/v2/alerts", body)
        assert answer.status == 422, (url, answer)
        assert answer.error_code() == ("invalid_rule" if url in malformed else "webhook_refused"), (url, answer)
    assert json.loads((await connection.request("GET", "/v2/alerts")).body) == {"alerts": []}


async def test_echoed_input_is_truncated(connection: Connection) -> None:
    coins = "ethereum:" + "z" * 60_000
    answer = await connection.request("GET", query("/v2/realtime/prices", coins=coins))
    assert answer.status == 422 and answer.error_code() == "invalid_coin_id"
    assert len(answer.body) < 400 and "60009 characters" in json.loads(answer.body)["error"]["message"]
    answer = await connection.request("GET", "/v2/protocols/" + "x" * 60_000)
    assert answer.status == 422 and len(answer.body) < 400


async def test_redirects_ignore_the_host_header(connection: Connection) -> None:
    for path, location in (("/v2/protocols/", "/v2/protocols"), ("/v2/chains/?x=1", "/v2/chains?x=1")):
        answer = await connection.request("GET", path, host="evil.example")
        assert answer.status == 307 and answer.headers["location"] == location, (path, answer)
        assert (await connection.request("GET", location)).status == 200
