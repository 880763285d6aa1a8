"""Python client for the REST API and `/v2/realtime`.

    async with OnchainClient("http://127.0.0.1:8000") as client:
        prices = await client.prices(["ethereum:0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"])
        async for update in client.subscribe("prices"):
            print(update.id, update.value, update.seq)

A subscription reconnects on its own after a dropped connection (with backoff) and resumes from
the last sequence number it delivered, so the iterator yields every update once, in order. If the
server's history no longer reaches back that far (or the server restarted), `stream.gaps` counts it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from onchain.errors import OnchainError

__all__ = ["ApiRequestError", "CoinPrice", "OnchainClient", "RealtimeStream", "Update"]


class ApiRequestError(OnchainError):
    """The API answered with an error: HTTP status plus the `{"error": {"code", "message"}}` it sent."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class CoinPrice(TypedDict):
    price: float
    symbol: str | None
    decimals: int | None
    timestamp: int
    confidence: float


@dataclass(frozen=True, slots=True)
class Update:
    """One `update` message: `data` is the whole payload, the rest its common fields."""

    channel: str
    seq: int
    id: str
    value: Any
    timestamp: int | None
    change24h: float | None
    block: int | None
    data: Mapping[str, Any]

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> Update:
        data = message["data"]
        return cls(
            channel=message["channel"],
            seq=int(message["seq"]),
            id=str(data.get("id", "")),
            value=data.get("value"),
            timestamp=data.get("timestamp"),
            change24h=data.get("change24h"),
            block=data.get("block"),
            data=data,
        )


def _messages(raw: str | bytes) -> list[dict[str, Any]]:
    decoded = json.loads(raw)
    return decoded if isinstance(decoded, list) else [decoded]


class RealtimeStream:
    """An async iterator over one channel's updates that survives reconnects without loss or repeats."""

    def __init__(
        self,
        url: str,
        channel: str,
        params: Mapping[str, Any],
        *,
        resume_from: int | None = None,
        headers: Mapping[str, str] | None = None,
        min_backoff: float = 0.1,
        max_backoff: float = 10.0,
    ) -> None:
        self.url = url
        self.channel = channel
        self.params = dict(params)
        self.last_seq = resume_from
        self.headers = dict(headers or {})
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.reconnects = 0
        self.gaps = 0
        self._ws: ClientConnection | None = None
        self._closed = False

    def __aiter__(self) -> AsyncIterator[Update]:
        return self._run()

    async def close(self) -> None:
        self._closed = True
        if self._ws is not None:
            await self._ws.close()

    async def _subscribe(self, ws: ClientConnection) -> None:
        params = dict(self.params)
        if self.last_seq is not None:
            params["resumeFrom"] = self.last_seq
        await ws.send(json.dumps({"type": "subscribe", "channel": self.channel, "params": params}))

    async def _run(self) -> AsyncIterator[Update]:
        backoff = self.min_backoff
        while not self._closed:
            try:
                async with connect(self.url, additional_headers=self.headers, max_size=None) as ws:
                    self._ws = ws
                    await self._subscribe(ws)
                    async for raw in ws:
                        for message in _messages(raw):
                            update = self._accept(message)
                            if update is not None:
                                backoff = self.min_backoff
                                yield update
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError):
                pass
            finally:
                self._ws = None
            if self._closed:
                return
            self.reconnects += 1
            await asyncio.sleep(backoff)
            backoff = min(self.max_backoff, backoff * 2)

    def _accept(self, message: Mapping[str, Any]) -> Update | None:
        kind = message.get("type")
        if kind == "subscribed" and message.get("channel") == self.channel:
            server_seq = int(message.get("seq", 0))
            if self.last_seq is None or server_seq < self.last_seq:
                # First subscription, or a restarted server whose numbering began again.
                self.last_seq = server_seq
        elif kind == "update" and message.get("channel") == self.channel:
            update = Update.from_message(message)
            if self.last_seq is not None and update.seq <= self.last_seq:
                return None  # already delivered before a reconnect
            self.last_seq = update.seq
            return update
        elif kind == "error":
            code = message.get("code")
            if code == "resume_gap":
                self.gaps += 1
            elif code != "slow_consumer":  # slow_consumer: the server drops us; we reconnect and resume
                raise ApiRequestError(400, str(code), str(message.get("message", "")))
        return None


class OnchainClient:
    """Typed REST calls plus realtime subscriptions against one server."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        api_key: str | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

    async def __aenter__(self) -> OnchainClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        response = await self._http.get(path, params={k: v for k, v in (params or {}).items() if v is not None})
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                code, message = str(error["code"]), str(error["message"])
            except (ValueError, KeyError, TypeError):
                code, message = f"http_{response.status_code}", response.text[:200]
            raise ApiRequestError(response.status_code, code, message)
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    async def health(self) -> dict[str, Any]:
        """`/health`; an unhealthy server answers 503, which raises ApiRequestError."""
        result: dict[str, Any] = await self._get("/health")
        return result

    async def metrics(self) -> str:
        """The Prometheus text of `/metrics`."""
        text: str = await self._get("/metrics")
        return text

    async def chains(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = (await self._get("/v2/chains"))["chains"]
        return result

    async def prices(self, coins: Sequence[str] | None = None) -> dict[str, CoinPrice]:
        """USD prices by coin id (`chain:address`); all priced coins when `coins` is None."""
        params = {"coins": ",".join(coins)} if coins else None
        result: dict[str, CoinPrice] = (await self._get("/v2/realtime/prices", params))["coins"]
        return result

    async def tvl(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._get("/v2/realtime/tvl")
        return result

    async def volumes(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._get("/v2/realtime/volumes")
        return result

    async def protocols(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = (await self._get("/v2/protocols"))["protocols"]
        return result

    async def protocol(self, slug: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._get(f"/v2/protocols/{slug}")
        return result

    async def pools(self, protocol: str | None = None, chain: str | None = None) -> Any:
        return await self._get("/v2/pools", {"protocol": protocol, "chain": chain})

    async def pool(self, pool_id: str) -> dict[str, Any]:
        """One pool by `chain:address`."""
        result: dict[str, Any] = await self._get(f"/v2/pools/{pool_id}")
        return result

    def subscribe(
        self,
        channel: str,
        *,
        protocol_ids: Sequence[str] | None = None,
        token_ids: Sequence[str] | None = None,
        chains: Sequence[str] | None = None,
        resume_from: int | None = None,
    ) -> RealtimeStream:
        """Updates of `channel` (filtered by ids and chains) as an async iterator that reconnects and resumes."""
        params: dict[str, Any] = {}
        if protocol_ids:
            params["protocolIds"] = list(protocol_ids)
        if token_ids:
            params["tokenIds"] = list(token_ids)
        if chains:
            params["chains"] = list(chains)
        scheme = "wss" if self.base_url.startswith("https") else "ws"
        url = f"{scheme}{self.base_url[self.base_url.index(':'):]}/v2/realtime"
        headers = {"X-API-Key": self.api_key} if self.api_key else {}
        return RealtimeStream(url, channel, params, resume_from=resume_from, headers=headers)
