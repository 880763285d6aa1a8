"""MEV as a user meets it: `onchain replay` of the recorded MEV blocks, then `onchain serve` answers
`GET /v2/analytics/mev` (analytics: a key of the pro tier) with exactly what `onchain mev inspect`
prints for the same files."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.storage.databases import fresh_postgres

LISTS = {"sandwich": "sandwiches", "arbitrage": "arbitrages", "liquidation": "liquidations"}


def onchain(*args: str, database_url: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "ONCHAIN_DATABASE_URL": database_url, "ONCHAIN_REDIS_URL": "",
           "ONCHAIN_DATA_DIR": str(cwd / "data")}
    return subprocess.Popen(
        [sys.executable, "-c", "from onchain.cli import main; main()", *args],
        env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def run(*args: str, database_url: str, cwd: Path) -> str:
    process = onchain(*args, database_url=database_url, cwd=cwd)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return out


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(database_url: str, cwd: Path) -> Iterator[str]:
    """`onchain serve` on a free loopback port (no chain configured: it serves what is stored)."""
    port = free_port()
    process = onchain("serve", "--port", str(port), database_url=database_url, cwd=cwd)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()[1]
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code in (200, 503):
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "onchain serve did not answer /health"
            time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def all_findings(base: str, key: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of `GET /v2/analytics/mev`, following `next`."""
    rows: list[dict[str, Any]] = []
    query = {**params, "limit": 10}
    while True:
        response = httpx.get(f"{base}/v2/analytics/mev", params=query, headers={"X-API-Key": key}, timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        rows.extend(body["findings"])
        if body["next"] is None:
            return rows
        query["cursor"] = body["next"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'data' / 'onchain.db'}"
        return
    async with fresh_postgres(request.getfixturevalue("postgres_url")) as url:
        yield url


async def test_served_findings_equal_inspect_output(chaindata: Path, database_url: str, tmp_path: Path) -> None:
    folder = chaindata / "mev-inspect-blocks"
    files = sorted(str(path) for path in folder.glob("*.json"))
    printed = json.loads(run("mev", "inspect", *files, database_url=database_url, cwd=tmp_path))["blocks"]
    # 10921990.json records block 10921991 again, so the CLI prints that block twice; the chain holds it once.
    expected = {b["block"]: b for b in printed if b["sandwiches"] or b["arbitrages"] or b["liquidations"]}

    for _ in range(2):  # a second replay rewrites the same blocks: nothing may be stored twice
        report = json.loads(run("replay", str(folder), "--max", "--json", database_url=database_url, cwd=tmp_path))
        assert report["blocks"] == 26

    key = run("keys", "create", "--user", "mev-reader", "--tier", "pro", database_url=database_url, cwd=tmp_path)
    key = key.strip()

    with serving(database_url, tmp_path) as base:
        rows = all_findings(base, key, chain="ethereum")
        sandwiches = all_findings(base, key, kind="sandwich", from_block=12775690, to_block=12775690)
        bad = httpx.get(f"{base}/v2/analytics/mev", params={"kind": "frontrun"}, headers={"X-API-Key": key},
                        timeout=10)

    served: dict[int, dict[str, Any]] = {}
    for row in rows:
        assert row["chain"] == "ethereum" and isinstance(row["timestamp"], int)
        block = served.setdefault(row["block"], {"block": row["block"], "sandwiches": [], "arbitrages": [],
                                                 "liquidations": []})
        # `onchain replay` runs no price engine, so every profit_usd is null; inspect prints none.
        assert row["profit_usd"] is None
        block[LISTS[row["kind"]]].append({k: v for k, v in row.items()
                                          if k not in ("chain", "block", "timestamp", "kind", "profit_usd")})
    assert served == expected
    # The four-victim sandwich of 12775690, its profit exact to the wei through JSON.
    [sandwich] = sandwiches
    assert sandwich["profit_amount"] == 49991481915322274 and len(sandwich["victim_txs"]) == 4
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_kind"
