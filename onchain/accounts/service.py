"""Accounts as the API sees them: who is calling (`Principal`), what they may do, and account changes.

One `AccountsService` per api process. It resolves credentials (API key or JWT) to a principal,
counts failed authentications per client address, checks rate and connection limits, tracks this
process's WebSocket connections per user and key, and carries out key, tier and erase operations.
Changes that other processes must see at once (a revoked key whose sockets must close, a changed tier,
an erased user whose sockets must close) go out on the bus topic `accounts`; every process, this one
included, acts on them.

Tiers: a user's keys and tier-less tokens get the stored tier, and the stored tier follows the
identity provider: a token whose `tier` claim differs updates it (keys do not carry a tier of their
own, so a downgrade cannot be kept by holding on to a key made before it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from onchain.accounts import allowlist, keys, names
from onchain.accounts.jwt import JwtVerifier, TokenError
from onchain.accounts.ratelimit import (
    ConnectionLimiter,
    Decision,
    LocalConnectionLimiter,
    LocalRateLimiter,
    RateLimiter,
    RedisConnectionLimiter,
    RedisRateLimiter,
    refusal_at,
)
from onchain.accounts.store import AccountStore, Erased, KeyRecord, UserRecord
from onchain.accounts.tiers import IP_ALLOWLIST, TIER_NAMES, Tier, build_tiers, lowest_tier_with
from onchain.bus.base import Bus, BusError, Subscription
from onchain.config import Settings
from onchain.domain.topics import ACCOUNTS
from onchain.errors import DeniedError, StorageError
from onchain.outage import OutageLog

log = logging.getLogger(__name__)

CACHE_SECONDS = 5.0  # how long a process trusts a key lookup; revocations also invalidate at once via the bus
CACHE_ENTRIES = 10_000
# Failed authentications one client address may have per minute (a token bucket: also the burst); past
# it, 429 without looking the credential up. Shared through Redis like the request buckets.
AUTH_FAILURES_PER_MINUTE = 20
TOUCH_SECONDS = 60.0  # last_used_at is written at most this often per key
REFRESH_SECONDS = 30.0


CHALLENGE = 'Bearer realm="onchain", ApiKey header="X-API-Key"'


class AuthError(DeniedError):
    """A refusal: 401 (who are you?; carries a `WWW-Authenticate` challenge), 403 (not from there, not
    on your plan) or 429 (too many failed attempts; carries the bucket's `Retry-After`). The middleware
    renders it, and so does the app's handler when a route raises it."""

    def __init__(self, status: int, code: str, message: str, *, retry_after: Decision | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        if self.retry_after is not None:
            return self.retry_after.headers()
        return {"WWW-Authenticate": CHALLENGE} if self.status == 401 else {}


class QuotaError(DeniedError):
    """A tier limit on owned things (keys, alerts) reached; answered 403 `tier_limit`."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request: a user (by API key or JWT) or an anonymous client at the free tier."""

    user_id: str | None
    tier: Tier
    via: str  # "anonymous" | "api_key" | "jwt"
    client: str
    key_id: str | None = None

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def subject(self) -> str:
        """Whose bucket and connection count this request uses: the user's, else the client address's."""
        return f"user:{self.user_id}" if self.user_id is not None else f"ip:{self.client}"


@dataclass(slots=True)
class _CachedKey:
    expires: float
    found: tuple[KeyRecord, UserRecord]


@dataclass(frozen=True, slots=True)
class _Connection:
    """One open WebSocket: the API key it authenticated with (None for a JWT) and how to close it."""

    key_id: str | None
    close: Callable[[str], None]


@dataclass(slots=True)
class _Connections:
    """This process's open WebSocket connections of one user, by connection id."""

    held: dict[str, _Connection] = field(default_factory=dict)


def _failures_of(client: str) -> str:
    """The rate limiter subject counting failed authentications from a client address."""
    return f"authfail:{client}"


def _too_many_failures(refusal: Decision) -> AuthError:
    return AuthError(
        429, "too_many_failures", "too many failed authentications from this address; retry later", retry_after=refusal
    )


class UserAlerts(Protocol):
    """The alert rules users own, as accounts needs them: counted for the tier quota, removed on erase.
    The alert store provides it; the app wires it in, so accounts does not depend on alerts."""

    async def active_count(self, user_id: str) -> int: ...

    async def delete_user(self, user_id: str) -> int: ...


class AccountsService:
    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        bus: Bus | None = None,
        *,
        alerts: UserAlerts | None = None,
        limiter: RateLimiter | None = None,
        connections: ConnectionLimiter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = AccountStore(engine)
        self._alerts = alerts
        self.bus = bus
        self.tiers = build_tiers(settings.tiers)
        # A configured pepper is checked at once; the generated-file default waits for the first key.
        self._pepper: bytes | None = keys.load_pepper(settings) if settings.api_key_pepper else None
        self.jwt = JwtVerifier.from_settings(settings)
        self.trusted_proxies = allowlist.parse_networks(settings.trusted_proxies)
        if limiter is None:
            limiter = (
                RedisRateLimiter.from_url(settings.redis_url, settings.redis_prefix)
                if settings.redis_url
                else LocalRateLimiter()
            )
        if connections is None:
            connections = (
                RedisConnectionLimiter.from_url(settings.redis_url, settings.redis_prefix)
                if settings.redis_url
                else LocalConnectionLimiter()
            )
        self.limiter = limiter
        self.connections = connections
        self.clock = clock
        self._cache: dict[str, _CachedKey] = {}
        self._touched: dict[str, float] = {}
        self._token_tiers: dict[str, str] = {}  # JWT subject -> the tier claim this process last stored
        self._open: dict[str, _Connections] = {}
        self._held: dict[str, str] = {}  # connection id -> limiter subject
        self._tasks: list[asyncio.Task[None]] = []
        self._subscription: Subscription | None = None
        self._rechecking = OutageLog(log, "rechecking the API keys of open WebSocket connections")

    @property
    def pepper(self) -> bytes:
        """Loaded (or generated) on first use, so an app that never sees a key writes no pepper file."""
        if self._pepper is None:
            self._pepper = keys.load_pepper(self.settings)
        return self._pepper

    @property
    def free(self) -> Tier:
        return self.tiers["free"]

    # ---- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.bus is not None:
            self._subscription = await self.bus.subscribe(ACCOUNTS)
            self._tasks.append(asyncio.create_task(self._follow(self._subscription)))
        self._tasks.append(asyncio.create_task(self._refresh_connections()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._subscription is not None:
            await self._subscription.close()
            self._subscription = None
        await self.limiter.close()
        await self.connections.close()

    async def _follow(self, subscription: Subscription) -> None:
        async for message in subscription:
            try:
                self._apply(message.json())
            except (ValueError, TypeError, KeyError) as exc:
                log.warning("ignoring a malformed accounts message: %s", exc)

    def _apply(self, change: dict[str, Any]) -> None:
        for key_hash in change.get("keyHashes", ()):
            self._cache.pop(key_hash, None)
        if change.get("kind") == "tier":
            user_id = change["userId"]
            self._token_tiers.pop(user_id, None)
            for key_hash in [h for h, c in self._cache.items() if c.found[1].id == user_id]:
                del self._cache[key_hash]
        elif change.get("kind") == "erased":
            self.close_user_connections(change["userId"], "account erased")
        elif change.get("kind") == "revoked" and "userId" in change:
            self.close_user_connections(change["userId"], "API key revoked", key_ids=set(change["keyIds"]))

    async def _announce(self, change: dict[str, Any]) -> None:
        """Apply a committed change here and tell the other processes. If the bus fails, they still
        learn: their key cache expires within CACHE_SECONDS and open connections are rechecked."""
        self._apply(change)
        if self.bus is not None:
            try:
                await self.bus.publish(ACCOUNTS, change)
            except BusError as exc:
                log.warning("could not announce an account change (%s) to other processes: %s", change["kind"], exc)

    async def _refresh_connections(self) -> None:
        """Every REFRESH_SECONDS: keep this process's connection slots alive and close connections whose
        key was revoked. While the database is away the recheck waits for the next round (one log line
        when it starts failing, one when it works again); nothing ends this task but `stop`."""
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            await self.connections.refresh(dict(self._held))
            try:
                await self.close_revoked_connections()
            except StorageError as exc:
                self._rechecking.failed(exc)
            except Exception:  # a bug closing one connection must not end the rechecks of all of them
                log.exception("rechecking the keys of open WebSocket connections failed")
            else:
                self._rechecking.succeeded()

    async def close_revoked_connections(self) -> int:
        """Close this process's connections whose API key is no longer active. Revocations announced on
        the bus close them at once; this catches the rest (a key revoked by `onchain keys revoke` without
        Redis, an announcement lost while the bus was down). StorageError if the database is away."""
        by_key = {
            connection.key_id: user_id
            for user_id, mine in self._open.items()
            for connection in mine.held.values()
            if connection.key_id is not None
        }
        if not by_key:
            return 0
        revoked = set(by_key) - await self.store.active_key_ids(by_key)
        return sum(
            self.close_user_connections(user_id, "API key revoked", key_ids=revoked)
            for user_id in {by_key[key_id] for key_id in revoked}
        )

    # ---- authentication -----------------------------------------------------------------------------

    def client_address(self, peer: str | None, forwarded_for: Sequence[str]) -> str:
        return allowlist.client_address(peer, forwarded_for, self.trusted_proxies)

    async def authenticate(self, api_key: str | None, bearer: str | None, client: str) -> Principal:
        """The principal for these credentials; none at all is the anonymous free tier. Raises AuthError;
        each 401 counts against the client address, which gets 429 once it has failed too often."""
        try:
            if api_key is not None:
                return await self._by_key(api_key.strip(), client)
            if bearer is not None:
                return await self._by_token(bearer.strip(), client)
        except AuthError as exc:
            if exc.status != 401:
                raise
            failures = await self.limiter.hit(_failures_of(client), AUTH_FAILURES_PER_MINUTE)
            if failures.allowed:
                raise
            raise _too_many_failures(failures) from None
        return Principal(None, self.free, "anonymous", client)

    async def _lookup(self, key_hash: str, client: str) -> tuple[KeyRecord, UserRecord] | None:
        now = time.monotonic()
        cached = self._cache.get(key_hash)
        if cached is not None and cached.expires > now:
            return cached.found
        # An address that keeps failing gets no more database lookups until its bucket refills.
        refusal = refusal_at(await self.limiter.hit(_failures_of(client), AUTH_FAILURES_PER_MINUTE, cost=0))
        if refusal is not None:
            raise _too_many_failures(refusal)
        found = await self.store.key_by_hash(key_hash)
        if found is not None:  # only keys that exist are cached, so failed lookups never push out valid ones
            self._remember(key_hash, _CachedKey(now + CACHE_SECONDS, found), now)
        return found

    def _remember(self, key_hash: str, entry: _CachedKey, now: float) -> None:
        if len(self._cache) >= CACHE_ENTRIES:
            for stale in [h for h, cached in self._cache.items() if cached.expires <= now]:
                del self._cache[stale]
        if len(self._cache) >= CACHE_ENTRIES:
            del self._cache[next(iter(self._cache))]  # the longest held
        self._cache.pop(key_hash, None)
        self._cache[key_hash] = entry

    async def _by_key(self, api_key: str, client: str) -> Principal:
        if not keys.is_well_formed(api_key):
            raise AuthError(401, "invalid_api_key", "the API key is not valid")
        found = await self._lookup(keys.hash_key(self.pepper, api_key), client)
        if found is None or not found[0].active:
            raise AuthError(401, "invalid_api_key", "the API key is not valid or has been revoked")
        record, user = found
        if record.allowed_cidrs and not allowlist.in_networks(
            client, allowlist.parse_networks(record.allowed_cidrs)
        ):
            raise AuthError(403, "ip_not_allowed", "this API key may not be used from this address")
        await self._touch(record.id)
        return Principal(user.id, self.tiers.get(user.tier, self.free), "api_key", client, record.id)

    async def _touch(self, key_id: str) -> None:
        now = time.monotonic()
        if now - self._touched.get(key_id, -TOUCH_SECONDS) < TOUCH_SECONDS:
            return
        if len(self._touched) >= CACHE_ENTRIES:
            self._touched.clear()
        self._touched[key_id] = now
        await self.store.touch_key(key_id, self.clock())

    async def _by_token(self, token: str, client: str) -> Principal:
        if self.jwt is None:
            raise AuthError(401, "jwt_not_configured", "this server does not accept bearer tokens")
        try:
            claims = self.jwt.verify(token)
        except TokenError as exc:
            raise AuthError(401, exc.code, exc.message) from exc
        tier_name = claims.tier if claims.tier in self.tiers else None
        if tier_name is None:
            user = await self.store.user(claims.subject)
            tier_name = user.tier if user is not None else "free"
        elif self._token_tiers.get(claims.subject) != tier_name:
            await self.change_tier(claims.subject, tier_name, actor="jwt")
            if len(self._token_tiers) >= CACHE_ENTRIES:
                self._token_tiers.clear()
            self._token_tiers[claims.subject] = tier_name
        return Principal(claims.subject, self.tiers.get(tier_name, self.free), "jwt", client)

    async def change_tier(self, user_id: str, tier: str, *, actor: str) -> bool:
        """Store a user's tier, which their keys and tier-less tokens then get in every process at once.

        The identity provider has the last word: a token with a `tier` claim calls this when its claim
        differs from what this process last saw for the subject, so a downgrade reaches the user's keys.
        """
        if not await self.store.set_tier(user_id, tier):
            return False
        await self.store.audit(actor, "user.tier", user_id, {"tier": tier}, self.clock())
        await self._announce({"kind": "tier", "userId": user_id})
        return True

    # ---- limits -------------------------------------------------------------------------------------

    async def hit(self, principal: Principal) -> Decision:
        return await self.limiter.hit(principal.subject, principal.tier.requests_per_minute)

    async def open_connection(self, principal: Principal, close: Callable[[str], None]) -> str | None:
        """Take a WebSocket slot of the principal's tier (anonymous callers: of their address, up to
        `ws_anonymous_connections`, 0 meaning no cap); None when all are in use."""
        connection_id = uuid.uuid4().hex
        limit = self.connection_limit(principal)
        if limit is not None and not await self.connections.acquire(principal.subject, connection_id, limit):
            return None
        self._held[connection_id] = principal.subject
        if principal.user_id is not None:
            self._open.setdefault(principal.user_id, _Connections()).held[connection_id] = _Connection(
                principal.key_id, close
            )
        return connection_id

    def connection_limit(self, principal: Principal) -> int | None:
        if principal.authenticated:
            return principal.tier.websocket_connections
        return self.settings.ws_anonymous_connections or None

    async def close_connection(self, principal: Principal, connection_id: str) -> None:
        self._held.pop(connection_id, None)
        if principal.user_id is not None:
            mine = self._open.get(principal.user_id)
            if mine is not None:
                mine.held.pop(connection_id, None)
                if not mine.held:
                    del self._open[principal.user_id]
        await self.connections.release(principal.subject, connection_id)

    def close_user_connections(self, user_id: str, reason: str, *, key_ids: set[str] | None = None) -> int:
        """Close this process's connections of a user (only those opened with one of `key_ids`, if given)."""
        mine = self._open.get(user_id)
        if mine is None:
            return 0
        closing = [c for c in mine.held.values() if key_ids is None or c.key_id in key_ids]
        for connection in closing:
            connection.close(reason)
        return len(closing)

    async def connection_count(self, principal: Principal) -> int:
        return await self.connections.count(principal.subject)

    # ---- keys ---------------------------------------------------------------------------------------

    async def create_key(
        self, user: UserRecord, name: str, cidrs: Sequence[str] = (), *, actor: str | None = None
    ) -> tuple[str, KeyRecord]:
        """A new key for `user`; returns the key itself (shown once) and its stored record."""
        names.check_name("the key name", name)
        tier = self.tiers.get(user.tier, self.free)
        if cidrs and not tier.allows(IP_ALLOWLIST):
            needed = lowest_tier_with(self.tiers, IP_ALLOWLIST) or "a higher"
            raise QuotaError(f"IP allowlists need the {needed} tier")
        normalized = allowlist.normalize_cidrs(cidrs)
        key = keys.generate_key()
        record = await self.store.create_key(
            user.id,
            keys.hash_key(self.pepper, key),
            keys.display_prefix(key),
            name,
            normalized,
            self.clock(),
            limit=tier.api_keys,
        )
        if record is None:
            raise QuotaError(f"the {tier.name} tier allows {tier.api_keys} active keys; revoke one first")
        await self.store.audit(actor or user.id, "key.created", user.id, {"keyId": record.id}, self.clock())
        return key, record

    async def revoke_key(self, key_id: str, user_id: str | None, *, actor: str) -> KeyRecord | None:
        """Revoke a key (only `user_id`'s own when given); None when there is no such key of theirs."""
        revoked = await self.store.revoke_key(key_id, self.clock(), user_id)
        if revoked is None:
            return None
        record, key_hash = revoked
        await self.store.audit(actor, "key.revoked", record.user_id, {"keyId": record.id}, self.clock())
        await self._announce(
            {"kind": "revoked", "userId": record.user_id, "keyIds": [record.id], "keyHashes": [key_hash]}
        )
        return record

    async def user_for(self, principal: Principal) -> UserRecord:
        """The stored user behind an authenticated principal (created for a JWT subject seen first)."""
        assert principal.user_id is not None
        return await self.store.ensure_user(principal.user_id, principal.tier.name, self.clock())

    async def create_user(self, name: str, tier: str) -> UserRecord:
        if tier not in TIER_NAMES:
            raise ValueError(f"tier must be one of {', '.join(TIER_NAMES)}")
        names.check_name("the user name", name)
        user = await self.store.create_user(name, tier, self.clock())
        await self.store.audit("cli", "user.created", user.id, {"tier": tier}, self.clock())
        return user

    # ---- alerts quota and erase ---------------------------------------------------------------------

    @property
    def alerts(self) -> UserAlerts:
        """The users' alert rules; a service built without them (the keys CLI) offers no quota or erase."""
        if self._alerts is None:
            raise RuntimeError("this AccountsService was built without the alert store (alerts=...)")
        return self._alerts

    async def active_alert_count(self, user_id: str) -> int:
        return await self.alerts.active_count(user_id)

    async def check_alert_quota(self, principal: Principal) -> None:
        """Raise QuotaError when the principal already has as many active alerts as the tier allows."""
        assert principal.user_id is not None
        if await self.active_alert_count(principal.user_id) >= principal.tier.alerts:
            raise QuotaError(f"the {principal.tier.name} tier allows {principal.tier.alerts} active alerts")

    async def erase(self, user_id: str) -> Erased:
        """Remove everything of a user (alerts with their firings and deliveries, preferences, keys, the
        user row), close their WebSocket connections in every process, and log that it happened."""
        alerts = await self.alerts.delete_user(user_id)
        key_hashes, erased = await self.store.erase_account_rows(user_id)
        erased = Erased(erased.keys, alerts, erased.preferences, erased.user)
        await self.store.audit(user_id, "user.erased", user_id, erased.to_json(), self.clock())
        await self._announce({"kind": "erased", "userId": user_id, "keyHashes": key_hashes})
        return erased
