"""An async JSON-RPC client for a chain's endpoints: batches, retries, failover, rate limits.

Every answer is checked against JSON-RPC before anyone sees it: a body that is not JSON, an id we
did not send, or a reply with neither `result` nor `error` becomes a `MalformedResponseError`;
network trouble, 429 and 5xx become `RetriableRpcError`s that move the request to the healthiest
other endpoint after a jittered exponential backoff. A node's own error object is a `NodeError`
and is not retried: another endpoint would say the same.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from onchain.errors import (
    AllEndpointsFailedError,
    MalformedResponseError,
    NodeError,
    RateLimitedError,
    RetriableRpcError,
    RpcError,
    RpcTimeoutError,
)

Params = Sequence[Any] | dict[str, Any]
# Node error codes that mean "slow down", not "your request is wrong".
RATE_LIMIT_CODES = frozenset({-32005, -32090, 429})
_SECRET_SEGMENT = re.compile(r"^[A-Za-z0-9_-]{20,}$")


class TokenBucket:
    """Allows `rate` requests per second on average with bursts of `burst`; waits rather than fails."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self._tokens = self.capacity
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            if self._tokens < 1.0:
                await asyncio.sleep((1.0 - self._tokens) / self.rate)
                self._updated = time.monotonic()
                self._tokens = 1.0
            self._tokens -= 1.0


@dataclass
class Endpoint:
    """One URL and what we have learned about it. Score is 0..1: failures halve it, successes restore it."""

    url: str
    bucket: TokenBucket | None = None
    score: float = 1.0
    latency_ms: float | None = None
    consecutive_failures: int = 0
    unavailable_until: float = 0.0
    deaths: int = 0
    last_error: str | None = None
    requests: int = 0
    errors: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def available(self, now: float) -> bool:
        return now >= self.unavailable_until

    def rank(self) -> float:
        """Higher is better: a reliable endpoint first, then a fast one."""
        latency_s = (self.latency_ms or 0.0) / 1000.0
        return self.score / (1.0 + latency_s)


def redact_url(url: str) -> str:
    """The URL without path segments or query strings that look like API keys, for /health and logs."""
    parts = urlsplit(url)
    segments = ["***" if _SECRET_SEGMENT.match(s) and any(c.isdigit() for c in s) else s
                for s in parts.path.split("/")]
    return f"{parts.scheme}://{parts.netloc}{'/'.join(segments)}" + ("?***" if parts.query else "")


class JsonRpcClient:
    """JSON-RPC over HTTP(S) to one chain's endpoints, listed in order of preference."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        timeout: float = 10.0,
        max_attempts: int = 4,
        backoff_base: float = 0.25,
        backoff_max: float = 8.0,
        rate_limit: float | None = None,
        burst: float | None = None,
        failures_before_dead: int = 3,
        dead_cooldown: float = 30.0,
        max_batch_size: int = 100,
        max_concurrency: int = 8,
        headers: dict[str, str] | None = None,
    ) -> None:
        if not urls:
            raise ValueError("JsonRpcClient needs at least one endpoint URL")
        self.endpoints = [Endpoint(u, TokenBucket(rate_limit, burst) if rate_limit else None) for u in urls]
        self.max_attempts = max(1, max_attempts)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.failures_before_dead = failures_before_dead
        self.dead_cooldown = dead_cooldown
        self.max_batch_size = max_batch_size
        self._concurrency = asyncio.Semaphore(max_concurrency)
        self._ids = itertools.count(1)
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            headers={"content-type": "application/json", **(headers or {})},
            limits=httpx.Limits(max_connections=max_concurrency * 2, max_keepalive_connections=max_concurrency),
        )

    async def __aenter__(self) -> JsonRpcClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def call(self, method: str, params: Params = ()) -> Any:
        """One call; returns its `result` (which may be None, e.g. an unknown block)."""
        request_id = next(self._ids)
        payload = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": _params(params)}
        return await self._send(orjson.dumps(payload), lambda data: _single_result(data, request_id, method))

    async def batch(self, calls: Sequence[tuple[str, Params]]) -> list[Any]:
        """Many calls as JSON-RPC batches of at most `max_batch_size`; results in the order of `calls`.

        Any item's error fails the whole batch with that item's typed error, so a caller never gets a
        list with holes in it.
        """
        if not calls:
            return []
        chunks = [calls[i : i + self.max_batch_size] for i in range(0, len(calls), self.max_batch_size)]
        parts = await asyncio.gather(*(self._batch_chunk(chunk) for chunk in chunks))
        return [result for part in parts for result in part]

    async def _batch_chunk(self, calls: Sequence[tuple[str, Params]]) -> list[Any]:
        ids = [next(self._ids) for _ in calls]
        payload = [
            {"jsonrpc": "2.0", "id": i, "method": method, "params": _params(params)}
            for i, (method, params) in zip(ids, calls, strict=True)
        ]
        methods = [method for method, _ in calls]
        try:
            results: list[Any] = await self._send(
                orjson.dumps(payload), lambda data: _batch_results(data, ids, methods)
            )
        except NodeError as exc:
            if len(calls) < 2 or "batch" not in exc.rpc_message.lower():
                raise
            # The node caps batch sizes: remember a smaller size and split this chunk.
            half = len(calls) // 2
            self.max_batch_size = min(self.max_batch_size, half)
            return await self._batch_chunk(calls[:half]) + await self._batch_chunk(calls[half:])
        return results

    def endpoint_status(self) -> list[dict[str, Any]]:
        """Per-endpoint health for /health and metrics (URLs with key-like parts redacted)."""
        now = time.monotonic()
        return [
            {
                "url": redact_url(e.url),
                "healthy": e.available(now) and e.consecutive_failures < self.failures_before_dead,
                "score": round(e.score, 3),
                "latency_ms": None if e.latency_ms is None else round(e.latency_ms, 1),
                "last_error": e.last_error,
                "requests": e.requests,
                "errors": e.errors,
            }
            for e in self.endpoints
        ]

    def _pick(self, tried: set[int]) -> int:
        """Best available endpoint not yet tried for this request; else the one that recovers soonest."""
        now = time.monotonic()
        candidates = [i for i, e in enumerate(self.endpoints) if e.available(now) and i not in tried]
        if not candidates:
            candidates = [i for i, e in enumerate(self.endpoints) if e.available(now)]
        if candidates:
            return max(candidates, key=lambda i: (self.endpoints[i].rank(), -i))
        return min(range(len(self.endpoints)), key=lambda i: self.endpoints[i].unavailable_until)

    async def _send(self, body: bytes, check: Callable[[Any], Any]) -> Any:
        tried: set[int] = set()
        failures: list[tuple[str, RpcError]] = []
        for attempt in range(self.max_attempts):
            index = self._pick(tried)
            endpoint = self.endpoints[index]
            if index in tried:
                await asyncio.sleep(self._backoff(attempt))
            tried.add(index)
            wait = endpoint.unavailable_until - time.monotonic()
            if wait > 0:
                await asyncio.sleep(min(wait, self.backoff_max))
            try:
                async with self._concurrency:
                    data, latency_ms = await self._post(endpoint, body)
                result = check(data)
            except NodeError as exc:
                if exc.code not in RATE_LIMIT_CODES:
                    self._succeeded(endpoint, None)
                    raise
                failure: RpcError = RateLimitedError(f"{redact_url(endpoint.url)}: {exc}")
                self._failed(endpoint, failure)
                failures.append((endpoint.url, failure))
                continue
            except (RetriableRpcError, MalformedResponseError) as exc:
                self._failed(endpoint, exc)
                failures.append((endpoint.url, exc))
                continue
            self._succeeded(endpoint, latency_ms)
            return result
        last = failures[-1][1]
        if all(isinstance(err, MalformedResponseError) for _, err in failures):
            raise last
        summary = "; ".join(f"{redact_url(url)}: {err}" for url, err in failures[-3:])
        raise AllEndpointsFailedError(f"{len(failures)} attempts failed ({summary})") from last

    def _backoff(self, attempt: int) -> float:
        cap = min(self.backoff_max, self.backoff_base * (2**attempt))
        return random.uniform(cap / 2, cap)

    async def _post(self, endpoint: Endpoint, body: bytes) -> tuple[Any, float]:
        """POST and decode; foreign exceptions become ours here and nowhere else."""
        if endpoint.bucket is not None:
            await endpoint.bucket.acquire()
        endpoint.requests += 1
        started = time.perf_counter()
        try:
            response = await self._http.post(endpoint.url, content=body)
        except httpx.TimeoutException as exc:
            raise RpcTimeoutError(f"timed out: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise RetriableRpcError(f"transport error: {type(exc).__name__}: {exc}") from exc
        latency_ms = (time.perf_counter() - started) * 1000.0
        if response.status_code == 429:
            retry_after = _retry_after(response.headers.get("retry-after"))
            endpoint.unavailable_until = max(endpoint.unavailable_until, time.monotonic() + retry_after)
            raise RateLimitedError(f"HTTP 429, retry after {retry_after:g}s")
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            if response.status_code >= 400:
                raise RetriableRpcError(f"HTTP {response.status_code}") from exc
            raise MalformedResponseError(f"answer is not JSON ({len(response.content)} bytes)") from exc
        if response.status_code >= 500 and not _is_jsonrpc(data):
            raise RetriableRpcError(f"HTTP {response.status_code}")
        if response.status_code >= 400 and not _is_jsonrpc(data):
            raise RetriableRpcError(f"HTTP {response.status_code}: endpoint refused the request")
        return data, latency_ms

    def _succeeded(self, endpoint: Endpoint, latency_ms: float | None) -> None:
        endpoint.score = min(1.0, endpoint.score * 0.8 + 0.2)
        endpoint.consecutive_failures = 0
        endpoint.deaths = 0
        if latency_ms is not None:
            previous = endpoint.latency_ms
            endpoint.latency_ms = latency_ms if previous is None else previous * 0.7 + latency_ms * 0.3

    def _failed(self, endpoint: Endpoint, error: RpcError) -> None:
        endpoint.score *= 0.5
        endpoint.errors += 1
        endpoint.consecutive_failures += 1
        endpoint.last_error = str(error)[:300]
        if endpoint.consecutive_failures >= self.failures_before_dead:
            # Dead for a while, longer each time it dies again; then it gets another chance.
            cooldown = min(self.dead_cooldown * (2**endpoint.deaths), self.dead_cooldown * 16)
            endpoint.deaths += 1
            endpoint.unavailable_until = max(endpoint.unavailable_until, time.monotonic() + cooldown)


def _params(params: Params) -> list[Any] | dict[str, Any]:
    return params if isinstance(params, dict) else list(params)


def _retry_after(value: str | None) -> float:
    try:
        return min(max(float(value), 0.0), 60.0) if value else 1.0
    except ValueError:
        return 1.0


def _is_jsonrpc(data: Any) -> bool:
    if isinstance(data, list):
        return bool(data) and all(isinstance(item, dict) and "id" in item for item in data)
    return isinstance(data, dict) and ("result" in data or "error" in data)


def _node_error(error: Any, method: str) -> RpcError:
    if not isinstance(error, dict) or not isinstance(error.get("code"), int):
        return MalformedResponseError(f"{method}: error object without an integer code: {str(error)[:200]}")
    return NodeError(error["code"], str(error.get("message", "")), error.get("data"))


def _single_result(data: Any, request_id: int, method: str) -> Any:
    if not isinstance(data, dict):
        raise MalformedResponseError(f"{method}: expected a JSON object, got {type(data).__name__}")
    if "error" in data and data["error"] is not None:
        # A node may answer a request it could not parse with id null; the error is still the answer.
        if data.get("id") not in (request_id, None):
            raise MalformedResponseError(f"{method}: answer id {data.get('id')!r}, sent {request_id}")
        raise _node_error(data["error"], method)
    if data.get("id") != request_id:
        raise MalformedResponseError(f"{method}: answer id {data.get('id')!r}, sent {request_id}")
    if "result" not in data:
        raise MalformedResponseError(f"{method}: answer has neither result nor error")
    return data["result"]


def _batch_results(data: Any, ids: list[int], methods: list[str]) -> list[Any]:
    if isinstance(data, dict) and data.get("error") is not None:
        raise _node_error(data["error"], "batch")
    if not isinstance(data, list):
        raise MalformedResponseError(f"batch: expected a JSON list, got {type(data).__name__}")
    by_id: dict[Any, Any] = {}
    for item in data:
        if not isinstance(item, dict):
            raise MalformedResponseError("batch: an item is not a JSON object")
        if item.get("error") is not None:
            # Also covers a node refusing the whole batch with one error item (e.g. a batch size limit).
            raise _node_error(item["error"], methods[ids.index(item["id"])] if item.get("id") in ids else "batch")
        by_id[item.get("id")] = item
    missing = [i for i in ids if i not in by_id]
    if missing or len(data) != len(ids):
        raise MalformedResponseError(f"batch: sent {len(ids)} ids, got {len(data)} answers, {len(missing)} missing")
    return [_single_result(by_id[i], i, method) for i, method in zip(ids, methods, strict=True)]
