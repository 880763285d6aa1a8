"""`onchain serve`: the platform in one process, or one role of it.

Roles: `api` serves REST, `/v2/realtime` and the dashboard from what is stored (with the market
service rebuilt from storage and following the bus); `ingest` follows every configured chain into
storage and the bus; `alerts` evaluates alert rules on the bus and works the delivery outbox (with
Redis, as many processes as wanted); `all` (default) does all three. A chain counts as configured
when onchain.toml has a `[chains.<slug>]` table or `ONCHAIN_<SLUG>_RPC_URLS` is set; with none,
`serve` serves what is stored, e.g. after `onchain replay`.

uvicorn, the services and the store are imported inside `serve`, so the other commands start without them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from enum import StrEnum
from typing import TYPE_CHECKING

import typer

from onchain.cli import app

if TYPE_CHECKING:
    from onchain.chains.registry import ChainRegistry
    from onchain.config import Settings

log = logging.getLogger(__name__)


class Role(StrEnum):
    all = "all"
    api = "api"
    ingest = "ingest"
    alerts = "alerts"


def configured_chains(settings: Settings, registry: ChainRegistry) -> list[str]:
    """Chains the operator asked us to follow: a `[chains.X]` table in onchain.toml or `ONCHAIN_X_RPC_URLS`."""
    chosen = {registry.get(slug).slug for slug in settings.chain_overrides}
    chosen.update(c.slug for c in registry if settings.chain_endpoints.get(f"{c.env_prefix}_RPC_URLS"))
    return sorted(chosen)


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def serve(settings: Settings, host: str, port: int, role: Role) -> None:
    import uvicorn

    from onchain.alerts.service import AlertService
    from onchain.analytics.mev.service import market_value_usd
    from onchain.analytics.service import AnalyticsService
    from onchain.api import create_app, uvicorn_config
    from onchain.api.deps import EndpointReporter
    from onchain.bus.redis import redis_client
    from onchain.metrics.service import MarketService
    from onchain.runtime import Runtime

    async with await Runtime.open(settings) as runtime:
        if role is Role.alerts:
            worker = AlertService(settings, runtime.store, runtime.bus, tokens=runtime.tokens)
            await worker.start()
            try:
                await _wait_for_signal()
            finally:
                await worker.stop()
            return
        rpc_clients: dict[str, EndpointReporter] = {}
        if role in (Role.all, Role.ingest):
            for chain in configured_chains(settings, runtime.chains):
                source = runtime.live_source(chain)
                rpc_clients[chain] = source.client
                runtime.start_ingest(source)
                log.info("following %s", chain)
        if role is Role.ingest:
            await _wait_for_signal()
            return
        redis = redis_client(settings.redis_url) if settings.redis_url else None
        market = MarketService(runtime.store, runtime.bus, redis=redis, redis_prefix=settings.redis_prefix)
        await market.start()
        runtime.mev.value_usd = market_value_usd(market)  # findings get profit_usd at the market's prices
        # Anomalies and protocol risk on the stream (bus topics `anomalies`, `risk`), for the API and alerts.
        analytics = await AnalyticsService.open(settings, market, runtime.bus)
        alerts = AlertService(settings, runtime.store, runtime.bus, tokens=runtime.tokens) if role is Role.all else None
        if alerts is not None:
            await alerts.start()
        try:
            api = create_app(settings, runtime, market=market, rpc_clients=rpc_clients, chains=runtime.chains)
            api.state.alerts = alerts
            api.state.analytics = analytics
            server = uvicorn.Server(uvicorn_config(api, host, port, log_level=settings.log_level.lower()))
            typer.echo(f"serving on http://{host}:{port}/ (docs at /docs, live at ws://{host}:{port}/v2/realtime)")
            await server.serve()
        finally:
            if alerts is not None:
                await alerts.stop()
            await analytics.stop()
            await market.stop()
            if redis is not None:
                await redis.aclose()


@app.command("serve")
def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to listen on."),
    role: Role = typer.Option(Role.all, "--role", help="all | api | ingest | alerts"),
) -> None:
    """Serve the REST API, /v2/realtime and the dashboard, and follow the configured chains."""
    from onchain.accounts.redact import redact_credentials_in_logs
    from onchain.config import load_settings

    settings = load_settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    redact_credentials_in_logs()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings, host, port, role))
