"""Delivery: a worker that drains the database outbox through one sender per channel.

- `webhook`: POST of the alert JSON, signed (see `signing`), 2xx is success; targets resolving to
  private, loopback or link-local addresses are refused unless `webhook_allow_private` is set, and
  the request goes to the address that was checked (no second lookup to rebind).
- `email`: one message per firing over SMTP (aiosmtplib).
- `websocket`: the alert message published on the bus topic `alerts` as
  `{"userId": <owner>, "message": {"type": "alert", "alertId", "condition", "data", "timestamp", ...}}`;
  the WebSocket gateway of every API replica sends `message` to that user's connections subscribed to
  the `alerts` channel. Success means the bus took it; nobody connected is not a failure.

Failures are retried with exponential backoff and jitter for hours (`RetryPolicy`), then dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import aiosmtplib

from onchain.alerts import signing
from onchain.alerts.store import DEAD, DELIVERED, PENDING, AlertStore, AttemptResult, DeliveryJob
from onchain.alerts.targets import RefusedTarget, is_public_address, parse_webhook_url
from onchain.bus.base import Bus
from onchain.config import Settings
from onchain.domain.topics import ALERTS, UserAlert
from onchain.errors import StorageError
from onchain.outage import OutageLog

if TYPE_CHECKING:
    import httpx  # the sender is handed its client; importing the API (which reads this module) needs no httpx

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with equal jitter: attempt n waits d/2 + U(0, d/2), d = min(cap, base * factor**(n-1)).

    The defaults retry for about 17 hours (24 attempts, capped at one hour apart) before dead-lettering.
    """

    base_delay: float = 10.0
    factor: float = 2.0
    max_delay: float = 3600.0
    max_attempts: int = 24

    def delay(self, attempt: int, rng: random.Random) -> float:
        full = min(self.max_delay, self.base_delay * self.factor ** max(0, attempt - 1))
        return full / 2 + rng.uniform(0, full / 2)


async def check_webhook_url(url: str, allow_private: bool) -> str | None:
    """Raise RefusedTarget unless every address the URL's host resolves to is public (or private is allowed).

    Returns the address to connect to (the first one resolved) when targets are checked, None when
    private ones are allowed: the sender then connects to that very address, so a name that resolves
    to a public address for the check and to an internal one a moment later (DNS rebinding) reaches
    nothing but what was checked.
    """
    target = parse_webhook_url(url)
    if allow_private:
        return None
    host = target.host
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise RefusedTarget(f"webhook host {host!r} does not resolve: {exc}") from exc
    for info in infos:
        address = str(info[4][0])
        if not is_public_address(address):
            raise RefusedTarget(
                f"webhook host {host!r} resolves to the non-public address {address}; "
                "private and loopback targets need ONCHAIN_WEBHOOK_ALLOW_PRIVATE=1"
            )
    if not infos:
        raise RefusedTarget(f"webhook host {host!r} resolves to no address")
    return str(infos[0][4][0])


def pinned_request(url: str, address: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The request for `url` sent to `address`: (URL naming the address, Host header, httpx extensions).

    The Host header keeps the name for the receiver's routing; on https the TLS server name (SNI) and
    the certificate check keep it too, so only the connection itself goes to the pinned address.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    if ":" in host:
        host_header = f"[{host}]" if parts.port is None else f"[{host}]:{parts.port}"
    extensions: dict[str, Any] = {"sni_hostname": host} if parts.scheme == "https" else {}
    return parts._replace(netloc=netloc).geturl(), {"Host": host_header}, extensions


class Sender(Protocol):
    async def send(self, job: DeliveryJob) -> AttemptResult: ...


class AlertNotifier(Protocol):
    """Hands an alert message to the WebSocket layer for one user's connections."""

    async def notify(self, user_id: str, message: Mapping[str, Any]) -> None: ...


class BusNotifier:
    """The default notifier: publishes on the `alerts` bus topic, which every API replica's gateway reads."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    async def notify(self, user_id: str, message: Mapping[str, Any]) -> None:
        await self.bus.publish(ALERTS, UserAlert(user_id=user_id, message=message).encode())


class _Timer:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.started_at = clock()
        self._t0 = time.perf_counter()

    def result(self, ok: bool, **kwargs: Any) -> AttemptResult:
        return AttemptResult(ok, self.started_at, (time.perf_counter() - self._t0) * 1000, **kwargs)


class WebhookSender:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        allow_private: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.allow_private = allow_private
        self.clock = clock

    async def send(self, job: DeliveryJob) -> AttemptResult:
        import httpx  # loaded already: it made self.client

        timer = _Timer(self.clock)
        url = job.target or ""
        if not job.webhook_secret:
            return timer.result(False, error="the alert has no webhook secret", permanent=True)
        try:
            address = await check_webhook_url(url, self.allow_private)
        except RefusedTarget as exc:
            return timer.result(False, error=str(exc), permanent=True)
        headers = signing.headers(job.webhook_secret, int(self.clock()), job.payload, job.id)
        extensions: dict[str, Any] = {}
        if address is not None:
            url, host, extensions = pinned_request(url, address)
            headers = {**headers, **host}
        try:
            response = await self.client.post(
                url, content=job.payload, headers=headers, follow_redirects=False, extensions=extensions
            )
        except httpx.HTTPError as exc:
            return timer.result(False, error=f"{type(exc).__name__}: {exc}".rstrip(": "))
        ok = 200 <= response.status_code < 300
        error = None if ok else f"HTTP {response.status_code}"
        return timer.result(ok, status_code=response.status_code, error=error)


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int = 25
    sender: str = "onchain-alerts@localhost"
    username: str = ""
    password: str = ""
    starttls: bool = False
    ssl: bool = False
    timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig | None:
        if not settings.smtp_host:
            return None
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from,
            settings.smtp_username,
            settings.smtp_password,
            settings.smtp_starttls,
            settings.smtp_ssl,
        )


def email_for(config: SmtpConfig, to: str, payload: bytes) -> EmailMessage:
    """A plain-text mail: what fired, on which subject and block, and the full alert JSON."""
    alert = json.loads(payload)
    data = alert.get("data") or {}
    subject = data.get("subject") or {}
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = to
    message["Subject"] = f"[onchain alert] {alert.get('name')}: {alert.get('condition')} on {subject.get('id')}"
    lines = [
        f"Alert {alert.get('name')!r} fired: {alert.get('condition')} on {subject.get('type')} {subject.get('id')}.",
        f"Chain time {alert.get('timestamp')}, block {data.get('block')}.",
        "",
        json.dumps(alert, indent=2, sort_keys=True),
    ]
    message.set_content("\n".join(lines))
    return message


class EmailSender:
    def __init__(self, config: SmtpConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock

    async def send(self, job: DeliveryJob) -> AttemptResult:
        timer = _Timer(self.clock)
        config = self.config
        message = email_for(config, job.target or "", job.payload)
        try:
            await aiosmtplib.send(
                message,
                hostname=config.host,
                port=config.port,
                username=config.username or None,
                password=config.password or None,
                use_tls=config.ssl,
                start_tls=config.starttls,
                timeout=config.timeout,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return timer.result(False, error=f"{type(exc).__name__}: {exc}")
        return timer.result(True)


class WebsocketSender:
    def __init__(self, notifier: AlertNotifier, clock: Callable[[], float] = time.time) -> None:
        self.notifier = notifier
        self.clock = clock

    async def send(self, job: DeliveryJob) -> AttemptResult:
        timer = _Timer(self.clock)
        message = json.loads(job.payload)
        try:
            await self.notifier.notify(job.user_id, message)
        except Exception as exc:  # the notifier is an edge (Redis); any failure is retried
            return timer.result(False, error=f"{type(exc).__name__}: {exc}")
        return timer.result(True)


class DeliveryWorker:
    """Drains the outbox: claims due rows, sends them concurrently, records every attempt."""

    def __init__(
        self,
        store: AlertStore,
        senders: Mapping[str, Sender],
        policy: RetryPolicy | None = None,
        *,
        batch: int = 50,
        lease: float = 60.0,
        poll: float = 1.0,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.senders = dict(senders)
        self.policy = policy or RetryPolicy()
        self.batch = batch
        self.lease = lease
        self.poll = poll
        self.clock = clock
        self.rng = rng or random.Random()
        self.outage = OutageLog(log, "alert delivery (reading the outbox)")
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """New rows are in the outbox: look now rather than at the next poll."""
        self._wake.set()

    async def run_once(self) -> int:
        """Claim and send one batch of due deliveries; returns how many were attempted."""
        jobs = await self.store.claim_due(self.clock(), self.batch, self.lease)
        if jobs:
            await asyncio.gather(*(self._deliver(job) for job in jobs))
        return len(jobs)

    async def run(self) -> None:
        while True:
            try:
                attempted = await self.run_once()
            except StorageError as exc:  # the database is away: one line per outage, not a traceback per poll
                self.outage.failed(exc)
                attempted = 0
            except Exception:
                log.exception("alert delivery round failed; retrying after the poll interval")
                attempted = 0
            else:
                self.outage.succeeded()
            if attempted >= self.batch:
                continue
            timeout = self.poll
            with contextlib.suppress(Exception):
                due = await self.store.next_due()
                if due is not None:
                    timeout = min(self.poll, max(0.02, due - self.clock()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="alert-delivery")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _deliver(self, job: DeliveryJob) -> None:
        sender = self.senders.get(job.channel)
        if sender is None:
            result = AttemptResult(
                False, self.clock(), 0.0, error=f"no {job.channel} channel configured on this server"
            )
        else:
            try:
                result = await sender.send(job)
            except Exception as exc:
                log.exception("alert sender %s failed on delivery %s", job.channel, job.id)
                result = AttemptResult(False, self.clock(), 0.0, error=f"{type(exc).__name__}: {exc}")
        attempt = job.attempts + 1
        now = self.clock()
        if result.ok:
            status, next_at = DELIVERED, now
        elif result.permanent or attempt >= self.policy.max_attempts:
            status, next_at = DEAD, now
        else:
            status, next_at = PENDING, now + self.policy.delay(attempt, self.rng)
        await self.store.finish_attempt(job, result, status, next_at)


def default_senders(settings: Settings, client: httpx.AsyncClient, notifier: AlertNotifier) -> dict[str, Sender]:
    """One sender per channel this server can serve (email only when SMTP is configured)."""
    senders: dict[str, Sender] = {
        "webhook": WebhookSender(client, allow_private=settings.webhook_allow_private),
        "websocket": WebsocketSender(notifier),
    }
    smtp = SmtpConfig.from_settings(settings)
    if smtp is not None:
        senders["email"] = EmailSender(smtp)
    return senders
