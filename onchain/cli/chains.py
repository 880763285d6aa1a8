"""`onchain chains`: the chain registry."""

from __future__ import annotations

import typer

from onchain.cli import app


@app.command("chains")
def chains_command(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List the EVM chains this platform knows (id, name, native coin, block time, RPC endpoints)."""
    raise typer.Exit(0)
