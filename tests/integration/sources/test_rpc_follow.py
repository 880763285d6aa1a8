"""RpcSource following the head: polling eth_blockNumber, and eth_subscribe newHeads over a real WebSocket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from onchain.domain.chain import BlockBundle
from onchain.sources.jsonrpc import JsonRpcClient
from onchain.sources.replay_data import load_recording
from onchain.sources.replay_server import RecordedRpc, serve_app
from onchain.sources.rpc import RpcSource

FIRST, SECOND = 17173049, 17173050


class GrowingNode:
    """A recorded chain whose reported head is set by the test, with a newHeads WebSocket."""

    def __init__(self, chaindata: Path) -> None:
        self.rpc = RecordedRpc(load_recording(chaindata / "ethereum-etl-17173049"))
        self.head = FIRST
        self.rpc.methods["eth_blockNumber"] = lambda params: hex(self.head)
        self.push: asyncio.Queue[int] = asyncio.Queue()

    async def http(self, request: Request) -> Response:
        payload = orjson.loads(await request.body())
        answer: Any = [self.rpc.answer(p) for p in payload] if isinstance(payload, list) else self.rpc.answer(payload)
        return Response(orjson.dumps(answer), media_type="application/json")

    async def ws(self, socket: WebSocket) -> None:
        await socket.accept()
        request = orjson.loads(await socket.receive_text())
        await socket.send_text(orjson.dumps({"jsonrpc": "2.0", "id": request["id"], "result": "0xfeed"}).decode())
        try:
            while True:
                number = await self.push.get()
                header = self.rpc.chain.blocks[number]
                message = {"jsonrpc": "2.0", "method": "eth_subscription",
                           "params": {"subscription": "0xfeed", "result": {"number": header["number"],
                                                                           "hash": header["hash"]}}}
                await socket.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect:
            return


@pytest.fixture
async def node(chaindata: Path) -> AsyncIterator[tuple[str, GrowingNode]]:
    growing = GrowingNode(chaindata)
    app = Starlette(routes=[Route("/", growing.http, methods=["POST"]), WebSocketRoute("/ws", growing.ws)])
    async with serve_app(app, websockets=True) as url:
        yield url, growing


async def _next(stream: AsyncIterator[BlockBundle]) -> BlockBundle:
    return await asyncio.wait_for(anext(stream), timeout=20)


async def test_follow_by_polling(node: tuple[str, GrowingNode]) -> None:
    url, growing = node
    source = RpcSource("ethereum", JsonRpcClient([url]), poll_interval=0.02)
    stream = source.bundles(FIRST)
    try:
        assert (await _next(stream)).block.number == FIRST
        growing.head = SECOND
        assert (await _next(stream)).block.number == SECOND
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
        await source.close()


async def test_follow_by_new_heads(node: tuple[str, GrowingNode]) -> None:
    url, growing = node
    # Polling is slowed to an hour, so the second block can only arrive through the subscription.
    source = RpcSource("ethereum", JsonRpcClient([url]), ws_url=url.replace("http", "ws") + "/ws",
                       poll_interval=3600)
    stream = source.bundles(FIRST)
    try:
        assert (await _next(stream)).block.number == FIRST
        await growing.push.put(SECOND)
        bundle = await _next(stream)
        assert bundle.block.number == SECOND and len(bundle.logs) > 0
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
        await source.close()


async def test_dead_websocket_falls_back_to_polling(node: tuple[str, GrowingNode], dead_url: str) -> None:
    url, growing = node
    source = RpcSource("ethereum", JsonRpcClient([url]), ws_url=dead_url.replace("http", "ws"), poll_interval=0.02)
    stream = source.bundles(FIRST)
    try:
        assert (await _next(stream)).block.number == FIRST
        growing.head = SECOND
        assert (await _next(stream)).block.number == SECOND
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
        await source.close()
