"""`onchain replay`, `onchain ingest` and `onchain db upgrade`: data in through the one pipeline.

The pipeline, storage and source modules are imported inside the commands, so `onchain --help` and
the other commands start without SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from onchain.cli import app

if TYPE_CHECKING:
    from onchain.config import Settings
    from onchain.ingest.stats import IngestStats
    from onchain.sources.base import Source

db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade_command() -> None:
    """Apply pending migrations to the configured database (ONCHAIN_DATABASE_URL, default ./data/onchain.db)."""
    from onchain.config import load_settings
    from onchain.storage.store import Store

    settings = load_settings()

    async def upgrade() -> str | None:
        store = await Store.open(settings.resolved_database_url, migrate_schema=False)
        try:
            return await store.upgrade_schema()
        finally:
            await store.close()

    revision = asyncio.run(upgrade())
    typer.echo(f"database at revision {revision}")


@app.command("replay")
def replay_command(
    path: Path = typer.Argument(..., exists=True, help="Recorded data: an ethereum-etl export folder or files."),
    speed: float | None = typer.Option(
        None, "--speed", min=0.001, help="Times the recorded chain's pace (default 1: real time)."
    ),
    max_speed: bool = typer.Option(False, "--max", help="As fast as possible."),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
    chain: str = typer.Option(
        "ethereum", "--chain", help="Chain the recording belongs to (name or id from `onchain chains`)."
    ),
) -> None:
    """Push recorded chain data through the real pipeline (decode, store, publish) into the configured database.

    Replaying a recording again rewrites the same rows: the database ends as after one replay.
    """
    from onchain.config import load_settings

    if max_speed and speed is not None:
        raise typer.BadParameter("give --speed or --max, not both")
    stats = asyncio.run(_replay(load_settings(), path, chain, None if max_speed else (speed or 1.0)))
    if as_json:
        typer.echo(json.dumps(stats.summary()))
    else:
        _print_summary(stats)


async def _replay(settings: Settings, path: Path, chain: str, speed: float | None) -> IngestStats:
    """The recording is read and checked whole before the database is opened: a bad file stores nothing."""
    from onchain.chains import ChainRegistry
    from onchain.ingest.pacing import Paced
    from onchain.ingest.stats import IngestStats
    from onchain.runtime import Runtime
    from onchain.sources.replay import ReplaySource

    slug = ChainRegistry.load(settings).get(chain).slug
    replay = ReplaySource(path, chain=slug)
    async with await Runtime.open(settings) as runtime:
        numbers = replay.numbers
        source: Source = replay if speed is None else Paced(replay, speed)
        try:
            if not numbers:
                return IngestStats()
            pipeline = await runtime.pipeline(source, allow_gaps=True)
            return await pipeline.run(numbers[0], numbers[-1], resume=False)
        finally:
            await source.close()


def _print_summary(stats: IngestStats) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(
        f"replayed [bold]{stats.blocks}[/] blocks "
        f"({stats.first_block}..{stats.last_block}), {stats.logs} logs, {sum(stats.events.values())} events"
    )
    for title, counts in (("event", stats.events), ("protocol", stats.protocols)):
        table = Table(title=f"decoded events per {title}")
        table.add_column(title)
        table.add_column("events", justify="right")
        for key, count in sorted(counts.items()):
            table.add_row(key, str(count))
        console.print(table)
    if stats.skipped:
        console.print(f"logs with a known signature that did not decode: {dict(stats.skipped)}")


@app.command("ingest")
def ingest_command(
    chain: str = typer.Option(..., "--chain", help="Chain name or id from `onchain chains`."),
    from_block: int = typer.Option(..., "--from-block", min=0),
    to_block: int = typer.Option(..., "--to-block", min=0),
) -> None:
    """Backfill a block range from the chain's RPC endpoints. Resumable: a rerun continues after the last
    committed block when that block lies inside the range."""
    from onchain.config import load_settings

    if to_block < from_block:
        raise typer.BadParameter("--to-block must not be below --from-block")
    stats = asyncio.run(_ingest(load_settings(), chain, from_block, to_block))
    typer.echo(
        f"{chain}: {stats.blocks} blocks, {stats.logs} logs, {sum(stats.events.values())} events stored"
        + (f", {stats.reorgs} reorgs" if stats.reorgs else "")
    )


async def _ingest(settings: Settings, chain: str, from_block: int, to_block: int) -> IngestStats:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from onchain.runtime import Runtime

    async with await Runtime.open(settings) as runtime:
        info = runtime.chains.get(chain)
        source = runtime.live_source(info.slug)
        cursor = await runtime.store.cursor(info.slug)
        resumed = cursor is not None and from_block <= cursor.block_number <= to_block
        first = cursor.block_number + 1 if cursor is not None and resumed else from_block
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rates]}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, transient=False) as progress:
            task = progress.add_task(f"{info.slug} {from_block}..{to_block}", total=to_block - from_block + 1,
                                     completed=first - from_block, rates="")
            started = time.monotonic()

            def advance(stats: IngestStats) -> None:
                elapsed = max(time.monotonic() - started, 1e-6)
                done = (stats.last_block or first - 1) - from_block + 1
                rates = f"{stats.blocks / elapsed:,.1f} blocks/s {stats.logs / elapsed:,.0f} logs/s"
                progress.update(task, completed=done, rates=rates)

            try:
                pipeline = await runtime.pipeline(source, on_commit=advance)
                return await pipeline.run(from_block, to_block)
            finally:
                await source.close()

