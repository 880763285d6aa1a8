"""Alert evaluation throughput with 100,000 active rules, on one core; end-to-end latency on the devnet.

Rules sit on 10,000 coins (10 each): 9 threshold rules (price_below / price_above, served by the sorted
index) and 1 rule read one by one (price_change_pct over an hour, or an `all` of two conditions).
Prices random-walk around each coin's start like block-by-block market updates; every update is a bus
message shaped like the market service's (`{"id", "value", "timestamp", "change24h", "block"}`) and goes
through the engine's translation as well as the rule book. Prints updates evaluated per second.

Then, when anvil is installed: the devnet's WETH feed is pushed across a `price_below` rule again and
again, and the time from the crossing block being ingested (its `blocks` bus message, sent after commit)
to the signed webhook arriving at a receiver on 127.0.0.1 is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import tempfile
import time
from pathlib import Path

from onchain.alerts.book import RuleBook
from onchain.alerts.engine import observations
from onchain.alerts.records import Condition, Observation, Rule

COINS = 10_000
RULES_PER_COIN = 10


def coin(i: int) -> str:
    return f"ethereum:0x{i:040x}"


def build_book(rng: random.Random, generic: bool) -> tuple[RuleBook, list[float]]:
    book = RuleBook()
    starts = [rng.uniform(1.0, 5000.0) for _ in range(COINS)]
    for i, start in enumerate(starts):
        subject = coin(i)
        for j in range(RULES_PER_COIN):
            rule_id = f"r{i}-{j}"
            if generic and j == RULES_PER_COIN - 1:
                if i % 2:
                    conditions: tuple[Condition, ...] = (Condition("price_change_pct", -5.0, 3600),)
                    rule = Rule(rule_id, "coin", subject, conditions)
                else:
                    conditions = (Condition("price_below", start * 0.97), Condition("price_change_pct", -2.0, 3600))
                    rule = Rule(rule_id, "coin", subject, conditions, "all")
            else:
                name = "price_below" if j % 2 else "price_above"
                threshold = start * (1 + rng.uniform(-0.05, 0.05))
                rule = Rule(rule_id, "coin", subject, (Condition(name, threshold),), cooldown=300)
            book.add(rule)
    return book, starts


def updates(rng: random.Random, starts: list[float], count: int) -> list[dict[str, object]]:
    prices = list(starts)
    out: list[dict[str, object]] = []
    for n in range(count):
        i = rng.randrange(COINS)
        prices[i] *= 1 + rng.gauss(0, 0.004)
        block = 19_000_000 + n // 500
        out.append(
            {
                "id": coin(i),
                "value": prices[i],
                "timestamp": 1_700_000_000 + n // 500 * 12,
                "change24h": None,
                "block": block,
                "chain": "ethereum",
            }
        )
    return out


def run(generic: bool, count: int, seed: int) -> None:
    rng = random.Random(seed)
    started = time.perf_counter()
    book, starts = build_book(rng, generic)
    built = time.perf_counter() - started
    messages = updates(rng, starts, count)
    parsed: list[Observation] = [obs for message in messages for obs in observations("prices", message)]

    fired = 0
    t0 = time.perf_counter()
    for obs in parsed:
        fired += len(book.observe(obs))
    book_rate = count / (time.perf_counter() - t0)

    book2, _ = build_book(random.Random(seed), generic)
    t0 = time.perf_counter()
    for message in messages:
        for obs in observations("prices", message):
            book2.observe(obs)
    engine_rate = count / (time.perf_counter() - t0)

    label = "9 threshold + 1 change/composite per coin" if generic else "10 threshold rules per coin"
    print(f"rules: {len(book):,} on {COINS:,} coins ({label}); index built in {built:.2f} s")
    print(f"  rule book only:          {book_rate:,.0f} updates/s ({fired:,} firings over {count:,} updates)")
    print(f"  with message decoding:   {engine_rate:,.0f} updates/s")


async def _receiver(arrivals: asyncio.Queue[float]) -> tuple[asyncio.Server, str]:
    """A bare HTTP endpoint on 127.0.0.1 that notes when each POST arrives and answers 204."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                await reader.readexactly(length)
                arrivals.put_nowait(time.perf_counter())
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/hook"


async def devnet_latency(crossings: int) -> None:
    from onchain.alerts.engine import announce_rule_change
    from onchain.alerts.rule_schema import RuleIn
    from onchain.alerts.service import AlertService
    from onchain.bus.memory import MemoryBus
    from onchain.config import Settings
    from onchain.devnet.anvil import find_anvil
    from onchain.devnet.deployment import ARTIFACTS, DEVNET_CHAIN, Devnet
    from onchain.devnet.traffic import TrafficGenerator
    from onchain.devnet.wallet import calldata
    from onchain.ingest.pipeline import Pipeline
    from onchain.metrics.service import MarketService
    from onchain.protocols.registry import Decoder
    from onchain.sources.jsonrpc import JsonRpcClient
    from onchain.sources.rpc import RpcSource
    from onchain.storage.store import Store

    if crossings <= 0:
        return
    if find_anvil() is None or not (ARTIFACTS / "PriceFeed.json").exists():
        print("end-to-end latency: skipped (anvil or devnet contracts missing; run `make install`)")
        return
    arrivals: asyncio.Queue[float] = asyncio.Queue()
    server, url = await _receiver(arrivals)
    with tempfile.TemporaryDirectory() as tmp:
        async with Devnet(mining="manual") as devnet:
            deployment = devnet.deployment
            weth = f"{DEVNET_CHAIN}:{deployment.weth.address}"
            store = await Store.open(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
            bus = MemoryBus()
            market = MarketService(store, bus)
            market.configure_devnet(deployment)
            service = AlertService(Settings(data_dir=Path(tmp), webhook_allow_private=True), store, bus)
            blocks = await bus.subscribe("blocks")
            await market.start()
            await service.start()
            await TrafficGenerator(devnet, seed=3, tx_per_block=2).run(steps=2)
            source = RpcSource(DEVNET_CHAIN, JsonRpcClient([devnet.rpc_url]), poll_interval=0.02)
            decoder = Decoder(DEVNET_CHAIN, factories=[deployment.factory_config()])
            pipeline = Pipeline(DEVNET_CHAIN, source, decoder, store, bus, batch_delay=0.0)
            ingest = asyncio.create_task(pipeline.run(0, None))
            ingested: dict[int, float] = {}

            async def wait_ingested(number: int) -> float:
                while number not in ingested:
                    message = (await blocks.get(timeout=30)).json()
                    ingested[int(message["number"])] = time.perf_counter()
                return ingested[number]

            try:
                while weth not in market.state.prices:
                    await asyncio.sleep(0.02)
                price = market.state.prices[weth].price_usd
                rule = RuleIn.model_validate(
                    {
                        "name": "bench",
                        "subject": {"type": "coin", "id": weth},
                        "condition": "price_below",
                        "threshold": price * 0.9,
                        "channels": [{"type": "webhook", "url": url}],
                    }
                )
                alert = await service.store.create_alert("bench", rule, time.time())
                await announce_rule_change(bus, "upsert", alert.id)
                while alert.id not in service.engine.book:
                    await asyncio.sleep(0.01)
                feed = next(f for f in deployment.feeds if f.base == deployment.weth.symbol)
                latencies: list[float] = []
                for _ in range(crossings):
                    for factor, fires in ((0.8, True), (1.0, False)):
                        answer = round(price * factor * 10**feed.decimals)
                        update = calldata("updateAnswer(int256)", answer)
                        [receipt] = await devnet.transact([(deployment.deployer, feed.address, update, 200_000, 0)])
                        at = await wait_ingested(int(receipt["blockNumber"], 16))
                        if fires:
                            latencies.append((await asyncio.wait_for(arrivals.get(), 30) - at) * 1000)
            finally:
                ingest.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await ingest
                await source.close()
                await blocks.close()
                await service.stop()
                await market.stop()
                await store.close()
                server.close()
    latencies.sort()
    p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
    print(
        f"end-to-end, block ingested -> signed webhook received ({len(latencies)} crossings on the devnet): "
        f"median {statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms, max {latencies[-1]:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--crossings", type=int, default=20)
    args, _ = parser.parse_known_args()
    print("alert evaluation, one core, goal >= 100,000 updates/s with 100,000 active rules")
    run(False, args.updates, args.seed)
    run(True, args.updates, args.seed)
    asyncio.run(devnet_latency(args.crossings))


if __name__ == "__main__":
    main()
