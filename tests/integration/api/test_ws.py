"""`/v2/realtime` on a real uvicorn server: protocol, sequence numbers, resume, slow consumers.

Every test runs on both delivery paths: `direct` (no compression: shared wire bytes written to the
transport) and `asgi` (compression negotiated: frames go through ASGI sends).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from onchain.api import create_app
from onchain.api.ws import RealtimeLimits
from onchain.api.ws_hub import Hub
from onchain.api.ws_sinks import AsgiSink, TransportSink
from onchain.config import Settings
from tests.integration.api.conftest import LocalRuntime, serving

WETH = "ethereum:0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
USDC = "ethereum:0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
TIMEOUT = 10.0


def price(coin: str, value: float, block: int) -> dict[str, Any]:
    return {"id": coin, "value": value, "timestamp": 1683000000 + block * 12, "change24h": None, "block": block}


class Peer:
    """A test client that flattens coalesced frames into single messages."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[str] = []
        self.inbox: list[dict[str, Any]] = []

    async def send(self, message: Any) -> None:
        await self.ws.send(message if isinstance(message, str | bytes) else json.dumps(message))

    async def next(self) -> dict[str, Any]:
        while not self.inbox:
            raw = await asyncio.wait_for(self.ws.recv(), TIMEOUT)
            assert isinstance(raw, str), "server frames are text"
            self.frames.append(raw)
            decoded = json.loads(raw)
            self.inbox.extend(decoded if isinstance(decoded, list) else [decoded])
        return self.inbox.pop(0)

    async def expect(self, kind: str) -> dict[str, Any]:
        message = await self.next()
        assert message["type"] == kind, message
        return message

    async def updates(self, count: int) -> list[dict[str, Any]]:
        return [await self.expect("update") for _ in range(count)]

    async def barrier(self) -> None:
        """Everything the server sent before our ping has arrived once its pong does."""
        await self.send({"type": "ping"})
        await self.expect("pong")


@pytest.fixture(params=["direct", "asgi"])
async def realtime(request: pytest.FixtureRequest, runtime: LocalRuntime, settings: Settings) -> AsyncIterator[Any]:
    hub = Hub(history=50)
    app = create_app(settings, runtime, hub=hub, limits=RealtimeLimits(max_buffer_bytes=256 * 1024, max_frames=64))
    compression = request.param == "asgi"
    async with serving(app, ws_per_message_deflate=compression) as address:

        async def open_peer(*, receive_buffer: int | None = None, **options: Any) -> Peer:
            options.setdefault("compression", "deflate" if compression else None)
            if receive_buffer is not None:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
                sock.setblocking(False)
                host, port = address.split(":")
                await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
                options["sock"] = sock
            ws = await connect(f"ws://{address}/v2/realtime", open_timeout=TIMEOUT, **options)
            peer = Peer(ws)
            await peer.barrier()
            expected = AsgiSink if compression else TransportSink
            assert all(isinstance(s, expected) for s in hub.sinks())
            return peer

        yield runtime, hub, open_peer


async def wait_published(hub: Hub, count: int) -> None:
    for _ in range(1000):
        if hub.stats.updates_published >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"hub saw {hub.stats.updates_published} updates, expected {count}")


async def test_ping_subscribe_update_unsubscribe(realtime: Any) -> None:
    runtime, hub, open_peer = realtime
    peer = await open_peer()
    await peer.send({"type": "subscribe", "channel": "prices", "params": {"tokenIds": [WETH]}})
    subscribed = await peer.expect("subscribed")
    assert subscribed == {"type": "subscribed", "channel": "prices", "params": {"tokenIds": [WETH]}, "seq": 0}

    await runtime.bus.publish("prices", price(WETH, 1830.12, 17173049))
    update = await peer.expect("update")
    assert update == {
        "type": "update",
        "channel": "prices",
        "data": {"id": WETH, "value": 1830.12, "timestamp": 1683000000 + 17173049 * 12, "change24h": None,
                 "block": 17173049},
        "seq": 1,
    }

    await peer.send({"type": "unsubscribe", "channel": "prices", "params": {}})
    assert (await peer.expect("unsubscribed"))["channel"] == "prices"
    await runtime.bus.publish("prices", price(WETH, 1831.0, 17173050))
    await wait_published(hub, 2)
    await peer.barrier()  # the pong comes first: the second update was not sent to us
    assert peer.inbox == []
    await peer.ws.close()


async def test_filters_by_id_and_chain(realtime: Any) -> None:
    runtime, _hub, open_peer = realtime
    by_id, by_chain, everything = await open_peer(), await open_peer(), await open_peer()
    await by_id.send({"type": "subscribe", "channel": "prices", "params": {"tokenIds": [USDC.upper()]}})
    await by_chain.send({"type": "subscribe", "channel": "prices", "params": {"chains": ["polygon"]}})
    await everything.send({"type": "subscribe", "channel": "prices"})
    for peer in (by_id, by_chain, everything):
        await peer.expect("subscribed")

    await runtime.bus.publish("prices", price(WETH, 1830.0, 1))
    await runtime.bus.publish("prices", price(USDC, 1.0, 1))
    await runtime.bus.publish("prices", price("polygon:0x7ceb23fd6bc0add59e62ac25578270cff1b9f619", 1829.5, 1))
    assert [u["data"]["id"] for u in await everything.updates(3)] == [
        WETH, USDC, "polygon:0x7ceb23fd6bc0add59e62ac25578270cff1b9f619"
    ]
    assert [(u["data"]["id"], u["seq"]) for u in await by_id.updates(1)] == [(USDC, 2)]
    assert [u["seq"] for u in await by_chain.updates(1)] == [3]


async def test_garbage_frames_get_errors_and_the_connection_stays(realtime: Any) -> None:
    _runtime, _hub, open_peer = realtime
    peer = await open_peer()
    cases: list[tuple[Any, str]] = [
        ("not json at all", "invalid_json"),
        (b"\xff\xfe binary junk", "invalid_json"),
        ("[1, 2, 3]", "invalid_message"),
        ({"type": "dance"}, "unknown_type"),
        ({"type": "subscribe", "channel": "gossip"}, "unknown_channel"),
        ({"type": "subscribe", "channel": "prices", "params": {"tokenIds": "weth"}}, "invalid_params"),
        ({"type": "subscribe", "channel": "prices", "params": {"resumeFrom": -3}}, "invalid_params"),
        ({"type": "subscribe", "channel": "prices", "params": []}, "invalid_params"),
        ({"type": "unsubscribe", "channel": "tvl"}, "not_subscribed"),
    ]
    for frame, code in cases:
        await peer.send(frame)
        error = await peer.expect("error")
        assert error["code"] == code and error["message"], error
    await peer.barrier()
    await peer.send({"type": "subscribe", "channel": "tvl"})
    await peer.expect("subscribed")


async def test_every_update_in_order_without_gaps(realtime: Any) -> None:
    runtime, _hub, open_peer = realtime
    peers = [await open_peer() for _ in range(3)]
    for peer in peers:
        await peer.send({"type": "subscribe", "channel": "prices"})
        await peer.expect("subscribed")
    count = 300
    for block in range(count):
        await runtime.bus.publish("prices", price(WETH, 1800.0 + block, 17_000_000 + block))
        if block % 7 == 0:
            await asyncio.sleep(0)  # let some updates leave alone and others coalesce
    for peer in peers:
        updates = await peer.updates(count)
        assert [u["seq"] for u in updates] == list(range(1, count + 1))
        assert [u["data"]["block"] for u in updates] == list(range(17_000_000, 17_000_000 + count))
    # Coalesced frames are arrays, and subscribers with the same subscription got identical frames.
    assert any(frame.startswith("[") for frame in peers[0].frames)
    assert peers[0].frames == peers[1].frames == peers[2].frames


async def test_resume_after_disconnect_misses_nothing(realtime: Any) -> None:
    runtime, hub, open_peer = realtime
    seen: list[int] = []
    peer = await open_peer()
    await peer.send({"type": "subscribe", "channel": "prices"})
    await peer.expect("subscribed")

    async def produce() -> None:
        for block in range(40):
            await runtime.bus.publish("prices", price(WETH, 1830.0 + block / 10, block))
            await asyncio.sleep(0.002)

    producer = asyncio.create_task(produce())
    seen.extend(u["seq"] for u in await peer.updates(5))
    peer.ws.transport.abort()  # the connection drops mid-stream; the producer keeps publishing
    for _ in range(500):
        if hub.connections == 0:
            break
        await asyncio.sleep(0.005)
    peer = await open_peer()
    await peer.send({"type": "subscribe", "channel": "prices", "params": {"resumeFrom": seen[-1]}})
    await peer.expect("subscribed")
    await producer
    await wait_published(hub, 40)
    seen.extend(u["seq"] for u in await peer.updates(40 - len(seen)))
    assert seen == list(range(1, 41))
    await peer.barrier()
    assert peer.inbox == []


async def test_resume_older_than_history_reports_the_gap(realtime: Any) -> None:
    runtime, hub, open_peer = realtime
    for block in range(60):  # the hub keeps 50
        await runtime.bus.publish("prices", price(WETH, 1830.0, block))
    await wait_published(hub, 60)
    peer = await open_peer()
    await peer.send({"type": "subscribe", "channel": "prices", "params": {"resumeFrom": 3}})
    assert (await peer.expect("subscribed"))["seq"] == 60
    assert (await peer.expect("error"))["code"] == "resume_gap"
    assert [u["seq"] for u in await peer.updates(50)] == list(range(11, 61))


async def test_slow_consumer_is_dropped_and_others_get_everything(realtime: Any) -> None:
    runtime, hub, open_peer = realtime
    fast = await open_peer()
    # A client that stops reading: its library buffers one message, then leaves the (small) socket buffer full.
    slow = await open_peer(max_queue=1, max_size=None, receive_buffer=4096)
    for peer in (fast, slow):
        await peer.send({"type": "subscribe", "channel": "prices"})
        await peer.expect("subscribed")
    padding = secrets.token_urlsafe(6000)  # incompressible, so the asgi path's deflate cannot shrink it
    count = 1500  # ~12 MB: more than the kernel's socket buffers (4 MB at most) plus the server's bound
    received: list[int] = []

    async def consume() -> None:
        for _ in range(count):
            received.append((await fast.expect("update"))["seq"])

    consumer = asyncio.create_task(consume())
    for block in range(count):
        # Client and server share this event loop: keep the fast client at most 10 updates behind.
        async with asyncio.timeout(10):
            while len(received) < block - 10:
                await asyncio.sleep(0.001)
        await runtime.bus.publish("prices", price(WETH, 1830.0, block) | {"note": padding[block:] + padding[:block]})
    await asyncio.wait_for(consumer, 60)
    assert received == list(range(1, count + 1))
    assert hub.stats.slow_consumers == 1

    # The slow client, once it reads again, finds the slow_consumer error and a closed connection.
    codes: list[str] = []
    with pytest.raises(ConnectionClosed):
        while True:
            message = await slow.next()
            if message["type"] == "error":
                codes.append(message["code"])
    assert codes in ([], ["slow_consumer"])  # the error is best effort: the socket may be aborted first
    await fast.barrier()
    assert hub.connections == 1


async def test_chain_filters_are_capped_per_subscription_and_per_connection(realtime: Any) -> None:
    """Chains are capped like ids: too many in one frame, or piling up over many subscribes to one channel,
    or one too long, is an error on the socket; the connection and its subscription stay as they were."""
    runtime, _hub, open_peer = realtime
    peer = await open_peer()
    chains = [f"chain-{n}" for n in range(1000)]
    await peer.send({"type": "subscribe", "channel": "prices", "params": {"chains": chains[:101]}})
    assert (await peer.expect("error"))["code"] == "invalid_params"
    await peer.send({"type": "subscribe", "channel": "prices", "params": {"chains": ["ethereum", *chains[:49]]}})
    await peer.expect("subscribed")
    await peer.send({"type": "subscribe", "channel": "prices", "params": {"chains": chains[49:99]}})
    await peer.expect("subscribed")  # 100 chains on the channel now
    for start in range(99, 1000, 50):  # the attack: subscribe after subscribe, each with new chains
        await peer.send({"type": "subscribe", "channel": "prices", "params": {"chains": chains[start:start + 50]}})
        error = await peer.expect("error")
        assert error["code"] == "too_many_subscriptions" and "100 chains" in error["message"]
    await peer.send({"type": "subscribe", "channel": "prices", "params": {"chains": ["x" * 129]}})
    assert (await peer.expect("error"))["code"] == "invalid_params"
    await peer.send({"type": "subscribe", "channel": "x" * 60_000})
    error = await peer.expect("error")
    assert error["code"] == "unknown_channel" and len(error["message"]) < 400
    await peer.send({"type": "subscribe", "channel": "tvl", "params": {"chains": chains[500:600]}})
    await peer.expect("subscribed")  # the cap is per channel

    await runtime.bus.publish("prices", price(WETH, 1830.0, 1))
    await runtime.bus.publish("prices", price("chain-999:0x7ceb23fd6bc0add59e62ac25578270cff1b9f619", 1.0, 1))
    [update] = await peer.updates(1)
    assert update["data"]["id"] == WETH
    await peer.barrier()
    assert peer.inbox == []
