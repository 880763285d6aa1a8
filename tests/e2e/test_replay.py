"""`onchain replay` as a user runs it (a subprocess) on recorded mainnet blocks: exact counts against an
independent count of the raw logs, amounts equal to eth_abi, idempotence, and crash safety."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from eth_abi import decode as abi_decode
from eth_hash.auto import keccak

from onchain.storage import Store
from tests.integration.storage.databases import dump, fresh_postgres

DATASET = "ethereum-etl-17173049"
WETH = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
USDT = "0xdac17f958d2ee523a2206206994597c13d831ec7"
UNISWAP_V2_FACTORY = "0x5c69bee701ef814a2b6a3edd4b1652cb9cc5aa6f"
PAIR_INIT_CODE_HASH = "96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f"

# Event signatures as the ABIs spell them, with the (topic count, data bytes) shape each has. Kept here,
# apart from the adapters, so the count below is independent of the decoder under test.
SIGNATURES: dict[str, tuple[str, int, int | None, str | None]] = {
    "erc20.Transfer": ("Transfer(address,address,uint256)", 3, 32, None),
    "erc20.Approval": ("Approval(address,address,uint256)", 3, 32, None),
    "weth.Deposit": ("Deposit(address,uint256)", 2, 32, WETH),
    "weth.Withdrawal": ("Withdrawal(address,uint256)", 2, 32, WETH),
    "uniswap_v2.Swap": ("Swap(address,uint256,uint256,uint256,uint256,address)", 3, 128, None),
    "uniswap_v2.Sync": ("Sync(uint112,uint112)", 1, 64, None),
    "uniswap_v3.Swap": ("Swap(address,address,int256,int256,uint160,uint128,int24)", 3, 160, None),
    "chainlink.AnswerUpdated": ("AnswerUpdated(int256,uint256,uint256)", 3, 32, None),
    "chainlink.NewTransmission": ("NewTransmission(uint32,int192,address,int192[],bytes,bytes32)", 2, None, None),
}


def topic(signature: str) -> str:
    return "0x" + keccak(signature.encode()).hex()


def raw_logs(chaindata: Path) -> list[dict[str, Any]]:
    text = (chaindata / DATASET / "logs.json").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def independent_counts(logs: list[dict[str, Any]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for kind, (signature, topic_count, data_size, emitter) in SIGNATURES.items():
        for log in logs:
            size = (len(log["data"]) - 2) // 2
            if (
                log["topics"]
                and log["topics"][0] == topic(signature)
                and len(log["topics"]) == topic_count
                and (data_size is None or size == data_size)
                and (emitter is None or log["address"] == emitter)
            ):
                counts[kind] += 1
    return counts


def onchain(*args: str, database_url: str, **kwargs: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "ONCHAIN_DATABASE_URL": database_url, "ONCHAIN_REDIS_URL": ""}
    return subprocess.Popen(
        [sys.executable, "-c", "from onchain.cli import main; main()", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def replay(path: Path, database_url: str, *extra: str) -> str:
    process = onchain("replay", str(path), *extra, database_url=database_url)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return out


async def dump_of(url: str) -> dict[str, list[tuple[Any, ...]]]:
    store = await Store.open(url)
    try:
        return await dump(store)
    finally:
        await store.close()


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "data" / "onchain.db")
        return
    async with fresh_postgres(request.getfixturevalue("postgres_url")) as url:
        yield url


async def test_replay_json_counts_every_decoded_log_exactly(chaindata: Path, database_url: str) -> None:
    out = await asyncio.to_thread(replay, chaindata / DATASET, database_url, "--max", "--json")
    report = json.loads(out)
    assert set(report) == {"blocks", "logs", "events", "protocols"}
    logs = raw_logs(chaindata)
    assert (report["blocks"], report["logs"]) == (2, len(logs)) == (2, 681)
    assert report["events"] == dict(independent_counts(logs))
    assert report["protocols"]["chainlink"] == report["events"]["chainlink.AnswerUpdated"] + report["events"][
        "chainlink.NewTransmission"
    ]
    store = await Store.open(database_url)
    try:
        assert await store.event_counts("ethereum") == report["events"]
        by_position = {(log["block_number"], log["log_index"]): log for log in logs}
        for event in await store.events("ethereum", kinds=["erc20.Transfer", "uniswap_v2.Swap"]):
            log = by_position[(event.block_number, event.log_index)]
            words = bytes.fromhex(log["data"][2:])
            if event.name == "Transfer":
                assert event.args["value"] == abi_decode(["uint256"], words)[0]
            else:
                assert [event.args[k] for k in ("amount0In", "amount1In", "amount0Out", "amount1Out")] == list(
                    abi_decode(["uint256"] * 4, words)
                )
        # The WETH/USDT pair is Uniswap V2's: CREATE2 from the factory and the two tokens gives its address.
        salt = keccak(bytes.fromhex(WETH[2:] + USDT[2:]))
        preimage = b"\xff" + bytes.fromhex(UNISWAP_V2_FACTORY[2:]) + salt + bytes.fromhex(PAIR_INIT_CODE_HASH)
        pair = "0x" + keccak(preimage)[12:].hex()
        pair_events = await store.events("ethereum", address=pair)
        assert len([e for e in pair_events if e.name == "Swap"]) == 5
        assert {e.protocol for e in pair_events} == {"uniswap-v2"}
    finally:
        await store.close()


async def test_replaying_twice_leaves_the_database_as_after_once(chaindata: Path, database_url: str) -> None:
    await asyncio.to_thread(replay, chaindata / DATASET, database_url, "--max")
    once = await dump_of(database_url)
    assert len(once["events"]) > 500 and len(once["blocks"]) == 2
    await asyncio.to_thread(replay, chaindata / DATASET, database_url, "--max")
    assert await dump_of(database_url) == once


async def test_killed_mid_replay_then_rerun_equals_one_clean_run(chaindata: Path, tmp_path: Path) -> None:
    clean_url = sqlite_url(tmp_path / "clean.db")
    await asyncio.to_thread(replay, chaindata / DATASET, clean_url, "--max")
    crashed_path = tmp_path / "crashed.db"
    # Real time is 12 s between the two recorded blocks; at 0.2x the second would come a minute later.
    process = onchain("replay", str(chaindata / DATASET), "--speed", "0.2", database_url=sqlite_url(crashed_path))
    try:
        deadline = time.monotonic() + 60
        while committed_block(crashed_path) != 17173049:
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "the first block was never committed"
            await asyncio.sleep(0.1)
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    await asyncio.to_thread(replay, chaindata / DATASET, sqlite_url(crashed_path), "--max")
    assert await dump_of(sqlite_url(crashed_path)) == await dump_of(clean_url)


def committed_block(path: Path) -> int | None:
    if not path.exists():
        return None
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
    try:
        row = connection.execute("SELECT block_number FROM cursors WHERE chain = 'ethereum'").fetchone()
    except sqlite3.OperationalError:  # the schema is not there yet
        return None
    finally:
        connection.close()
    return None if row is None else int(row[0])
