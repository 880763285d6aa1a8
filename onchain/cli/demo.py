"""`onchain demo`: a local devnet with live traffic, ingested and served by the whole platform.

What `make run` starts. anvil mines a block every `--block-time` seconds; the traffic generator fills
each block with swaps, liquidity changes and oracle updates; the devnet is followed by the same RPC
source and pipeline as any chain (newHeads over WebSocket, decode, store, publish), and the API serves
what is stored on `--port`. Each start uses a fresh database for the devnet chain, since every start
is a new chain that reuses the old block numbers.

The devnet, uvicorn, the services and the store are imported inside the functions that run the demo,
so the other commands start without them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import Counter
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from onchain.cli import app
from onchain.errors import ConfigError

if TYPE_CHECKING:
    from onchain.alerts.service import AlertService
    from onchain.analytics.service import AnalyticsService
    from onchain.bus.base import Subscription
    from onchain.config import Settings
    from onchain.devnet.deployment import Deployment, Devnet, DevnetPool
    from onchain.domain.events import Event
    from onchain.runtime import Runtime

log = logging.getLogger(__name__)

DEMO_DATABASE = "demo.db"


@dataclass(frozen=True, slots=True)
class DemoOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    block_time: float = 1.0
    tx_per_block: int = 6
    seed: int = 7
    quiet: bool = False


@app.command("demo")
def demo_command(
    port: int = typer.Option(8000, "--port", help="Port of the API and dashboard."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface the API listens on."),
    block_time: float = typer.Option(1.0, "--block-time", min=0.1, help="Seconds between devnet blocks."),
    tx_per_block: int = typer.Option(6, "--tx-per-block", min=0, help="Random user actions per block."),
    seed: int = typer.Option(7, "--seed", help="Seed of the traffic generator (same seed, same trades)."),
    quiet: bool = typer.Option(False, "--quiet", help="Do not print a line per ingested block."),
) -> None:
    """Start a devnet (anvil with Uniswap V2, WETH, tokens and price feeds), traffic on it, and the platform.

    Ingests the devnet into a fresh database (./data/demo.db unless ONCHAIN_DATABASE_URL is set) and
    serves the API on --host/--port. Ctrl-C stops everything, anvil included.
    """
    from onchain.accounts.redact import redact_credentials_in_logs
    from onchain.config import load_settings

    options = DemoOptions(host, port, block_time, tx_per_block, seed, quiet)
    settings = load_settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    redact_credentials_in_logs()
    # Every devnet transaction is an HTTP request; at INFO httpx would log each one.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_demo(settings, options))


def demo_settings(settings: Settings, deployment: Deployment) -> Settings:
    """The settings with the devnet factory added, and a fresh SQLite file unless a database is configured."""
    factories = [*settings.factories, deployment.factory_config()]
    update: dict[str, Any] = {"factories": factories}
    if not settings.database_url:
        update["database_url"] = f"sqlite+aiosqlite:///{(settings.data_dir / DEMO_DATABASE).as_posix()}"
    return settings.model_copy(update=update)


def remove_demo_database(settings: Settings) -> None:
    """Delete the previous demo's SQLite file (and its WAL files): that devnet chain is gone."""
    if settings.database_url:
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{settings.data_dir / DEMO_DATABASE}{suffix}").unlink(missing_ok=True)


def check_port_free(host: str, port: int) -> None:
    """Fail before starting anything when the API port is taken (uvicorn would exit mid-way)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port") from exc


async def run_demo(settings: Settings, options: DemoOptions) -> None:
    """Run until cancelled (Ctrl-C) or until the API server stops; always stops anvil."""
    from onchain.devnet.deployment import Devnet
    from onchain.runtime import Runtime

    check_port_free(options.host, options.port)
    remove_demo_database(settings)
    async with Devnet(mining="interval", block_time=options.block_time) as devnet:
        deployment = devnet.deployment
        assert deployment is not None
        settings = demo_settings(settings, deployment)
        async with await Runtime.open(settings) as runtime:
            await _register_devnet(runtime, deployment)
            await _serve(settings, runtime, devnet, deployment, options)


async def _register_devnet(runtime: Runtime, deployment: Deployment) -> None:
    """Forget any devnet chain stored before (a configured database outlives devnets); know its tokens."""
    from onchain.devnet.deployment import DEVNET_CHAIN
    from onchain.protocols.tokens import TokenInfo
    from onchain.storage.records import TokenRecord

    await runtime.store.rollback_after(DEVNET_CHAIN, -1)
    tokens = list(deployment.tokens.values())
    for token in tokens:
        runtime.tokens.add(TokenInfo(DEVNET_CHAIN, token.address, token.symbol, token.decimals))
    await runtime.store.upsert_tokens(
        TokenRecord(DEVNET_CHAIN, t.address, t.symbol, t.decimals, t.name) for t in tokens
    )


async def _serve(
    settings: Settings, runtime: Runtime, devnet: Devnet, deployment: Deployment, options: DemoOptions
) -> None:
    from onchain.alerts.service import AlertService
    from onchain.analytics.mev.service import market_value_usd
    from onchain.analytics.service import AnalyticsService
    from onchain.bus.redis import redis_client
    from onchain.metrics.service import MarketService

    redis = redis_client(settings.redis_url) if settings.redis_url else None
    market = MarketService(
        runtime.store, runtime.bus, redis=redis, redis_prefix=settings.redis_prefix, tokens=runtime.tokens
    )
    market.configure_devnet(deployment)
    await market.start()
    runtime.mev.value_usd = market_value_usd(market)  # findings get profit_usd at the market's prices
    analytics = await AnalyticsService.open(settings, market, runtime.bus)
    alerts = AlertService(settings, runtime.store, runtime.bus, tokens=runtime.tokens)
    await alerts.start()
    try:
        await _run(settings, runtime, devnet, deployment, options, market, analytics, alerts)
    finally:
        await alerts.stop()
        await analytics.stop()
        await market.stop()
        if redis is not None:
            await redis.aclose()


async def _run(
    settings: Settings,
    runtime: Runtime,
    devnet: Devnet,
    deployment: Deployment,
    options: DemoOptions,
    market: Any,
    analytics: AnalyticsService,
    alerts: AlertService,
) -> None:
    """Ingest, API, traffic (and the block printer) side by side until one of them ends or we are cancelled."""
    import uvicorn

    from onchain.api.app import create_app, uvicorn_config
    from onchain.devnet.deployment import DEVNET_CHAIN
    from onchain.devnet.traffic import TrafficGenerator
    from onchain.sources.jsonrpc import JsonRpcClient
    from onchain.sources.rpc import RpcSource

    client = JsonRpcClient([devnet.rpc_url])
    ws_url = devnet.rpc_url.replace("http://", "ws://", 1)
    # anvil answers trace_block, so MEV is detected from call traces as on a tracing mainnet node.
    source = RpcSource(DEVNET_CHAIN, client, ws_url=ws_url, poll_interval=max(0.2, options.block_time / 2), traces=True)
    api = create_app(settings, runtime, market=market, rpc_clients={DEVNET_CHAIN: client}, chains=runtime.chains)
    api.state.analytics = analytics
    api.state.alerts = alerts
    server = uvicorn.Server(uvicorn_config(api, options.host, options.port, log_level=settings.log_level.lower()))
    traffic = TrafficGenerator(devnet, seed=options.seed, tx_per_block=options.tx_per_block)
    printer = None if options.quiet else await BlockPrinter.subscribe(runtime, deployment)
    tasks: dict[str, asyncio.Task[Any]] = {}
    try:
        tasks["ingest"] = runtime.start_ingest(source, start=0)
        tasks["api"] = asyncio.create_task(server.serve(), name="demo-api")
        tasks["traffic"] = asyncio.create_task(traffic.run(), name="demo-traffic")
        if printer is not None:
            tasks["printer"] = asyncio.create_task(printer.run(), name="demo-printer")
        while not server.started and not tasks["api"].done():
            await asyncio.sleep(0.05)
        if server.started:
            _print_banner(settings, deployment, options)
        done, _ = await asyncio.wait(tasks.values(), return_when=asyncio.FIRST_COMPLETED)
        for name, task in tasks.items():
            if task in done and not task.cancelled() and task.exception() is not None:
                typer.secho(f"demo: {name} stopped: {task.exception()}", fg=typer.colors.RED, err=True)
    finally:
        typer.echo("stopping: api, traffic, ingest, devnet")
        server.should_exit = True
        await _finish(tasks.pop("api", None), timeout=5.0)
        for task in tasks.values():
            task.cancel()
        for task in tasks.values():
            await _finish(task)
        if printer is not None:
            await printer.close()


async def _finish(task: Awaitable[Any] | None, timeout: float | None = None) -> None:
    """Wait for a task to end, swallowing its cancellation or failure (already reported)."""
    if task is None:
        return
    # uvicorn ends with SystemExit when it cannot start; that must not skip the rest of the shutdown.
    with contextlib.suppress(asyncio.CancelledError, Exception, SystemExit):
        await asyncio.wait_for(task, timeout)


def _price(value: float) -> str:
    return f"{value:,.2f}" if value >= 100 else f"{value:.5g}"


def _pair_name(pool: DevnetPool) -> str:
    return f"{pool.token0.symbol}/{pool.token1.symbol}"


def _banner_lines(settings: Settings, deployment: Deployment, options: DemoOptions) -> Iterator[str]:
    api = f"http://{options.host}:{options.port}"
    yield "onchain demo is running"
    yield f"  API        {api}/  (docs {api}/docs, health {api}/health, prices {api}/v2/realtime/prices)"
    yield f"  WebSocket  ws://{options.host}:{options.port}/v2/realtime"
    yield (
        f"  devnet     {deployment.rpc_url}  (anvil, chain id {deployment.chain_id}, a block every "
        f"{options.block_time:g}s, {options.tx_per_block} actions per block, seed {options.seed})"
    )
    yield f"  database   {settings.resolved_database_url}"
    yield f"  factory    {deployment.factory}  Uniswap V2, init code hash {deployment.init_code_hash}"
    for token in deployment.tokens.values():
        yield f"  token      {token.address}  {token.symbol} ({token.decimals} decimals)"
    for pool in deployment.pools:
        yield f"  pool       {pool.address}  {_pair_name(pool)}"
    for feed in deployment.feeds:
        yield f"  feed       {feed.address}  {feed.description}"
    yield "Press Ctrl-C to stop."


def _print_banner(settings: Settings, deployment: Deployment, options: DemoOptions) -> None:
    for line in _banner_lines(settings, deployment, options):
        typer.echo(line)


class BlockPrinter:
    """One line per ingested block: swaps per pair with the pair's price after them, and feed answers."""

    def __init__(self, deployment: Deployment, events: Subscription) -> None:
        self.pools = {pool.address: pool for pool in deployment.pools}
        self.feeds = {feed.address: feed for feed in deployment.feeds}
        self.events = events

    @classmethod
    async def subscribe(cls, runtime: Runtime, deployment: Deployment) -> BlockPrinter:
        from onchain.domain.topics import EVENTS

        return cls(deployment, await runtime.bus.subscribe(EVENTS))

    async def run(self) -> None:
        from onchain.devnet.deployment import DEVNET_CHAIN
        from onchain.domain.topics import EventsBatch

        async for message in self.events:
            payload = message.json()
            if payload.get("chain") != DEVNET_CHAIN:
                continue
            batch = EventsBatch.decode(payload)
            by_block: dict[int, list[Event]] = {}
            for event in batch.events:
                by_block.setdefault(event.block_number, []).append(event)
            for number in range(batch.from_block, batch.to_block + 1):
                typer.echo(self.describe(number, by_block.get(number, [])))

    async def close(self) -> None:
        await self.events.close()

    def describe(self, number: int, events: list[Event]) -> str:
        """`block N 0xhash  K events  swaps: WETH/USDC x2 @ 3,012.41, ...  feeds: ETH / USD 3,011.20`."""
        if not events:
            return f"block {number:>6}  no events"
        swaps: Counter[str] = Counter()
        prices: dict[str, float] = {}
        answers: dict[str, float] = {}
        for event in events:
            pool = self.pools.get(event.address)
            kind = event.kind
            if pool is not None and kind == "uniswap_v2.Swap":
                swaps[pool.address] += 1
            elif pool is not None and kind == "uniswap_v2.Sync":
                args = event.args
                if args["reserve0"] > 0:
                    ratio = args["reserve1"] / args["reserve0"]
                    prices[pool.address] = ratio * 10.0 ** (pool.token0.decimals - pool.token1.decimals)
            elif kind == "chainlink.AnswerUpdated" and event.address in self.feeds:
                feed = self.feeds[event.address]
                answers[feed.description] = event.args["current"] / 10.0**feed.decimals
        parts = [f"block {number:>6} {events[0].block_hash[:12]}  {len(events):>3} events"]
        if swaps:
            described = []
            for address, count in sorted(swaps.items(), key=lambda item: _pair_name(self.pools[item[0]])):
                price = f" @ {_price(prices[address])}" if address in prices else ""
                described.append(f"{_pair_name(self.pools[address])} x{count}{price}")
            parts.append("swaps: " + ", ".join(described))
        if answers:
            parts.append("feeds: " + ", ".join(f"{name} {_price(value)}" for name, value in sorted(answers.items())))
        return "  ".join(parts)
