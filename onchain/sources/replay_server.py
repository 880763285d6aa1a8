"""A local JSON-RPC server answering from a recorded chain, so replay exercises the real client path.

It answers the methods a chain source uses (blocks, receipts, logs with filters, traces) from a
`RecordedChain`, then any exact request recorded in the data set, and otherwise a JSON-RPC error,
as a node would. Batches are supported. It listens on 127.0.0.1 on a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Generator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from onchain.errors import RpcError
from onchain.sources.replay_data import RecordedChain, load_recording, request_key

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, SERVER_ERROR = -32700, -32600, -32601, -32602, -32000


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside a host process: leave its signal handlers alone (the host decides about Ctrl-C)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class RpcFault(RpcError):
    """A JSON-RPC error answer for one request (the replay server's side of a failed call)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@asynccontextmanager
async def serve_app(app: Callable[..., Any], host: str = "127.0.0.1", websockets: bool = False) -> AsyncIterator[str]:
    """Run an ASGI app with uvicorn in this event loop on a free port; yields its base URL."""
    # proto given explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto is TCP,
    # and without it every small answer waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False,
                            ws="auto" if websockets else "none", timeout_graceful_shutdown=2)
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("replay server stopped during startup")
            await asyncio.sleep(0.005)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


class RecordedRpc:
    """Answers JSON-RPC requests from a recorded chain. Pure lookups; the HTTP part is `app`."""

    def __init__(self, chain: RecordedChain) -> None:
        self.chain = chain
        self.methods: dict[str, Callable[[list[Any]], Any]] = {
            "eth_chainId": lambda p: hex(chain.chain_id),
            "net_version": lambda p: str(chain.chain_id),
            "eth_blockNumber": lambda p: hex(chain.head),
            "eth_getBlockByNumber": self._block_by_number,
            "eth_getBlockByHash": self._block_by_hash,
            "eth_getBlockReceipts": self._block_receipts,
            "eth_getTransactionReceipt": self._transaction_receipt,
            "eth_getTransactionByHash": self._transaction,
            "eth_getLogs": self._logs,
        }
        if chain.traces:
            self.methods["trace_block"] = self._trace_block

    def answer(self, request: Any) -> dict[str, Any]:
        request_id = request.get("id") if isinstance(request, dict) else None
        try:
            if not isinstance(request, dict) or not isinstance(request.get("method"), str) or not request["method"]:
                raise RpcFault(INVALID_REQUEST, "invalid request")
            params = request.get("params", [])
            if not isinstance(params, list):
                raise RpcFault(INVALID_PARAMS, "params must be a list")
            result = self._dispatch(request["method"], params)
        except RpcFault as fault:
            return {"jsonrpc": "2.0", "id": request_id, "error": {"code": fault.code, "message": fault.message}}
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    def _dispatch(self, method: str, params: list[Any]) -> Any:
        """The recorded chain answers first; an exact recorded request fills what it cannot answer."""
        recorded = self.chain.answers.get(request_key(method, params))
        handler = self.methods.get(method)
        if handler is not None:
            try:
                result = handler(params)
            except RpcFault:
                if recorded is None:
                    raise
                return _recorded(recorded)
            except (IndexError, KeyError, TypeError, ValueError) as exc:
                if recorded is None:
                    raise RpcFault(INVALID_PARAMS, f"invalid params for {method}: {exc}") from exc
                return _recorded(recorded)
            if result is not None or recorded is None:
                return result
        if recorded is not None:
            return _recorded(recorded)
        raise RpcFault(METHOD_NOT_FOUND, f"the method {method} does not exist/is not available")

    def _number(self, tag: Any) -> int | None:
        if tag in ("latest", "safe", "finalized", "pending"):
            return self.chain.head
        if tag == "earliest":
            return min(self.chain.blocks, default=None)
        if isinstance(tag, str) and tag.startswith("0x"):
            return int(tag, 16)
        if isinstance(tag, dict) and "blockHash" in tag:
            return self.chain.number_of(tag["blockHash"])
        if isinstance(tag, str) and len(tag) == 66:
            return self.chain.number_of(tag)
        raise ValueError(f"bad block tag {tag!r}")

    def _block(self, number: int | None, full: bool) -> Any:
        block = self.chain.blocks.get(number) if number is not None else None
        if block is None or full:
            return block
        return {**block, "transactions": [tx["hash"] for tx in block["transactions"]]}

    def _block_by_number(self, params: list[Any]) -> Any:
        return self._block(self._number(params[0]), bool(params[1]) if len(params) > 1 else False)

    def _block_by_hash(self, params: list[Any]) -> Any:
        return self._block(self.chain.number_of(params[0]), bool(params[1]) if len(params) > 1 else False)

    def _block_receipts(self, params: list[Any]) -> Any:
        number = self._number(params[0])
        if number is None or number not in self.chain.blocks:
            return None
        self._require_receipts(number)
        return self.chain.receipts[number]

    def _require_receipts(self, number: int) -> None:
        if number not in self.chain.receipts:
            raise RpcFault(SERVER_ERROR, f"receipts of block {number} are not in this recording")

    def _transaction_receipt(self, params: list[Any]) -> Any:
        return self.chain.receipt_of(str(params[0]).lower())

    def _transaction(self, params: list[Any]) -> Any:
        return self.chain.transaction_of(str(params[0]).lower())

    def _trace_block(self, params: list[Any]) -> Any:
        number = self._number(params[0])
        if number is None or number not in self.chain.blocks:
            return None
        if number not in self.chain.traces:
            raise RpcFault(SERVER_ERROR, f"traces of block {number} are not in this recording")
        return self.chain.traces[number]

    def _logs(self, params: list[Any]) -> Any:
        query = params[0] if params else {}
        if not isinstance(query, dict):
            raise RpcFault(INVALID_PARAMS, "filter must be an object")
        if "blockHash" in query:
            number = self.chain.number_of(query["blockHash"])
            if number is None:
                raise RpcFault(SERVER_ERROR, f"unknown block {query['blockHash']}")
            numbers = [number]
        else:
            low = self._number(query.get("fromBlock", "latest"))
            high = self._number(query.get("toBlock", "latest"))
            if low is None or high is None or low > high:
                raise RpcFault(INVALID_PARAMS, "invalid block range")
            numbers = list(range(low, high + 1))
        addresses = query.get("address")
        if isinstance(addresses, str):
            addresses = [addresses]
        wanted = {a.lower() for a in addresses} if addresses else None
        topics = query.get("topics") or []
        out = []
        for number in numbers:
            if number not in self.chain.blocks:
                raise RpcFault(SERVER_ERROR, f"block {number} is not in this recording")
            if number in self.chain.logless:
                raise RpcFault(SERVER_ERROR, f"logs of block {number} are not in this recording")
            self._require_receipts(number)
            for log in self.chain.logs_of(number):
                if (wanted is None or log["address"] in wanted) and _topics_match(log["topics"], topics):
                    out.append(log)
        return out


def _recorded(response: Any) -> Any:
    if isinstance(response, dict) and response.get("error") is not None:
        error = response["error"]
        raise RpcFault(int(error.get("code", SERVER_ERROR)), str(error.get("message", "")))
    return response.get("result") if isinstance(response, dict) else None


def _topics_match(log_topics: list[str], wanted: list[Any]) -> bool:
    """eth_getLogs topic filter: position i matches null (any), one topic, or a list of alternatives."""
    for position, option in enumerate(wanted):
        if option is None:
            continue
        if position >= len(log_topics):
            return False
        choices = [option] if isinstance(option, str) else option
        if log_topics[position] not in {c.lower() for c in choices if isinstance(c, str)}:
            return False
    return True


def replay_app(chain: RecordedChain) -> Starlette:
    """The ASGI app: POST / with a JSON-RPC request or batch."""
    rpc = RecordedRpc(chain)

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            answer: Any = {"jsonrpc": "2.0", "id": None, "error": {"code": PARSE_ERROR, "message": "parse error"}}
        else:
            if isinstance(payload, list):
                answer = [rpc.answer(item) for item in payload] if payload else rpc.answer(None)
            else:
                answer = rpc.answer(payload)
        return Response(orjson.dumps(answer), media_type="application/json")

    return Starlette(routes=[Route("/", endpoint, methods=["POST"])])


class ReplayServer:
    """`async with ReplayServer(path) as server:` serves the recording at `server.url`."""

    def __init__(self, path: str | Path | list[Path] | RecordedChain) -> None:
        self.chain = path if isinstance(path, RecordedChain) else load_recording(path)
        self.url = ""
        self._serving: Any = None

    async def __aenter__(self) -> ReplayServer:
        self._serving = serve_app(replay_app(self.chain))
        self.url = await self._serving.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        if self._serving is not None:
            await self._serving.__aexit__(*exc_info)
            self._serving = None
