"""Real local receivers for alert deliveries: an HTTP webhook endpoint and an SMTP sink, on 127.0.0.1.

The webhook receiver verifies every request's signature with the shared secret, the way a user's
endpoint would, and can be stopped and started again on the same port (a receiver that is down).
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from onchain.alerts.signing import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Received:
    delivery_id: str
    timestamp: str
    signature: str
    body: bytes
    signature_ok: bool
    host: str = ""


@dataclass
class WebhookReceiver:
    """Answers POST /hook with `status` and records what came; `secret` verifies signatures."""

    secret: str = ""
    port: int = field(default_factory=free_port)
    status: int = 200
    # When set, requests are recorded but never answered (a slow receiver holding the sender mid-request).
    hang: bool = False
    received: list[Received] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _clients: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._clients):
                writer.close()
            await self._server.wait_closed()
            self._server = None

    def delivery_ids(self) -> list[str]:
        return [item.delivery_id for item in self.received]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                timestamp = headers.get(TIMESTAMP_HEADER.lower(), "")
                signature = headers.get(SIGNATURE_HEADER.lower(), "")
                ok = verify(self.secret, timestamp, body, signature, now=int(time.time()))
                delivery = headers.get(DELIVERY_HEADER.lower(), "")
                self.received.append(Received(delivery, timestamp, signature, body, ok, headers.get("host", "")))
                if self.hang:
                    await reader.read()  # until the sender goes away
                    return
                reply = f"HTTP/1.1 {self.status} X\r\ncontent-length: 0\r\n\r\n".encode()
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._clients.discard(writer)
            writer.close()


class _Sink:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


class SmtpSink:
    """aiosmtpd on 127.0.0.1 (its own thread), collecting every mail it accepts."""

    def __init__(self) -> None:
        self.port = free_port()
        self._handler = _Sink()
        self._controller = Controller(self._handler, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[tuple[list[str], Message]]:
        return self._handler.messages

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()
