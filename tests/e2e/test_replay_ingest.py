"""`onchain ingest` over a real JSON-RPC server on loopback (the replay server), and `onchain db upgrade`:
the backfill stores what `onchain replay` stores, and a rerun resumes from the cursor."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from onchain.sources.replay import ReplayServer
from onchain.storage.migrate import head_revision
from tests.e2e.test_replay import DATASET, dump_of, replay, sqlite_url


async def run_cli(*args: str, env: dict[str, str]) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from onchain.cli import main; main()", *args,
        env={**os.environ, "ONCHAIN_REDIS_URL": "", **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_ingest_backfills_like_replay_and_resumes(chaindata: Path, tmp_path: Path) -> None:
    replayed = sqlite_url(tmp_path / "replayed.db")
    await asyncio.to_thread(replay, chaindata / DATASET, replayed, "--max")
    ingested = sqlite_url(tmp_path / "ingested.db")
    async with ReplayServer(chaindata / DATASET) as server:
        env = {"ONCHAIN_DATABASE_URL": ingested, "ONCHAIN_ETHEREUM_RPC_URLS": server.url}
        args = ("ingest", "--chain", "ethereum", "--from-block", "17173049", "--to-block", "17173050")
        first = await run_cli(*args, env=env)
        assert "ethereum: 2 blocks, 681 logs" in first
        once = await dump_of(ingested)
        again = await run_cli(*args, env=env)
        assert "ethereum: 0 blocks" in again
    assert await dump_of(ingested) == once == await dump_of(replayed)


async def test_db_upgrade_brings_a_new_database_to_the_head_revision(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "nested" / "fresh.db")
    out = await run_cli("db", "upgrade", env={"ONCHAIN_DATABASE_URL": url})
    assert out.strip() == f"database at revision {head_revision()}"
    assert (tmp_path / "nested" / "fresh.db").exists()
