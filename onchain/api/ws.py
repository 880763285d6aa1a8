"""`/v2/realtime`: the WebSocket protocol of design.md on top of the fan-out hub.

Client frames: `subscribe` / `unsubscribe` (`channel`, `params` with `protocolIds`, `tokenIds`,
`chains`, and `resumeFrom` on subscribe) and `ping`. A bad frame gets an `error` and the connection
stays up. Every reply goes through the connection's sink, so it is ordered with the updates.
The `alerts` channel is private: only an authenticated connection may subscribe (else `auth_required`),
and it receives the `{"type": "alert", ...}` messages of its own user's rules, without filters or seq.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket

from onchain.accounts.middleware import principal_of
from onchain.api.errors import echo
from onchain.api.ws_hub import Frame, Hub, Subscription
from onchain.api.ws_sinks import Sink, open_sink
from onchain.errors import InputError

router = APIRouter()

PONG = Frame.of({"type": "pong"})
# Filter bounds, per subscribe frame and per channel of a connection (subscribes widen a channel's
# filter): ids, chains (the registry's chains are few), and the length of each entry.
MAX_FILTER_IDS = 1000
MAX_FILTER_CHAINS = 100
MAX_FILTER_ENTRY_CHARS = 128


@dataclass(frozen=True, slots=True)
class RealtimeLimits:
    """Per-connection buffer bounds: bytes on the direct path, frames on the ASGI path."""

    max_buffer_bytes: int = 1 << 20
    max_frames: int = 1024


class ProtocolError(InputError):
    """A client frame we cannot act on; answered with `{"type": "error", code, message}`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def frame(self) -> Frame:
        return Frame.of({"type": "error", "code": self.code, "message": self.message})


def _string_list(params: Mapping[str, Any], name: str, *, lower: bool, most: int) -> frozenset[str]:
    value = params.get(name)
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProtocolError("invalid_params", f"params.{name} must be a list of strings")
    if len(value) > most:
        raise ProtocolError("invalid_params", f"params.{name} holds more than {most} entries")
    if any(len(v) > MAX_FILTER_ENTRY_CHARS for v in value):
        raise ProtocolError("invalid_params", f"params.{name} entries are at most {MAX_FILTER_ENTRY_CHARS} characters")
    return frozenset(v.strip().lower() if lower else v.strip() for v in value)


def parse_subscription(hub: Hub, message: Mapping[str, Any]) -> tuple[Subscription, dict[str, Any], int | None]:
    """The subscription a (un)subscribe frame asks for, its params as given, and `resumeFrom`."""
    channel = message.get("channel")
    if not isinstance(channel, str) or (channel not in hub.logs and channel not in hub.private_channels):
        raise ProtocolError("unknown_channel", f"channel must be one of {hub.channels}, got {echo(channel)}")
    params = message.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ProtocolError("invalid_params", "params must be an object")
    ids = (_string_list(params, "protocolIds", lower=True, most=MAX_FILTER_IDS)
           | _string_list(params, "tokenIds", lower=True, most=MAX_FILTER_IDS))
    chains = _string_list(params, "chains", lower=True, most=MAX_FILTER_CHAINS)
    resume = params.get("resumeFrom")
    if resume is not None and (isinstance(resume, bool) or not isinstance(resume, int) or resume < 0):
        raise ProtocolError("invalid_params", "params.resumeFrom must be a non-negative integer sequence number")
    return Subscription(channel, ids, chains), params, resume


class Session:
    """One client's conversation: parses its frames and answers through its sink."""

    def __init__(self, hub: Hub, sink: Sink, user_id: str | None = None) -> None:
        self.hub = hub
        self.sink = sink
        self.client = hub.attach(sink, user_id)

    def handle(self, raw: str | bytes) -> None:
        try:
            try:
                message = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise ProtocolError("invalid_json", f"frame is not JSON: {exc}") from exc
            if not isinstance(message, dict):
                raise ProtocolError("invalid_message", "frame must be a JSON object with a 'type'")
            kind = message.get("type")
            if kind == "ping":
                self.sink.deliver(PONG)
            elif kind == "subscribe":
                self._subscribe(message)
            elif kind == "unsubscribe":
                self._unsubscribe(message)
            else:
                raise ProtocolError("unknown_type", f"type must be subscribe, unsubscribe or ping, got {echo(kind)}")
        except ProtocolError as exc:
            self.sink.deliver(exc.frame())

    def _subscribe(self, message: Mapping[str, Any]) -> None:
        sub, params, resume = parse_subscription(self.hub, message)
        if sub.channel in self.hub.private_channels:
            if self.client.user_id is None:
                raise ProtocolError(
                    "auth_required", f"channel {sub.channel} needs an API key or a bearer token on the connection"
                )
            self.hub.join_private(self.client, sub.channel)
            self.sink.deliver(Frame.of({"type": "subscribed", "channel": sub.channel, "params": params}))
            return
        current = self.client.subs.get(sub.channel)
        widened = sub if current is None else current.widened(sub)
        if len(widened.ids) > MAX_FILTER_IDS:
            raise ProtocolError("too_many_subscriptions", f"at most {MAX_FILTER_IDS} ids per channel")
        if len(widened.chains) > MAX_FILTER_CHAINS:
            raise ProtocolError("too_many_subscriptions", f"at most {MAX_FILTER_CHAINS} chains per channel")
        resumed = self.hub.subscribe(self.client, sub, resume)
        # Nothing below awaits, so the backlog and the live stream join without a gap.
        reply = {"type": "subscribed", "channel": sub.channel, "params": params, "seq": resumed.last_seq}
        self.sink.deliver(Frame.of(reply))
        if resumed.gap:
            self.sink.deliver(
                ProtocolError(
                    "resume_gap",
                    f"history no longer holds everything after seq {resume} on {sub.channel}; "
                    f"replaying what it holds (newest seq {resumed.last_seq})",
                ).frame()
            )
        backlog = resumed.frame
        if backlog is not None:
            self.sink.deliver(backlog)

    def _unsubscribe(self, message: Mapping[str, Any]) -> None:
        sub, params, _ = parse_subscription(self.hub, message)
        if sub.channel in self.hub.private_channels:
            unsubscribed = self.hub.leave_private(self.client, sub.channel)
        else:
            unsubscribed = self.hub.unsubscribe(self.client, sub)
        if not unsubscribed:
            raise ProtocolError("not_subscribed", f"not subscribed to {sub.channel}")
        self.sink.deliver(Frame.of({"type": "unsubscribed", "channel": sub.channel, "params": params}))

    def close(self) -> None:
        self.hub.detach(self.client)


async def serve_connection(websocket: WebSocket, hub: Hub, limits: RealtimeLimits) -> None:
    """Accept, then read client frames until the client leaves or its sink drops it."""
    await websocket.accept()
    sink = open_sink(
        websocket,
        max_buffer_bytes=limits.max_buffer_bytes,
        max_frames=limits.max_frames,
        on_slow=hub.stats.count_slow_consumer,
    )
    principal = principal_of(websocket.scope)
    session = Session(hub, sink, principal.user_id if principal is not None else None)
    try:
        while True:
            receiving = asyncio.ensure_future(websocket.receive())
            await asyncio.wait((receiving, sink.closed), return_when=asyncio.FIRST_COMPLETED)
            if not receiving.done():
                receiving.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await receiving
                return
            message = receiving.result()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("text")
            if data is None:
                data = message.get("bytes") or b""
            session.handle(data)
    finally:
        session.close()
        await sink.aclose()


@router.websocket("/v2/realtime")
async def realtime(websocket: WebSocket) -> None:
    """Live updates: protocols, tvl, prices, volumes, blocks, swaps, mev, anomalies, and the caller's alerts."""
    state = websocket.app.state
    await serve_connection(websocket, state.hub, state.realtime_limits)
