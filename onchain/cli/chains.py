"""`onchain chains`: the chain registry."""

from __future__ import annotations

import json

import typer

from onchain.cli import app


@app.command("chains")
def chains_command(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List the EVM chains this platform knows (id, name, native coin, block time, RPC endpoints)."""
    from rich.console import Console
    from rich.table import Table

    from onchain.chains import ChainRegistry
    from onchain.config import load_settings

    registry = ChainRegistry.load(load_settings())
    if as_json:
        typer.echo(json.dumps([chain.to_json() for chain in registry], indent=1))
        return
    table = Table(title=f"{len(registry)} chains")
    for column in ("id", "slug", "name", "native", "block s", "rpc"):
        table.add_column(column, justify="right" if column in ("id", "block s") else "left")
    for chain in registry:
        block_time = "-" if chain.block_time is None else f"{chain.block_time:g}"
        first_rpc = chain.rpc_urls[0] if chain.rpc_urls else "-"
        more = f" (+{len(chain.rpc_urls) - 1})" if len(chain.rpc_urls) > 1 else ""
        table.add_row(str(chain.chain_id), chain.slug, chain.name, chain.native_symbol, block_time, first_rpc + more)
    Console().print(table)
