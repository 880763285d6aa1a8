"""The live chain source: blocks, logs and traces from JSON-RPC, following the head.

Backfill fetches ranges in JSON-RPC batches: `eth_getBlockByNumber(n, true)` with
`eth_getBlockReceipts(n)` where the node offers it (checked once), else `eth_getLogs` over the
range (per block hash if the node refuses a range), plus `trace_block` when asked and offered.
Following the head uses `eth_subscribe newHeads` over WebSocket when a ws URL is given and polls
`eth_blockNumber` otherwise, or while the socket is down. Reorgs are the pipeline's business: this
source delivers what the node calls canonical when asked, checked by `parse`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from onchain.domain.chain import BlockBundle
from onchain.errors import InconsistentDataError, MalformedResponseError, NodeError
from onchain.sources import parse
from onchain.sources.jsonrpc import JsonRpcClient

log = logging.getLogger(__name__)


class RpcSource:
    """A `Source` over a JSON-RPC client. Closing the source closes the client it was given."""

    def __init__(
        self,
        chain: str,
        client: JsonRpcClient,
        ws_url: str | None = None,
        poll_interval: float = 2.0,
        use_block_receipts: bool | None = None,
        traces: bool = False,
        *,
        logs: bool = True,
        batch_size: int = 10,
        fetch_attempts: int = 3,
        ws_retry_after: float = 30.0,
    ) -> None:
        self.chain = chain
        self.client = client
        self.ws_url = ws_url
        self.poll_interval = poll_interval
        self.use_block_receipts = use_block_receipts
        self.traces = traces
        self.logs = logs
        self.batch_size = max(1, batch_size)
        self.fetch_attempts = max(1, fetch_attempts)
        self.ws_retry_after = ws_retry_after
        self._traces_offered: bool | None = None if traces else False

    async def head(self) -> int:
        return parse.quantity({"eth_blockNumber": await self.client.call("eth_blockNumber")}, "eth_blockNumber")

    async def block_hash(self, number: int) -> str | None:
        raw = await self.client.call("eth_getBlockByNumber", [hex(number), False])
        if raw is None:
            return None
        block, _ = parse.parse_block(raw)
        if block.number != number:
            raise InconsistentDataError(f"asked for block {number}, the node answered block {block.number}")
        return block.hash

    async def close(self) -> None:
        await self.client.close()

    async def bundles(self, start: int, end: int | None = None) -> AsyncIterator[BlockBundle]:
        if end is not None:
            for first in range(start, end + 1, self.batch_size):
                for bundle in await self.fetch_bundles(range(first, min(end, first + self.batch_size - 1) + 1)):
                    yield bundle
            return
        next_number = start
        async for head in self._heads():
            while next_number <= head:
                chunk = range(next_number, min(head, next_number + self.batch_size - 1) + 1)
                for bundle in await self.fetch_bundles(chunk):
                    yield bundle
                next_number = chunk[-1] + 1

    async def fetch_bundles(self, numbers: Sequence[int]) -> list[BlockBundle]:
        """Bundles for these block numbers, asked again when answers raced with a new block."""
        if not numbers:
            return []
        await self._detect(numbers[0])
        for attempt in range(self.fetch_attempts):
            try:
                return await self._fetch(list(numbers))
            except InconsistentDataError as exc:
                if attempt + 1 == self.fetch_attempts:
                    raise
                log.info("%s: inconsistent answers for blocks %s-%s (%s); asking again",
                         self.chain, numbers[0], numbers[-1], exc)
                await asyncio.sleep(min(self.poll_interval, 1.0) * (attempt + 1))
        raise AssertionError("unreachable")

    async def _detect(self, number: int) -> None:
        """Learn once whether the node offers block receipts and traces (a node error means no)."""
        if self.use_block_receipts is None:
            try:
                await self.client.call("eth_getBlockReceipts", [hex(number)])
                self.use_block_receipts = True
            except NodeError as exc:
                log.info("%s: eth_getBlockReceipts not offered (%s); using eth_getLogs", self.chain, exc)
                self.use_block_receipts = False
        if self._traces_offered is None:
            try:
                await self.client.call("trace_block", [hex(number)])
                self._traces_offered = True
            except NodeError as exc:
                log.warning("%s: trace_block not offered (%s); bundles carry no traces", self.chain, exc)
                self._traces_offered = False

    async def _fetch(self, numbers: list[int]) -> list[BlockBundle]:
        receipts = bool(self.use_block_receipts)
        calls: list[tuple[str, Any]] = [("eth_getBlockByNumber", [hex(n), True]) for n in numbers]
        if receipts:
            calls += [("eth_getBlockReceipts", [hex(n)]) for n in numbers]
        if self._traces_offered:
            calls += [("trace_block", [hex(n)]) for n in numbers]
        results = await self.client.batch(calls)
        count = len(numbers)
        raw_blocks = results[:count]
        for number, raw in zip(numbers, raw_blocks, strict=True):
            if raw is None:
                raise InconsistentDataError(f"block {number} is not available yet on the node")
        raw_receipts = results[count : 2 * count] if receipts else [None] * count
        offset = 2 * count if receipts else count
        raw_traces = results[offset : offset + count] if self._traces_offered else [None] * count
        raw_logs: list[Any] = [None] * count
        if self.logs and not receipts:
            raw_logs = await self._logs_for(numbers, raw_blocks)
        bundles = []
        for number, block, rcpts, logs, traces in zip(numbers, raw_blocks, raw_receipts, raw_logs, raw_traces,
                                                      strict=True):
            if receipts and rcpts is None:
                raise InconsistentDataError(f"receipts of block {number} are not available yet on the node")
            bundle = parse.build_bundle(self.chain, block, receipts=rcpts, logs=logs, traces=traces,
                                        receipts_have_logs=self.logs)
            if bundle.block.number != number:
                raise InconsistentDataError(f"asked for block {number}, the node answered block {bundle.block.number}")
            bundles.append(bundle)
        return bundles

    async def _logs_for(self, numbers: list[int], raw_blocks: list[Any]) -> list[Any]:
        """Logs grouped per block: one range query when contiguous, else (or if refused) one per block hash."""
        if numbers == list(range(numbers[0], numbers[-1] + 1)):
            try:
                query = {"fromBlock": hex(numbers[0]), "toBlock": hex(numbers[-1])}
                found = await self.client.call("eth_getLogs", [query])
            except NodeError as exc:
                log.info("%s: eth_getLogs range refused (%s); asking per block", self.chain, exc)
            else:
                if not isinstance(found, list):
                    raise MalformedResponseError(f"eth_getLogs: expected a list, got {type(found).__name__}")
                grouped: dict[int, list[Any]] = {n: [] for n in numbers}
                for item in found:
                    number = parse.quantity(item if isinstance(item, dict) else {}, "blockNumber")
                    if number not in grouped:
                        raise InconsistentDataError(f"eth_getLogs {query} returned a log of block {number}")
                    grouped[number].append(item)
                return [grouped[n] for n in numbers]
        hashes = [parse.hex_data(raw, "hash", 32) for raw in raw_blocks]
        return await self.client.batch([("eth_getLogs", [{"blockHash": h}]) for h in hashes])

    async def _heads(self) -> AsyncIterator[int]:
        """Head numbers as they advance: newHeads over WebSocket, polling when there is none or it fails."""
        yield await self.head()
        while True:
            if self.ws_url:
                try:
                    async for number in self._ws_heads(self.ws_url):
                        yield number
                except (OSError, TimeoutError, WebSocketException, MalformedResponseError, NodeError) as exc:
                    log.warning("%s: newHeads subscription failed (%s); polling for %ss", self.chain, exc,
                                self.ws_retry_after)
                deadline = time.monotonic() + self.ws_retry_after
                while time.monotonic() < deadline:
                    await asyncio.sleep(self.poll_interval)
                    yield await self.head()
            else:
                await asyncio.sleep(self.poll_interval)
                yield await self.head()

    async def _ws_heads(self, url: str) -> AsyncIterator[int]:
        # A quiet socket for this long is treated as dead (the node stopped sending heads).
        silence = max(60.0, self.poll_interval * 30)
        async with connect(url, open_timeout=10, max_size=2**24) as socket:
            request = {"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}
            await socket.send(orjson.dumps(request).decode())
            reply = _json_object(await asyncio.wait_for(socket.recv(), 10))
            if reply.get("error") is not None:
                error = reply["error"]
                raise NodeError(int(error.get("code", -32000)), str(error.get("message", "")))
            subscription = reply.get("result")
            if not isinstance(subscription, str):
                raise MalformedResponseError("eth_subscribe: no subscription id in the answer")
            # Blocks mined between the last poll and the subscription would otherwise be missed.
            yield await self.head()
            while True:
                message = _json_object(await asyncio.wait_for(socket.recv(), silence))
                params = message.get("params")
                if message.get("method") == "eth_subscription" and isinstance(params, dict) \
                        and params.get("subscription") == subscription:
                    yield parse.quantity(params.get("result") or {}, "number")


def _json_object(raw: str | bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedResponseError("websocket message is not JSON") from exc
    if not isinstance(data, dict):
        raise MalformedResponseError("websocket message is not a JSON object")
    return data
