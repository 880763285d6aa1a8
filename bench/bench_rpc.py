"""RPC source throughput on recorded mainnet data, over a real loopback HTTP JSON-RPC server.

Figures: raw node JSON -> checked BlockBundles (parse only, no I/O), the full replay path (local
JSON-RPC server + client batches + parse), and client round trips per second for single calls
and batched calls. Input: block 18000000 (94 transactions, 291 logs) and the two ethereum-etl
blocks 17173049-17173050 (298 transactions, 681 logs).
Run: `.venv/bin/python -m bench.bench_rpc`.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from onchain.sources.jsonrpc import JsonRpcClient
from onchain.sources.parse import build_bundle
from onchain.sources.replay import ReplayServer, ReplaySource
from onchain.sources.replay_data import load_recording

ROOT = Path(__file__).resolve().parents[1]
CHAINDATA = Path(os.environ.get("ONCHAIN_CHAINDATA", ROOT.parent / "shared" / "chaindata"))


def bench_parse(rounds: int = 20) -> None:
    recorded = load_recording(CHAINDATA / "erigon-rpc-tests")
    block, receipts = recorded.blocks[18_000_000], recorded.receipts[18_000_000]
    started = time.perf_counter()
    for _ in range(rounds):
        bundle = build_bundle("ethereum", block, receipts=receipts)
    elapsed = time.perf_counter() - started
    logs = len(bundle.logs) * rounds
    print(f"parse (block + receipts -> bundle): {rounds / elapsed:,.0f} blocks/s, {logs / elapsed:,.0f} logs/s")


async def bench_replay(rounds: int = 10) -> None:
    path = CHAINDATA / "ethereum-etl-17173049"
    async with ReplaySource(path) as source:
        started = time.perf_counter()
        logs = 0
        for _ in range(rounds):
            logs += sum([len(b.logs) async for b in source.bundles(0)])
        elapsed = time.perf_counter() - started
    print(f"replay over loopback JSON-RPC: {2 * rounds / elapsed:,.1f} blocks/s, {logs / elapsed:,.0f} logs/s")


async def bench_round_trips(calls: int = 300) -> None:
    async with ReplayServer(CHAINDATA / "ethereum-etl-17173049") as server, JsonRpcClient([server.url]) as rpc:
        started = time.perf_counter()
        for _ in range(calls):
            await rpc.call("eth_blockNumber")
        single = calls / (time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(calls // 100):
            await rpc.batch([("eth_blockNumber", [])] * 100)
        batched = (calls // 100) * 100 / (time.perf_counter() - started)
    print(f"client calls: {single:,.0f}/s one per request, {batched:,.0f}/s in batches of 100")


def main() -> None:
    bench_parse()
    asyncio.run(bench_replay())
    asyncio.run(bench_round_trips())


if __name__ == "__main__":
    main()
