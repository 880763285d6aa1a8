"""How frames reach one WebSocket client, with a bounded buffer and a drop for clients that lag.

Two ways out, picked per connection:
- `TransportSink` writes the frame's shared wire bytes straight to the socket's transport. Used when
  the server is uvicorn's sans-I/O WebSocket protocol and no extension (compression) was negotiated,
  so an unmasked server frame is the same bytes for every client. Sending then costs one
  `transport.write`, and the transport's write buffer is the bounded per-connection buffer.
- `AsgiSink` is the portable path for any ASGI server: a bounded queue drained by one writer task.
A client whose buffer overflows gets `{"type": "error", "code": "slow_consumer"}` (best effort)
and is disconnected; nothing waits on it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol, cast

from starlette.websockets import WebSocket, WebSocketDisconnect

from onchain.api.ws_hub import Frame

RAW_SEND_SCOPE_KEY = "onchain.raw_send"
SLOW_CONSUMER_CLOSE_CODE = 1008
DROP_GRACE_SECONDS = 2.0
TRANSPORT_METHODS = ("write", "get_write_buffer_size", "is_closing", "close", "abort")


def slow_consumer_frame(limit: str) -> Frame:
    return Frame.of(
        {
            "type": "error",
            "code": "slow_consumer",
            "message": f"client fell behind by more than {limit}; disconnecting",
        }
    )


def close_frame(code: int, reason: str) -> bytes:
    body = code.to_bytes(2, "big") + reason.encode()[:123]
    return bytes((0x88, len(body))) + body


class RawSendMiddleware:
    """Outermost ASGI layer: keeps the server's own `send` in the scope so `open_sink` can find its transport."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "websocket":
            scope[RAW_SEND_SCOPE_KEY] = send
        await self.app(scope, receive, send)


class BufferedTransport(Protocol):
    """What `TransportSink` uses of a transport (asyncio's and uvloop's both have it)."""

    def write(self, data: bytes) -> None: ...

    def get_write_buffer_size(self) -> int: ...

    def is_closing(self) -> bool: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


class TransportSink:
    """Frames go straight to the transport; its write buffer is bounded by `max_buffer_bytes`."""

    def __init__(
        self, transport: BufferedTransport, *, max_buffer_bytes: int, on_slow: Callable[[], None]
    ) -> None:
        self._transport = transport
        self._max = max_buffer_bytes
        self._on_slow = on_slow
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def deliver(self, frame: Frame) -> None:
        if self.closed.done():
            return
        transport = self._transport
        if transport.is_closing():
            self._finish()
            return
        transport.write(frame.wire)
        if transport.get_write_buffer_size() > self._max:
            self._drop_slow()

    def _drop_slow(self) -> None:
        self._on_slow()
        transport = self._transport
        transport.write(slow_consumer_frame(f"{self._max} bytes").wire)
        transport.write(close_frame(SLOW_CONSUMER_CLOSE_CODE, "slow_consumer"))
        transport.close()
        # close() waits for the buffer to drain; a client that never reads would hold it forever.
        asyncio.get_running_loop().call_later(DROP_GRACE_SECONDS, self._abort_if_stuck)
        self._finish()

    def _abort_if_stuck(self) -> None:
        # A non-empty buffer means the transport is still open (closing empties it first).
        if self._transport.get_write_buffer_size() > 0:
            self._transport.abort()

    def _finish(self) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    async def aclose(self) -> None:
        self._finish()


class AsgiSink:
    """Frames queue (at most `max_frames`) for one writer task that sends them through ASGI."""

    def __init__(self, websocket: WebSocket, *, max_frames: int, on_slow: Callable[[], None]) -> None:
        self._websocket = websocket
        self._max = max_frames
        self._on_slow = on_slow
        self._queue: deque[Frame] = deque()
        self._wake = asyncio.Event()
        self._closing = False
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run())

    def deliver(self, frame: Frame) -> None:
        if self._closing:
            return
        if len(self._queue) >= self._max:
            self._drop_slow()
            return
        self._queue.append(frame)
        self._wake.set()

    def _drop_slow(self) -> None:
        self._on_slow()
        self._closing = True
        self._queue.clear()
        self._queue.append(slow_consumer_frame(f"{self._max} frames"))
        self._wake.set()
        asyncio.get_running_loop().call_later(DROP_GRACE_SECONDS, self._task.cancel)

    async def _run(self) -> None:
        websocket = self._websocket
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._queue:
                    await websocket.send_text(self._queue.popleft().text)
                if self._closing:
                    await websocket.close(SLOW_CONSUMER_CLOSE_CODE, "slow_consumer")
                    return
        except (asyncio.CancelledError, OSError, RuntimeError, WebSocketDisconnect):
            # Cancelled by the drop grace timer or by aclose; or the peer is gone mid-send.
            return
        finally:
            self._closing = True
            if not self.closed.done():
                self.closed.set_result(None)

    async def aclose(self) -> None:
        self._closing = True
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


Sink = TransportSink | AsgiSink


def open_sink(
    websocket: WebSocket, *, max_buffer_bytes: int, max_frames: int, on_slow: Callable[[], None]
) -> Sink:
    """The direct transport path when the server allows it, else the portable ASGI path."""
    raw_send = websocket.scope.get(RAW_SEND_SCOPE_KEY)
    protocol = getattr(raw_send, "__self__", None)
    transport = getattr(protocol, "transport", None)
    connection = getattr(protocol, "conn", None)
    # Duck-typed: uvloop's transports do not subclass asyncio's.
    if (
        all(callable(getattr(transport, name, None)) for name in TRANSPORT_METHODS)
        and connection is not None
        and getattr(connection, "extensions", None) == []
    ):
        return TransportSink(cast(BufferedTransport, transport), max_buffer_bytes=max_buffer_bytes, on_slow=on_slow)
    return AsgiSink(websocket, max_frames=max_frames, on_slow=on_slow)
