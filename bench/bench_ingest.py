"""Raw RPC JSON -> parse -> decode -> stored events, per second, into SQLite and PostgreSQL.

Input: the 681 recorded mainnet logs of blocks 17173049-17173050 (ethereum-etl export), turned into the
JSON a node sends (`eth_getBlockByNumber` header with transaction hashes, `eth_getLogs` with hex
quantities) and replicated over consecutive synthetic blocks (own numbers and hashes, parents chained)
until `--logs` logs exist (default 200,000). The timed path is the production one: a Source parsing the
raw JSON bytes (`onchain.sources.parse`), the `Pipeline` decoding (`Decoder`) and writing batches into
the `Store` (one transaction per batch, bulk inserts: executemany on SQLite in WAL mode with
synchronous=NORMAL, COPY on PostgreSQL) and publishing to the in-process bus after each commit.
Stage figures (parse only, decode only, store only) are printed beside the end-to-end one.

Run: `.venv/bin/python -m bench.bench_ingest [--logs N]`. PostgreSQL is measured when the server named
by ONCHAIN_TEST_POSTGRES_URL (default postgres@127.0.0.1:5432) answers; a scratch database is created
and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from sqlalchemy.engine import make_url

from onchain.bus.memory import MemoryBus
from onchain.domain.chain import BlockBundle
from onchain.ingest.pipeline import Pipeline
from onchain.protocols.registry import Decoder
from onchain.sources.parse import build_bundle
from onchain.storage.records import BlockWrite
from onchain.storage.store import Store

ROOT = Path(__file__).resolve().parents[1]
CHAINDATA = Path(os.environ.get("ONCHAIN_CHAINDATA", ROOT.parent / "shared" / "chaindata"))
DATASET = CHAINDATA / "ethereum-etl-17173049"
POSTGRES_URL = os.environ.get("ONCHAIN_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
FIRST_BLOCK = 30_000_000


def _rows(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATASET / name).read_text().splitlines() if line.strip()]


def raw_answers(target_logs: int) -> list[tuple[bytes, bytes]]:
    """(block JSON, logs JSON) per synthetic block, as a node would answer, until `target_logs` logs."""
    blocks = sorted(_rows("blocks.json"), key=lambda row: row["number"])
    logs_by_block: dict[int, list[dict[str, Any]]] = {}
    for row in _rows("logs.json"):
        logs_by_block.setdefault(row["block_number"], []).append(row)
    tx_hashes: dict[int, list[str]] = {}
    for row in sorted(_rows("transactions.json"), key=lambda row: row["transaction_index"]):
        tx_hashes.setdefault(row["block_number"], []).append(row["hash"])
    answers: list[tuple[bytes, bytes]] = []
    parent = "0x" + "00" * 32
    total = 0
    while total < target_logs:
        template = blocks[len(answers) % len(blocks)]
        number = FIRST_BLOCK + len(answers)
        block_hash = "0x" + hashlib.sha256(f"bench-{number}".encode()).hexdigest()
        block = {
            "number": hex(number),
            "hash": block_hash,
            "parentHash": parent,
            "timestamp": hex(template["timestamp"] + 12 * len(answers)),
            "miner": template["miner"],
            "baseFeePerGas": hex(template["base_fee_per_gas"]),
            "gasUsed": hex(template["gas_used"]),
            "transactions": tx_hashes.get(template["number"], []),
        }
        logs = [
            {
                "address": log["address"],
                "topics": log["topics"],
                "data": log["data"],
                "blockNumber": hex(number),
                "blockHash": block_hash,
                "transactionHash": log["transaction_hash"],
                "transactionIndex": hex(log["transaction_index"]),
                "logIndex": hex(log["log_index"]),
                "removed": False,
            }
            for log in logs_by_block.get(template["number"], [])
        ]
        answers.append((orjson.dumps(block), orjson.dumps(logs)))
        total += len(logs)
        parent = block_hash
    return answers


def parse(answers: list[tuple[bytes, bytes]]) -> list[BlockBundle]:
    return [build_bundle("ethereum", orjson.loads(block), logs=orjson.loads(logs)) for block, logs in answers]


class RawJsonSource:
    """A Source whose blocks arrive as raw JSON bytes and are parsed as the RPC source parses them."""

    chain = "ethereum"

    def __init__(self, answers: list[tuple[bytes, bytes]]) -> None:
        self.answers = answers

    async def head(self) -> int:
        return FIRST_BLOCK + len(self.answers) - 1

    async def block_hash(self, number: int) -> str | None:
        block = orjson.loads(self.answers[number - FIRST_BLOCK][0])
        return str(block["hash"])

    async def bundles(self, start: int, end: int | None = None) -> AsyncIterator[BlockBundle]:
        last = FIRST_BLOCK + len(self.answers) - 1 if end is None else end
        for block, logs in self.answers[start - FIRST_BLOCK : last - FIRST_BLOCK + 1]:
            yield build_bundle("ethereum", orjson.loads(block), logs=orjson.loads(logs))

    async def close(self) -> None:
        return None


async def end_to_end(url: str, answers: list[tuple[bytes, bytes]]) -> tuple[float, int, int]:
    """Seconds for the whole pipeline into a fresh database, with logs and events stored."""
    store = await Store.open(url)
    try:
        source = RawJsonSource(answers)
        pipeline = Pipeline("ethereum", source, Decoder("ethereum"), store, MemoryBus())
        started = time.perf_counter()
        stats = await pipeline.run(FIRST_BLOCK, FIRST_BLOCK + len(answers) - 1, resume=False)
        elapsed = time.perf_counter() - started
        stored = sum((await store.event_counts("ethereum")).values())
        return elapsed, stats.logs, stored
    finally:
        await store.close()


async def store_only(url: str, writes: list[BlockWrite], batch_blocks: int) -> float:
    store = await Store.open(url)
    try:
        started = time.perf_counter()
        for first in range(0, len(writes), batch_blocks):
            await store.write_blocks(writes[first : first + batch_blocks])
        return time.perf_counter() - started
    finally:
        await store.close()


async def scratch_postgres() -> tuple[str, str] | None:
    """(URL of a new scratch database, admin DSN) when the server answers, else None."""
    url = make_url(POSTGRES_URL)
    admin_dsn = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    try:
        admin = await asyncpg.connect(admin_dsn, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None
    name = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return url.set(database=name).render_as_string(hide_password=False), admin_dsn


async def drop_database(url: str, admin_dsn: str) -> None:
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await admin.close()


async def main(target_logs: int) -> None:
    answers = raw_answers(target_logs)
    log_count = sum(len(orjson.loads(logs)) for _, logs in answers)
    print(f"input: {len(answers)} blocks, {log_count:,} logs of raw JSON-RPC answers ({DATASET.name} replicated)")

    started = time.perf_counter()
    bundles = parse(answers)
    parse_seconds = time.perf_counter() - started
    decoder = Decoder("ethereum")
    started = time.perf_counter()
    writes = [BlockWrite(bundle, decoder.decode(bundle.logs).events) for bundle in bundles]
    decode_seconds = time.perf_counter() - started
    events = sum(len(write.events) for write in writes)
    print(f"parse only:  {log_count / parse_seconds:>12,.0f} logs/s")
    print(f"decode only: {log_count / decode_seconds:>12,.0f} logs/s ({events:,} events)")

    with tempfile.TemporaryDirectory() as scratch:
        backends: list[tuple[str, str, str | None]] = [
            ("sqlite", f"sqlite+aiosqlite:///{Path(scratch) / 'e2e.db'}", None),
        ]
        store_urls = {"sqlite": f"sqlite+aiosqlite:///{Path(scratch) / 'store.db'}"}
        pg = await scratch_postgres()
        pg_store = await scratch_postgres() if pg is not None else None
        if pg is not None and pg_store is not None:
            backends.append(("postgresql", pg[0], pg[1]))
            store_urls["postgresql"] = pg_store[0]
        else:
            print("postgresql: not reachable, skipped")
        try:
            for name, url, _admin in backends:
                seconds = await store_only(store_urls[name], writes, batch_blocks=250)
                print(f"{name} store only: {log_count / seconds:>12,.0f} logs/s")
                seconds, logs, stored = await end_to_end(url, answers)
                print(
                    f"{name} raw JSON -> parse -> decode -> stored: {logs / seconds:>10,.0f} logs/s "
                    f"({stored:,} events stored in {seconds:.2f} s)"
                )
        finally:
            if pg is not None:
                await drop_database(*pg)
            if pg_store is not None:
                await drop_database(*pg_store)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--logs", type=int, default=200_000, help="how many logs to push through")
    asyncio.run(main(parser.parse_args().logs))
