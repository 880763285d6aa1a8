"""The `onchain` command line. Each command group lives in its own module and registers here."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

from onchain import __version__
from onchain.errors import OnchainError

app = typer.Typer(
    name="onchain",
    help="Self-hostable real-time on-chain data: decoded DeFi events, prices, TVL, streaming, alerts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """onchain-services command line."""


def _register_commands() -> None:
    # Each module adds its commands to `app` when imported.
    from onchain.cli import commands  # noqa: F401


def main(args: Sequence[str] | None = None) -> None:
    """Entry point: render our errors as one clear line and a non-zero exit, never a traceback.

    `args` is the command line after the program name (default: the process's), so tests can run a command
    in-process through this same rendering.
    """
    _register_commands()
    try:
        app(args=args)
    except OnchainError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(1)
