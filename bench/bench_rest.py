"""REST: requests/s and latency of `GET /v2/realtime/prices` on recorded mainnet prices.

The server (the real app, market state rebuilt from two replayed mainnet blocks) is pinned to one
core; the load generator runs in its own process on the other, over keep-alive HTTP/1.1
connections. Two runs: open loop at `--rate` requests/s (latency counted from when each request was
due, so queueing shows), then closed loop as fast as the connections go (the most it serves).

    python -m bench.bench_rest [--rate 2000] [--duration 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.bench_ws import LOADGEN_CORE, SERVER_CORE, bench_settings, cpu_seconds, free_port, pin, run_fast

CHAINDATA = Path(__file__).resolve().parents[1].parent / "shared" / "chaindata" / "ethereum-etl-17173049"
PATH = "/v2/realtime/prices"


def serve(port: int, ready: Any) -> None:
    pin(SERVER_CORE)
    import uvicorn

    from onchain.api import create_app, uvicorn_config
    from onchain.bus import MemoryBus
    from onchain.ingest.pipeline import Pipeline
    from onchain.metrics.service import MarketService
    from onchain.protocols.registry import Decoder
    from onchain.sources.replay import ReplaySource
    from onchain.storage.store import Store

    @dataclass
    class BenchRuntime:
        store: Store
        bus: MemoryBus

    async def main() -> None:
        data = Path(tempfile.mkdtemp(prefix="bench-rest-"))
        runtime = BenchRuntime(await Store.open(f"sqlite+aiosqlite:///{data / 'bench.db'}"), MemoryBus())
        source = ReplaySource(CHAINDATA)
        try:
            pipeline = Pipeline("ethereum", source, Decoder("ethereum"), runtime.store, runtime.bus, allow_gaps=True)
            await pipeline.run(17173049, 17173050)
        finally:
            await source.close()
        market = MarketService(runtime.store)
        await market.rebuild()
        app = create_app(bench_settings(data), runtime, market=market)

        @app.get("/bench/cpu", include_in_schema=False)
        async def cpu() -> dict[str, float]:
            return {"cpu": cpu_seconds()}

        server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", port, backlog=4096))
        ready.set()
        await server.serve()

    asyncio.run(main())


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: send a GET, wait for the whole answer."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"content-length:")
        length = int(head[at + 15 : head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else None]) if at >= 0 else 0
        if len(self.buffer) >= end + 4 + length:
            status = int(self.buffer[9:12])
            del self.buffer[: end + 4 + length]
            waiter, self.waiter = self.waiter, None
            waiter.set_result(status)

    async def get(self, request: bytes) -> int:
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter


@dataclass
class Run:
    name: str
    sent: int
    ok: int
    seconds: float
    latencies_ms: list[float]
    cpu: float

    def line(self) -> str:
        lat = sorted(self.latencies_ms) or [float("nan")]
        p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        return (f"{self.name:<22} {self.ok / self.seconds:>10,.0f} {p50:>8.2f} {p99:>8.2f} "
                f"{self.sent - self.ok:>7} {self.cpu:>8.0%}")


def load(port: int, rate: float, duration: float, connections: int, results: Any) -> None:
    pin(LOADGEN_CORE)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        pool = [
            (await loop.create_connection(Connection, "127.0.0.1", port))[1] for _ in range(connections)
        ]
        request = f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        for connection in pool:  # warm up
            await connection.get(request)

        async def open_loop() -> Run:
            queue: asyncio.Queue[float] = asyncio.Queue()
            latencies: list[float] = []
            ok = 0
            total = int(rate * duration)

            async def worker(connection: Connection) -> None:
                nonlocal ok
                while True:
                    due = await queue.get()
                    status = await connection.get(request)
                    latencies.append((time.perf_counter() - due) * 1000)
                    ok += status == 200
                    queue.task_done()

            workers = [asyncio.create_task(worker(c)) for c in pool]
            cpu, start = cpu_seconds(), time.perf_counter()
            for i in range(total):
                due = start + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                queue.put_nowait(due)
            await queue.join()
            elapsed = time.perf_counter() - start
            for task in workers:
                task.cancel()
            return Run(f"open loop {rate:,.0f}/s", total, ok, elapsed, latencies,
                       (cpu_seconds() - cpu) / elapsed)

        async def closed_loop() -> Run:
            latencies: list[float] = []
            counts = [0, 0]
            stop = time.perf_counter() + duration / 2

            async def worker(connection: Connection) -> None:
                while time.perf_counter() < stop:
                    sent = time.perf_counter()
                    status = await connection.get(request)
                    latencies.append((time.perf_counter() - sent) * 1000)
                    counts[0] += 1
                    counts[1] += status == 200

            cpu, start = cpu_seconds(), time.perf_counter()
            await asyncio.gather(*(worker(c) for c in pool))
            elapsed = time.perf_counter() - start
            return Run("closed loop (max)", counts[0], counts[1], elapsed, latencies, (cpu_seconds() - cpu) / elapsed)

        results.put([await open_loop(), await closed_loop()])

    run_fast(main())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=2000.0, help="open-loop requests/s (goal: p99 < 20 ms at 2000)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of the open-loop run")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections")
    args = parser.parse_args(argv)
    if not CHAINDATA.is_dir():
        print(f"recorded data not found at {CHAINDATA}; skipping")
        return 0
    ctx = mp.get_context("spawn")
    port, ready, results = free_port(), ctx.Event(), ctx.Queue()
    server = ctx.Process(target=serve, args=(port, ready), daemon=True)
    server.start()
    try:
        ready.wait(120)
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        import httpx

        before = httpx.get(f"http://127.0.0.1:{port}/bench/cpu").json()["cpu"]
        wall = time.time()
        loader = ctx.Process(target=load, args=(port, args.rate, args.duration, args.connections, results))
        loader.start()
        runs = results.get(timeout=args.duration * 3 + 120)
        loader.join(30)
        server_cpu = (httpx.get(f"http://127.0.0.1:{port}/bench/cpu").json()["cpu"] - before) / (time.time() - wall)
    finally:
        server.terminate()
        server.join(10)
    print(f"GET {PATH} (every priced coin, recorded mainnet state): server pinned to core {SERVER_CORE}, "
          f"load generator to core {LOADGEN_CORE}, {args.connections} keep-alive connections")
    print(f"{'run':<22} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'gen CPU':>8}")
    for run in runs:
        print(run.line())
    print(f"server CPU over both runs: {server_cpu:.0%} of one core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
