"""MEV as a user meets it: `onchain replay` of the recorded MEV blocks, then `onchain serve` answers
`GET /v2/analytics/mev` (analytics: a key of the pro tier) with exactly what `onchain mev inspect`
prints for the same files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.cli import onchain, serving

LISTS = {"sandwich": "sandwiches", "arbitrage": "arbitrages", "liquidation": "liquidations"}


def environment(database_url: str, cwd: Path) -> dict[str, str]:
    return {**os.environ, "ONCHAIN_DATABASE_URL": database_url, "ONCHAIN_REDIS_URL": "",
            "ONCHAIN_DATA_DIR": str(cwd / "data")}


def run(*args: str, database_url: str, cwd: Path) -> str:
    process = onchain(*args, env=environment(database_url, cwd), cwd=cwd)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return out




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




async def test_served_findings_equal_inspect_output(chaindata: Path, store_url: str, tmp_path: Path) -> None:
    folder = chaindata / "mev-inspect-blocks"
    files = sorted(str(path) for path in folder.glob("*.json"))
    printed = json.loads(run("mev", "inspect", *files, database_url=store_url, cwd=tmp_path))["blocks"]
    # 10921990.json records block 10921991 again, so the CLI prints that block twice; the chain holds it once.
    expected = {b["block"]: b for b in printed if b["sandwiches"] or b["arbitrages"] or b["liquidations"]}

    for _ in range(2):  # a second replay rewrites the same blocks: nothing may be stored twice
        report = json.loads(run("replay", str(folder), "--max", "--json", database_url=store_url, cwd=tmp_path))
        assert report["blocks"] == 26

    key = run("keys", "create", "--user", "mev-reader", "--tier", "pro", database_url=store_url, cwd=tmp_path)
    key = key.strip()

    with serving(environment(store_url, tmp_path), cwd=tmp_path) as base:
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
