"""`onchain mev inspect FILE...`: MEV found in recorded blocks, as JSON on stdout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

import typer

from onchain.cli import app
from onchain.errors import InputError, MalformedResponseError

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
    except RecursionError:
        _fail(f"{path} is not a recorded block: its JSON is nested too deeply")
    if not isinstance(data, dict):
        _fail(f"{path} is not a recorded block (expected a JSON object)")
    number = data.get("block_number")
    if type(number) is not int or number < 0 or not isinstance(data.get("traces"), list):
        _fail(f"{path} is not a recorded block (expected an integer block_number and a traces list)")
    return data


def _fail(message: str) -> NoReturn:
    raise InputError(message)


@mev_app.command("inspect")
def inspect_command(
    files: list[Path] = typer.Argument(..., help="Recorded block JSON files (block_number, traces, receipts)."),
) -> None:
    """Find sandwiches, arbitrages and liquidations in recorded blocks and print them as JSON."""
    from onchain.analytics.mev import inspect_recorded_block

    blocks = []
    for path in files:
        block = _load(path)
        typer.echo(f"inspecting block {block['block_number']} ({path.name})", err=True)
        try:
            blocks.append(inspect_recorded_block(block).to_json())
        except MalformedResponseError as exc:
            _fail(f"{path} is not a recorded block: {exc}")
    typer.echo(json.dumps({"blocks": blocks}, indent=2))
