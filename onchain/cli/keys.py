"""`onchain keys create|list|revoke`: the operator's way to hand out and withdraw API keys.

The accounts service and the store are imported inside the commands, so `onchain --help` and the
other commands start without SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

import typer

from onchain.accounts.tier_names import TIER_NAMES
from onchain.cli import app
from onchain.errors import InputError

if TYPE_CHECKING:
    from onchain.accounts.service import AccountsService

keys_app = typer.Typer(help="API keys: create (printed once), list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

T = TypeVar("T")


def _run(work: Callable[[AccountsService], Awaitable[T]]) -> T:
    """Open the configured database (migrating it), run `work` with an accounts service, close."""
    from onchain.accounts.service import AccountsService
    from onchain.config import load_settings
    from onchain.runtime import open_bus
    from onchain.storage.store import Store

    async def main() -> T:
        settings = load_settings()
        store = await Store.open(settings.resolved_database_url)
        # With Redis, a revocation reaches running api processes at once (their caches, open sockets).
        bus = open_bus(settings) if settings.redis_url else None
        service = AccountsService(settings, store.engine, bus)
        try:
            return await work(service)
        finally:
            await service.stop()
            if bus is not None:
                await bus.close()
            await store.close()

    return asyncio.run(main())


def _when(seconds: float | None) -> str:
    return "-" if seconds is None else datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@keys_app.command("create")
def create(
    user: str = typer.Option(..., "--user", help="User name; created on first use."),
    tier: str = typer.Option("free", "--tier", help=f"One of {', '.join(TIER_NAMES)}."),
    name: str = typer.Option("default", "--name", help="A label for the key."),
    allow: list[str] = typer.Option([], "--allow", help="CIDR this key may be used from (repeat; enterprise)."),
) -> None:
    """Create an API key for USER and print it. It is shown this once; only its hash is stored."""
    from onchain.accounts.allowlist import InvalidCidr
    from onchain.accounts.names import check_name
    from onchain.accounts.service import QuotaError
    from onchain.accounts.tiers import IP_ALLOWLIST

    if tier not in TIER_NAMES:
        raise InputError(f"--tier must be one of {', '.join(TIER_NAMES)}, got {tier!r}")
    check_name("--user", user)
    check_name("--name", name)

    async def work(service: AccountsService) -> tuple[str, bool]:
        if allow and not service.tiers[tier].allows(IP_ALLOWLIST):
            raise InputError(f"--allow needs a tier with IP allowlists, not {tier}")
        existing = await service.store.user_by_name(user)
        if existing is None:
            existing = await service.create_user(user, tier)
        elif await service.change_tier(existing.id, tier, actor="cli"):
            existing = await service.store.user(existing.id) or existing
        try:
            key, _record = await service.create_key(existing, name, allow, actor="cli")
        except (InvalidCidr, QuotaError) as exc:
            raise InputError(str(exc)) from exc
        return key, existing.tier == tier

    key, _ = _run(work)
    typer.echo(key)
    typer.secho(f"key for {user} ({tier}); store it now, it cannot be shown again", err=True, fg=typer.colors.YELLOW)


@keys_app.command("list")
def list_keys(
    user: str | None = typer.Option(None, "--user", help="Only this user's keys."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Keys (never the keys themselves: id, display prefix, owner, tier, state)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from onchain.accounts.names import printable

    async def work(service: AccountsService) -> list[dict[str, object]]:
        owner_id = None
        if user is not None:
            found = await service.store.user_by_name(user)
            if found is None:
                raise InputError(f"no user named {user!r}")
            owner_id = found.id
        rows = []
        for record in await service.store.keys(owner_id):
            owner = await service.store.user(record.user_id)
            rows.append(
                {
                    **record.to_json(),
                    "user": owner.name if owner else record.user_id,
                    "tier": owner.tier if owner else None,
                }
            )
        return rows

    rows = _run(work)
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    table = Table(title=f"{len(rows)} keys")
    for column in ("id", "prefix", "user", "tier", "name", "allowed", "created", "last used", "state"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["id"]),
            str(row["prefix"]) + "...",
            Text(printable(str(row["user"]))),  # Text: a name is never read as markup
            str(row["tier"]),
            Text(printable(str(row["name"]))),
            ",".join(row["allowedCidrs"]) or "any",  # type: ignore[arg-type]
            _when(row["createdAt"]),  # type: ignore[arg-type]
            _when(row["lastUsedAt"]),  # type: ignore[arg-type]
            "active" if row["active"] else f"revoked {_when(row['revokedAt'])}",  # type: ignore[arg-type]
        )
    Console().print(table)


@keys_app.command("revoke")
def revoke(key_id: str = typer.Argument(..., help="The key's id, as `onchain keys list` shows it.")) -> None:
    """Revoke a key. Running api processes stop accepting it within seconds and close its WebSocket
    connections within a minute (both at once with Redis)."""

    async def work(service: AccountsService) -> bool:
        return await service.revoke_key(key_id, None, actor="cli") is not None

    if not _run(work):
        raise InputError(f"no key with id {key_id!r}")
    typer.echo(f"revoked {key_id}")
