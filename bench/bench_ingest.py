"""Raw RPC JSON -> parse -> decode -> stored events, per second, into SQLite and PostgreSQL.

Input: the 681 recorded mainnet logs of blocks 17173049-17173050 (ethereum-etl export), turned into the
JSON a node sends (`eth_getBlockByNumber` header with transaction hashes, `eth_getLogs` with hex
quantities) and replicated over consecutive synthetic blocks (own numbers and hashes, parents chained)
until `--logs` logs exist (default 200,000). The timed path is the production one: a Source parsing the
raw JSON bytes (`onchain.sources.parse`), the `Pipeline` decoding (`Decoder`) and writing batches into
the `Store` (one transaction per batch with its cursor) and publishing to the in-process bus after each
commit. This range is a long load (`Store.bulk_load`): the events-by-address index is built once at
the end; on SQLite the batches go to the loader process (`onchain.storage.sqlite_loader`: executemany
in WAL mode, synchronous=NORMAL) while the event loop parses and decodes the next batch; on PostgreSQL
they are written with COPY.
Stage figures (parse only, decode only, store only) are printed beside the end-to-end one; stages run
with the pipeline's GC setting for bounded runs. Every figure is the median of `--runs` runs (fresh database each).

Run: `.venv/bin/python -m bench.bench_ingest [--logs N]`. PostgreSQL is measured when the server named
by ONCHAIN_TEST_POSTGRES_URL (default postgres@127.0.0.1:5432) answers; a scratch database is created
and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import hashlib
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from sqlalchemy.engine import make_url

from onchain.bus.memory import MemoryBus
from onchain.domain.chain import BlockBundle
from onchain.ingest.gc_tuning import BOUNDED_YOUNG_GENERATION, fewer_collections
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
    """A Source whose blocks arrive as raw JSON bytes and are parsed as the RPC source parses them.

    It yields to the event loop once per block, where a real source awaits the node's answer.
    """

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
            await asyncio.sleep(0)  # where a node's answer would be awaited: the pipeline's other tasks run
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


async def store_only(url: str, writes: list[BlockWrite], batch_logs: int) -> float:
    """Seconds to write the decoded blocks in the pipeline's batches (by log count), as a long load does."""
    store = await Store.open(url)
    try:
        batches: list[list[BlockWrite]] = [[]]
        logs = 0
        for write in writes:
            if logs >= batch_logs:
                batches.append([])
                logs = 0
            batches[-1].append(write)
            logs += len(write.bundle.logs)
        started = time.perf_counter()
        async with store.bulk_load():
            for batch in batches:
                await store.write_blocks(batch)
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


async def median_rate(count: int, runs: int, once: Callable[[int], Awaitable[float]]) -> float:
    """Median of `count / seconds` over `runs` calls of `once(run_number)`."""
    return statistics.median([count / await once(run) for run in range(runs)])


async def main(target_logs: int, runs: int) -> None:
    answers = raw_answers(target_logs)
    log_count = sum(len(orjson.loads(logs)) for _, logs in answers)
    decoder = Decoder("ethereum")
    writes: list[BlockWrite] = []

    async def parse_once(_run: int) -> float:
        with fewer_collections(BOUNDED_YOUNG_GENERATION):
            started = time.perf_counter()
            parse(answers)
            return time.perf_counter() - started

    async def decode_once(_run: int) -> float:
        # One decoder throughout: these blocks create no pools, so every run decodes the same way.
        bundles = parse(answers)
        with fewer_collections(BOUNDED_YOUNG_GENERATION):
            started = time.perf_counter()
            decoded = [BlockWrite(bundle, decoder.decode(bundle.logs).events) for bundle in bundles]
            seconds = time.perf_counter() - started
        writes[:] = decoded
        return seconds

    rows: list[tuple[str, float]] = [
        ("parse: raw JSON -> Log", await median_rate(log_count, runs, parse_once)),
        ("decode: Log -> Event", await median_rate(log_count, runs, decode_once)),
    ]
    events = sum(len(write.events) for write in writes)
    # The bench's own inputs (raw answers, decoded writes for the store stage) stay alive throughout; a process
    # ingesting from a node holds neither, so they are kept out of the collector's walks.
    gc.freeze()
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        backends: list[str] = ["sqlite"]
        if await scratch_postgres_ok():
            backends.append("postgresql")
        else:
            notes.append("postgresql: not reachable, skipped")
        for name in backends:

            async def store_once(run: int, name: str = name) -> float:
                async with scratch_database(name, Path(scratch), f"store{run}") as url:
                    with fewer_collections(BOUNDED_YOUNG_GENERATION):
                        return await store_only(url, writes, batch_logs=20_000)

            async def e2e_once(run: int, name: str = name) -> float:
                async with scratch_database(name, Path(scratch), f"e2e{run}") as url:
                    seconds, logs, stored = await end_to_end(url, answers)
                if logs != log_count or stored != events:
                    raise RuntimeError(f"{name}: {logs} logs, {stored} events stored; expected {log_count}, {events}")
                return seconds

            rows.append((f"store, {name}: Event -> rows", await median_rate(log_count, runs, store_once)))
            rows.append((f"end to end, {name}: raw JSON -> stored", await median_rate(log_count, runs, e2e_once)))

    print(f"input: {len(answers)} blocks, {log_count:,} logs ({events:,} decoded events) of raw JSON-RPC answers "
          f"({DATASET.name} replicated); median of {runs} runs")
    print(f"{'stage':<44} {'logs/s':>10}")
    for label, rate in rows:
        goal = "  (goal >= 100,000)" if label.startswith("end to end, sqlite") else ""
        print(f"{label:<44} {rate:>10,.0f}{goal}")
    print(f"end to end: the pipeline's event loop in this process; on SQLite the loader process writes beside "
          f"it (one core each), on PostgreSQL the server does; this machine has {os.cpu_count()} cores")
    for note in notes:
        print(note)


async def scratch_postgres_ok() -> bool:
    made = await scratch_postgres()
    if made is None:
        return False
    await drop_database(*made)
    return True


@contextlib.asynccontextmanager
async def scratch_database(backend: str, folder: Path, name: str) -> AsyncIterator[str]:
    """A fresh database URL for one run: a new SQLite file, or a scratch PostgreSQL database dropped after."""
    if backend == "sqlite":
        try:
            yield f"sqlite+aiosqlite:///{folder / name}.db"
        finally:  # deleted at once: the next run is not slowed by the kernel writing this one out
            for leftover in folder.glob(f"{name}.db*"):
                leftover.unlink()
        return
    made = await scratch_postgres()
    if made is None:
        raise RuntimeError("postgresql stopped answering")
    try:
        yield made[0]
    finally:
        await drop_database(*made)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--logs", type=int, default=200_000, help="how many logs to push through")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (the median is printed)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.logs, arguments.runs))
