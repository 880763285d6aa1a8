"""Real local JSON-RPC servers on 127.0.0.1: recorded mainnet answers, and endpoints that misbehave."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from onchain.sources.replay_data import RecordedChain, load_recording
from onchain.sources.replay_server import RecordedRpc, serve_app


@pytest.fixture(scope="session")
def erigon_chain(chaindata: Path) -> RecordedChain:
    return load_recording(chaindata / "erigon-rpc-tests")


class Misbehaving:
    """Answers POST /<mode>: `good` answers from the recording, the other modes break one rule each."""

    def __init__(self, chain: RecordedChain) -> None:
        self.rpc = RecordedRpc(chain)
        self.seen: dict[str, int] = {}

    def good(self, payload: Any) -> Any:
        return [self.rpc.answer(p) for p in payload] if isinstance(payload, list) else self.rpc.answer(payload)

    async def endpoint(self, request: Request) -> Response:
        mode = request.path_params["mode"]
        self.seen[mode] = self.seen.get(mode, 0) + 1
        payload = orjson.loads(await request.body())
        answer = self.good(payload)
        if mode == "garbage":
            return Response(b"<html>bad gateway</html>", media_type="text/html")
        if mode == "http500":
            return Response(b"internal error", status_code=500)
        if mode == "http429":
            return Response(b"slow down", status_code=429, headers={"retry-after": "0"})
        if mode == "truncated":
            return Response(orjson.dumps(answer)[:-7], media_type="application/json")
        if mode == "wrongid":
            answer = {**answer, "id": 987654}
        if mode == "noresult":
            answer = {"jsonrpc": "2.0", "id": answer["id"]}
        if mode == "reversed":
            answer = list(reversed(answer))
        if mode == "batchlimit" and isinstance(payload, list) and len(payload) > 2:
            answer = [{"jsonrpc": "2.0", "id": payload[0]["id"],
                       "error": {"code": -32600, "message": "batch limit 2 exceeded"}}]
        return Response(orjson.dumps(answer), media_type="application/json")


@pytest.fixture
async def misbehaving(erigon_chain: RecordedChain) -> AsyncIterator[tuple[str, Misbehaving]]:
    handler = Misbehaving(erigon_chain)
    app = Starlette(routes=[Route("/{mode}", handler.endpoint, methods=["POST"])])
    async with serve_app(app) as url:
        yield url, handler


@pytest.fixture
def dead_url() -> str:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
