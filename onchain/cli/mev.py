"""`onchain mev inspect FILE...`: MEV found in recorded blocks, as JSON on stdout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

import typer

from onchain.analytics.mev import inspect_recorded_block
from onchain.cli import app
from onchain.errors import InputError

mev_app = typer.Typer(help="MEV detection: sandwiches, arbitrages, liquidations.", no_args_is_help=True)
app.add_typer(mev_app, name="mev")


def _load(path: Path) -> dict[str, Any]:
    """Read one recorded block, or stop with one clear line naming the file and what is wrong."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror or exc}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        _fail(f"{path} is not JSON: {exc}")
    if not isinstance(data, dict) or "block_number" not in data or not isinstance(data.get("traces"), list):
        _fail(f"{path} is not a recorded block (expected an object with block_number and a traces list)")
    return data


def _fail(message: str) -> NoReturn:
    raise InputError(message)


@mev_app.command("inspect")
def inspect_command(
    files: list[Path] = typer.Argument(..., help="Recorded block JSON files (block_number, traces, receipts)."),
) -> None:
    """Find sandwiches, arbitrages and liquidations in recorded blocks and print them as JSON."""
    blocks = []
    for path in files:
        block = _load(path)
        typer.echo(f"inspecting block {block['block_number']} ({path.name})", err=True)
        blocks.append(inspect_recorded_block(block).to_json())
    typer.echo(json.dumps({"blocks": blocks}, indent=2))
