"""WebSocket fan-out: `/v2/realtime` against a plain FastAPI broadcast loop, measured in one run.

Three processes: the server (ours, then the baseline) pinned to one core; a load generator holding
every client connection pinned to the other; this orchestrator. The server publishes updates on a
schedule (ours through the in-process bus, as ingest does), each stamped with the wall-clock time it
was due; clients record delivery latency against that stamp, so a server that falls behind shows
it. Phases:
- fan-out: N clients, each receiving `--rate` updates/s, one update every 1/rate s (no coalescing help);
- max: M clients, growing per-client rates delivered in 20 ms ticks (coalescing allowed), until p99
  exceeds 100 ms or updates go missing; the best rate that held is reported;
- floor: after our fan-out phase, our server writes an update-sized frame to each of the N connections
  with bare `os.write` calls in a tight loop. That time per update is the least any server pinned to
  one core needs here to reach every client once, so p99 of the fan-out phase cannot go below it.

    python -m bench.bench_ws                    # defaults: < 2 minutes
    python -m bench.bench_ws --clients 10000    # the goal: 10k clients x 10 updates/s
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import resource
import socket
import sys
import tempfile
import time
from array import array
from base64 import b64encode
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

SERVER_CORE = 0
LOADGEN_CORE = 1
COINS = [f"ethereum:0x{i:040x}" for i in range(1, 101)]
SUBSCRIBE = b'{"type":"subscribe","channel":"prices","params":{}}'
DRAIN_SECONDS = 1.5
P99_LIMIT_MS = 100.0


def pin(core: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > core:
        os.sched_setaffinity(0, {core})
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_fast(main: Any) -> None:
    """The load generator runs on uvloop when it is installed (dev dependency), so it stays ahead of the server."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- servers -----------------------------------------------------------------------------------


def bench_settings(data: Path) -> Any:
    """Settings with the anonymous tier's limits lifted: every bench client comes from 127.0.0.1."""
    from onchain.config import Settings

    unlimited = {"requests_per_minute": 10**9, "websocket_connections": 10**7}
    return Settings(data_dir=data, tiers={"free": unlimited}, ws_anonymous_connections=0)


def update(coin: str, due: float, block: int) -> dict[str, Any]:
    return {"id": coin, "value": 1830.0 + block % 97, "timestamp": due, "change24h": None, "block": block}


async def run_schedule(publish: Any, rate: float, per_tick: int, duration: float) -> dict[str, float]:
    """Publish `per_tick` updates every `per_tick / rate` s for `duration` s; each stamped with its due time."""
    interval = per_tick / rate
    start = time.time() + 0.05
    cpu = cpu_seconds()
    ticks = int(duration / interval)
    published = 0
    for tick in range(ticks):
        due = start + tick * interval
        delay = due - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        for i in range(per_tick):
            await publish(update(COINS[(tick * per_tick + i) % len(COINS)], due, tick))
            published += 1
    wall = time.time() - start
    return {"published": published, "cpu": cpu_seconds() - cpu, "wall": wall}


def serve_ours(port: int, ready: Any) -> None:
    pin(SERVER_CORE)
    import uvicorn

    from onchain.api import create_app, uvicorn_config
    from onchain.api.ws import RealtimeLimits
    from onchain.bus import MemoryBus
    from onchain.storage.store import Store

    @dataclass
    class BenchRuntime:
        store: Store
        bus: MemoryBus

    async def main() -> None:
        data = Path(tempfile.mkdtemp(prefix="bench-ws-"))
        store = await Store.open(f"sqlite+aiosqlite:///{data / 'bench.db'}")
        runtime = BenchRuntime(store, MemoryBus(queue_size=1_000_000))
        app = create_app(bench_settings(data), runtime, limits=RealtimeLimits(max_buffer_bytes=4 << 20))

        async def run(rate: float, per_tick: int, duration: float) -> dict[str, float]:
            return await run_schedule(lambda m: runtime.bus.publish("prices", m), rate, per_tick, duration)

        async def floor(bursts: int = 10) -> dict[str, float]:
            return await send_floor(app.state.hub.sinks(), bursts)

        app.add_api_route("/bench/run", run, methods=["POST"])
        app.add_api_route("/bench/floor", floor, methods=["POST"])
        server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", port, backlog=16384))
        ready.set()
        await server.serve()

    asyncio.run(main())


async def send_floor(sinks: list[Any], bursts: int) -> dict[str, float]:
    """The kernel's share: one `os.write` of an update-sized frame to every held connection, in a tight loop.

    No JSON, no framing, no event loop between sends: no one-core server can reach every client faster
    on this machine. The frames are pongs, which clients skip. Median of `bursts`, 0.1 s apart.
    """
    from onchain.api.ws_hub import encode_text_frame

    # The bench reaches into the sinks for their sockets; the product never needs them.
    fds = [sink._transport.get_extra_info("socket").fileno() for sink in sinks if hasattr(sink, "_transport")]
    sample = update(COINS[0], time.time(), 17_173_049)
    frame = encode_text_frame(b'{"type":"pong","pad":"' + b"x" * (len(repr(sample)) - 10) + b'"}')
    times, refused = [], 0
    for _ in range(bursts):
        started = time.perf_counter()
        for fd in fds:
            try:
                os.write(fd, frame)
            except BlockingIOError:
                refused += 1
        times.append(time.perf_counter() - started)
        await asyncio.sleep(0.1)
    burst = sorted(times)[len(times) // 2]
    return {"clients": len(fds), "burst_ms": burst * 1000, "us_per_send": burst / max(1, len(fds)) * 1e6,
            "refused": refused}


def serve_baseline(port: int, ready: Any) -> None:
    """The plain way: a set of sockets and, per update, `await ws.send_text(...)` to each in turn."""
    pin(SERVER_CORE)
    import json

    import uvicorn
    app = FastAPI()
    clients: set[WebSocket] = set()

    @app.websocket("/v2/realtime")
    async def realtime(websocket: WebSocket) -> None:
        await websocket.accept()
        clients.add(websocket)
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            clients.discard(websocket)

    seq = 0

    async def broadcast(message: dict[str, Any]) -> None:
        nonlocal seq
        seq += 1
        text = json.dumps({"type": "update", "channel": "prices", "data": message, "seq": seq}, separators=(",", ":"))
        for websocket in list(clients):
            try:
                await websocket.send_text(text)
            except (WebSocketDisconnect, RuntimeError, OSError):
                clients.discard(websocket)

    @app.post("/bench/run")
    async def run(rate: float, per_tick: int, duration: float) -> dict[str, float]:
        return await run_schedule(broadcast, rate, per_tick, duration)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "healthy"}

    ready.set()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", backlog=16384, ws_per_message_deflate=False,
                loop="asyncio")


# --- load generator ----------------------------------------------------------------------------


def masked_text_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return bytes((0x81, 0x80 | len(payload))) + mask + body


@dataclass
class Tally:
    updates: int = 0
    latency_ms: array = field(default_factory=lambda: array("d"))
    weight: array = field(default_factory=lambda: array("I"))
    recording: bool = False


class LeanClient(asyncio.Protocol):
    """Just enough WebSocket to subscribe and count: server frames are unmasked, so parsing is slicing."""

    def __init__(self, host: str, tally: Tally, opened: asyncio.Future[None]) -> None:
        self.host = host
        self.tally = tally
        self.opened = opened
        self.buffer = bytearray()
        self.upgraded = False
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # any transport: uvloop's do not subclass asyncio's
        key = b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET /v2/realtime HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed during handshake: {exc}"))

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                raise ConnectionError(bytes(buffer[:80]).decode(errors="replace"))
            del buffer[: end + 4]
            self.upgraded = True
            assert self.transport is not None
            self.transport.write(masked_text_frame(SUBSCRIBE))
            self.opened.set_result(None)
        now = time.time()
        tally = self.tally
        pos, size = 0, len(buffer)
        while size - pos >= 2:
            opcode = buffer[pos] & 0x0F
            length = buffer[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
                head = 10
            if size - pos < head + length:
                break
            start, stop = pos + head, pos + head + length
            if opcode == 1 and tally.recording:
                count = buffer.count(b'"type":"update"', start, stop)
                if count:
                    at = buffer.find(b'"timestamp":', start, stop) + 12
                    comma = buffer.find(b",", at, stop)
                    due = float(buffer[at:comma])
                    tally.updates += count
                    tally.latency_ms.append((now - due) * 1000.0)
                    tally.weight.append(count)
            elif opcode == 9 and self.transport is not None:  # ping: answer so keepalive holds
                self.transport.write(bytes((0x8A, 0x80)) + os.urandom(4))
            pos = stop
        del buffer[:pos]


async def hold_clients(port: int, count: int, tally: Tally) -> list[asyncio.Transport]:
    loop = asyncio.get_running_loop()
    transports: list[asyncio.Transport] = []

    async def one() -> None:
        opened: asyncio.Future[None] = loop.create_future()
        transport, _ = await loop.create_connection(
            lambda: LeanClient(f"127.0.0.1:{port}", tally, opened), "127.0.0.1", port
        )
        await asyncio.wait_for(opened, 30)
        transports.append(transport)

    for start in range(0, count, 250):
        await asyncio.gather(*(one() for _ in range(min(250, count - start))))
    return transports


def load_generator(port: int, count: int, commands: Any, results: Any) -> None:
    pin(LOADGEN_CORE)

    async def main() -> None:
        tally = Tally()
        transports = await hold_clients(port, count, tally)
        await asyncio.sleep(0.5)  # let every subscription land
        results.put({"held": len(transports)})
        loop = asyncio.get_running_loop()
        while True:
            command = await loop.run_in_executor(None, commands.get)
            if command == "stop":
                break
            if command == "start":
                tally.updates = 0
                tally.latency_ms = array("d")
                tally.weight = array("I")
                tally.recording = True
                cpu, wall = cpu_seconds(), time.time()
            elif command == "collect":
                tally.recording = False
                results.put({
                    "held": sum(1 for t in transports if not t.is_closing()),
                    "updates": tally.updates,
                    "p50": weighted_quantile(tally.latency_ms, tally.weight, 0.50),
                    "p99": weighted_quantile(tally.latency_ms, tally.weight, 0.99),
                    "cpu": (cpu_seconds() - cpu) / max(1e-9, time.time() - wall),
                })
        for transport in transports:
            transport.close()

    run_fast(main())


def weighted_quantile(values: array, weights: array, q: float) -> float:
    if not values:
        return float("nan")
    pairs = sorted(zip(values, weights, strict=True))
    total = sum(weights)
    target, seen = q * total, 0
    for value, weight in pairs:
        seen += weight
        if seen >= target:
            return float(value)
    return float(pairs[-1][0])


# --- orchestration -----------------------------------------------------------------------------


@dataclass
class Result:
    phase: str
    server: str
    clients: int
    held: int
    offered: float
    delivered: float
    p50: float
    p99: float
    server_cpu: float
    loadgen_cpu: float

    def line(self) -> str:
        return (
            f"{self.phase:<14} {self.server:<9} {self.held:>6}/{self.clients:<6} {self.offered:>10,.0f} "
            f"{self.delivered:>11,.0f} {self.p50:>8.1f} {self.p99:>8.1f} "
            f"{self.server_cpu:>9.0%} {self.loadgen_cpu:>9.0%}"
        )


class Session:
    """One server process plus one load-generator process holding `clients` connections."""

    def __init__(self, kind: str, clients: int) -> None:
        self.kind = kind
        self.clients = clients
        self.port = free_port()
        ctx = mp.get_context("spawn")
        ready = ctx.Event()
        target = serve_ours if kind == "onchain" else serve_baseline
        self.server = ctx.Process(target=target, args=(self.port, ready), daemon=True)
        self.server.start()
        ready.wait(60)
        self._wait_listening()
        self.commands: Any = ctx.Queue()
        self.results: Any = ctx.Queue()
        self.loadgen = ctx.Process(
            target=load_generator, args=(self.port, clients, self.commands, self.results), daemon=True
        )
        self.loadgen.start()
        self.held = int(self.results.get(timeout=300)["held"])

    def _wait_listening(self) -> None:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def run(self, phase: str, per_client_rate: float, per_tick: int, duration: float) -> Result:
        import httpx

        self.commands.put("start")
        time.sleep(0.2)
        response = httpx.post(
            f"http://127.0.0.1:{self.port}/bench/run",
            params={"rate": per_client_rate, "per_tick": per_tick, "duration": duration},
            timeout=duration + 120,
        )
        server = response.json()
        if response.status_code != 200:
            raise RuntimeError(f"/bench/run answered {response.status_code}: {server}")
        time.sleep(DRAIN_SECONDS)
        self.commands.put("collect")
        got = self.results.get(timeout=120)
        published = server["published"]
        return Result(
            phase, self.kind, self.clients, int(got["held"]), published * self.held / server["wall"],
            got["updates"] / server["wall"], got["p50"], got["p99"], server["cpu"] / server["wall"], got["cpu"],
        )

    def floor(self) -> dict[str, float]:
        import httpx

        response = httpx.post(f"http://127.0.0.1:{self.port}/bench/floor", timeout=120)
        response.raise_for_status()
        return dict(response.json())

    def close(self) -> None:
        self.commands.put("stop")
        self.loadgen.join(30)
        self.server.terminate()
        self.server.join(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=2000, help="clients in the fan-out phase (goal: 10000)")
    parser.add_argument("--rate", type=float, default=10.0, help="updates/s each fan-out client receives")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measured run")
    parser.add_argument("--max-clients", type=int, default=500, help="clients in the max-throughput phase")
    parser.add_argument("--max-rates", default="200,800,3200", help="per-client updates/s tried in the max phase")
    parser.add_argument("--tick", type=float, default=0.02, help="seconds between publications in the max phase")
    parser.add_argument("--servers", default="onchain,baseline", help="which servers to measure")
    args = parser.parse_args(argv)

    print(f"WebSocket fan-out: server pinned to core {SERVER_CORE}, load generator (own process) to core "
          f"{LOADGEN_CORE}; latency = delivery time - the update's due time", flush=True)
    print(f"{'phase':<14} {'server':<9} {'held/asked':>13} {'offered/s':>10} {'delivered/s':>11} "
          f"{'p50 ms':>8} {'p99 ms':>8} {'srv CPU':>9} {'gen CPU':>9}", flush=True)
    best: dict[str, float] = {}
    floors: list[dict[str, float]] = []
    for kind in args.servers.split(","):
        session = Session(kind, args.clients)
        try:
            result = session.run(f"fan-out {args.rate:g}/s", args.rate, 1, args.duration)
            print(result.line(), flush=True)
            if kind == "onchain":
                floors.append(session.floor())
        finally:
            session.close()
        session = Session(kind, args.max_clients)
        try:
            for rate in (float(r) for r in args.max_rates.split(",")):
                per_tick = max(1, round(rate * args.tick))
                result = session.run(f"max {rate:g}/s", rate, per_tick, max(3.0, args.duration / 2))
                print(result.line(), flush=True)
                if result.p99 > P99_LIMIT_MS or result.delivered < 0.95 * result.offered:
                    break
                best[kind] = result.delivered
        finally:
            session.close()
    for found in floors:
        print(f"floor: one os.write() per client of an update-sized frame, {found['clients']:,.0f} connections on the "
              f"server's core: {found['burst_ms']:.1f} ms per update to all ({found['us_per_send']:.1f} us per send); "
              f"p99 of any one-core server is at least ~{0.99 * found['burst_ms']:.0f} ms here", flush=True)
    for kind in args.servers.split(","):
        held = best.get(kind)
        print(f"most updates/s delivered with p99 < {P99_LIMIT_MS:.0f} ms: {kind}: "
              + (f"{held:,.0f}" if held else "none of the rates tried"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
