"""Account rows over the shared engine (`Store.engine`): users, key hashes, preferences, audit log.

Every query that reads or changes a user-owned row names its owner in the WHERE clause, so a caller
can only ever reach its own rows; "not yours" and "does not exist" look the same (None / False).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onchain.accounts.tables import api_keys, audit_log, user_preferences, users
from onchain.errors import ConflictError
from onchain.storage.database import transaction
from onchain.storage.locks import lock_owner


class Conflict(ConflictError):
    """A unique value (user name) is already taken."""


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    name: str
    tier: str
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "tier": self.tier, "createdAt": self.created_at}


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A stored key: never the key itself, only what identifies and limits it."""

    id: str
    user_id: str
    prefix: str
    name: str
    allowed_cidrs: tuple[str, ...]
    created_at: float
    last_used_at: float | None
    revoked_at: float | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "prefix": self.prefix,
            "name": self.name,
            "allowedCidrs": list(self.allowed_cidrs),
            "createdAt": self.created_at,
            "lastUsedAt": self.last_used_at,
            "revokedAt": self.revoked_at,
            "active": self.active,
        }


@dataclass(frozen=True, slots=True)
class Erased:
    """What an erase removed, as counts (the audit log keeps these, never the rows)."""

    keys: int
    alerts: int
    preferences: int
    user: int

    def to_json(self) -> dict[str, int]:
        return {"keys": self.keys, "alerts": self.alerts, "preferences": self.preferences, "user": self.user}


def _user(row: Any) -> UserRecord:
    return UserRecord(row.id, row.name, row.tier, row.created_at)


def _key(row: Any) -> KeyRecord:
    cidrs = tuple(json.loads(row.allowed_cidrs)) if row.allowed_cidrs else ()
    return KeyRecord(
        row.id, row.user_id, row.prefix, row.name, cidrs, row.created_at, row.last_used_at, row.revoked_at
    )


_KEY_COLUMNS = (
    api_keys.c.id,
    api_keys.c.user_id,
    api_keys.c.prefix,
    api_keys.c.name,
    api_keys.c.allowed_cidrs,
    api_keys.c.created_at,
    api_keys.c.last_used_at,
    api_keys.c.revoked_at,
)


class AccountStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def _transaction(self, what: str) -> AbstractAsyncContextManager[AsyncConnection]:
        """A unique value already taken is a Conflict; other database failures are StorageError."""
        return transaction(self.engine, what, conflict=lambda exc: Conflict(f"{what}: {exc.orig}"))

    # ---- users --------------------------------------------------------------------------------------

    async def create_user(self, name: str, tier: str, now: float, user_id: str | None = None) -> UserRecord:
        record = UserRecord(user_id or str(uuid.uuid4()), name, tier, now)
        async with self._transaction("creating a user") as connection:
            await connection.execute(users.insert().values(id=record.id, name=name, tier=tier, created_at=now))
        return record

    async def user(self, user_id: str) -> UserRecord | None:
        async with self._transaction("reading a user") as connection:
            row = (await connection.execute(select(users).where(users.c.id == user_id))).one_or_none()
        return None if row is None else _user(row)

    async def user_by_name(self, name: str) -> UserRecord | None:
        async with self._transaction("reading a user") as connection:
            row = (await connection.execute(select(users).where(users.c.name == name))).one_or_none()
        return None if row is None else _user(row)

    async def ensure_user(self, user_id: str, tier: str, now: float) -> UserRecord:
        """The user with this id, created (named after the id) if it is a JWT subject seen for the first time."""
        existing = await self.user(user_id)
        if existing is not None:
            return existing
        try:
            return await self.create_user(f"sub:{user_id}", tier, now, user_id=user_id)
        except Conflict:  # created concurrently
            found = await self.user(user_id)
            if found is None:
                raise
            return found

    async def set_tier(self, user_id: str, tier: str) -> bool:
        """True if the user exists and had another tier."""
        changing = update(users).where(users.c.id == user_id, users.c.tier != tier).values(tier=tier)
        async with self._transaction("changing a tier") as connection:
            return bool((await connection.execute(changing)).rowcount)

    # ---- keys ---------------------------------------------------------------------------------------

    async def create_key(
        self, user_id: str, key_hash: str, prefix: str, name: str, cidrs: Sequence[str], now: float, *, limit: int
    ) -> KeyRecord | None:
        """Store a key unless the user already holds `limit` active ones (then None). The count and
        the insert take turns with the user's other key creations (`lock_owner`), so concurrent ones
        cannot overshoot the limit."""
        record = KeyRecord(str(uuid.uuid4()), user_id, prefix, name, tuple(cidrs), now, None, None)
        active = select(func.count()).where(api_keys.c.user_id == user_id, api_keys.c.revoked_at.is_(None))
        async with self._transaction("creating a key") as connection:
            await lock_owner(connection, "api_keys", user_id)
            if (await connection.execute(active)).scalar_one() >= limit:
                return None
            await connection.execute(
                api_keys.insert().values(
                    id=record.id,
                    user_id=user_id,
                    key_hash=key_hash,
                    prefix=prefix,
                    name=name,
                    allowed_cidrs=json.dumps(list(cidrs)) if cidrs else None,
                    created_at=now,
                )
            )
        return record

    async def key_by_hash(self, key_hash: str) -> tuple[KeyRecord, UserRecord] | None:
        query = (
            select(*_KEY_COLUMNS, users.c.name.label("user_name"), users.c.tier, users.c.created_at.label("user_at"))
            .join(users, users.c.id == api_keys.c.user_id)
            .where(api_keys.c.key_hash == key_hash)
        )
        async with self._transaction("looking up a key") as connection:
            row = (await connection.execute(query)).one_or_none()
        if row is None:
            return None
        return _key(row), UserRecord(row.user_id, row.user_name, row.tier, row.user_at)

    async def keys(self, user_id: str | None = None) -> list[KeyRecord]:
        """One user's keys, or every key (for the operator's `onchain keys list`)."""
        query = select(*_KEY_COLUMNS).order_by(api_keys.c.created_at, api_keys.c.id)
        if user_id is not None:
            query = query.where(api_keys.c.user_id == user_id)
        async with self._transaction("listing keys") as connection:
            return [_key(row) for row in await connection.execute(query)]

    async def revoke_key(self, key_id: str, now: float, user_id: str | None = None) -> tuple[KeyRecord, str] | None:
        """Revoke a key (only the owner's when `user_id` is given); returns it with its hash, or None."""
        owned = api_keys.c.id == key_id
        if user_id is not None:
            owned = owned & (api_keys.c.user_id == user_id)
        async with self._transaction("revoking a key") as connection:
            row = (await connection.execute(select(*_KEY_COLUMNS, api_keys.c.key_hash).where(owned))).one_or_none()
            if row is None:
                return None
            if row.revoked_at is None:
                await connection.execute(update(api_keys).where(owned).values(revoked_at=now))
        record = _key(row)
        if record.revoked_at is None:
            record = replace(record, revoked_at=now)
        return record, row.key_hash

    async def active_key_ids(self, key_ids: Iterable[str]) -> set[str]:
        """Those of `key_ids` that exist and are not revoked."""
        wanted = list(key_ids)
        query = select(api_keys.c.id).where(api_keys.c.id.in_(wanted), api_keys.c.revoked_at.is_(None))
        async with self._transaction("checking keys") as connection:
            return set((await connection.execute(query)).scalars())

    async def touch_key(self, key_id: str, now: float) -> None:
        async with self._transaction("recording key use") as connection:
            await connection.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now))

    # ---- preferences --------------------------------------------------------------------------------

    async def preferences(self, user_id: str) -> dict[str, Any]:
        query = select(user_preferences.c.data).where(user_preferences.c.user_id == user_id)
        async with self._transaction("reading preferences") as connection:
            data = (await connection.execute(query)).scalar_one_or_none()
        loaded: dict[str, Any] = json.loads(data) if data else {}
        return loaded

    async def set_preferences(self, user_id: str, document: dict[str, Any], now: float) -> None:
        text = json.dumps(document, separators=(",", ":"))
        async with self._transaction("saving preferences") as connection:
            changed = await connection.execute(
                update(user_preferences)
                .where(user_preferences.c.user_id == user_id)
                .values(data=text, updated_at=now)
            )
            if changed.rowcount == 0:
                await connection.execute(user_preferences.insert().values(user_id=user_id, data=text, updated_at=now))

    # ---- erase, audit -----------------------------------------------------------------

    async def erase_account_rows(self, user_id: str) -> tuple[list[str], Erased]:
        """Delete a user's preferences, keys and user row in one transaction; returns the key hashes removed."""
        async with self._transaction("erasing a user") as connection:
            hashes = list(
                (await connection.execute(select(api_keys.c.key_hash).where(api_keys.c.user_id == user_id))).scalars()
            )
            prefs = await connection.execute(delete(user_preferences).where(user_preferences.c.user_id == user_id))
            keys = await connection.execute(delete(api_keys).where(api_keys.c.user_id == user_id))
            user = await connection.execute(delete(users).where(users.c.id == user_id))
        return hashes, Erased(keys.rowcount, 0, prefs.rowcount, user.rowcount)

    async def audit(self, actor: str, action: str, subject: str | None, detail: dict[str, Any], now: float) -> None:
        async with self._transaction("writing the audit log") as connection:
            await connection.execute(
                audit_log.insert().values(
                    at=now, actor=actor, action=action, subject=subject, detail=json.dumps(detail, sort_keys=True)
                )
            )

    async def audit_entries(self, subject: str | None = None) -> list[dict[str, Any]]:
        query = select(audit_log).order_by(audit_log.c.id)
        if subject is not None:
            query = query.where(audit_log.c.subject == subject)
        async with self._transaction("reading the audit log") as connection:
            rows = (await connection.execute(query)).all()
        return [
            {
                "at": row.at,
                "actor": row.actor,
                "action": row.action,
                "subject": row.subject,
                "detail": json.loads(row.detail) if row.detail else {},
            }
            for row in rows
        ]
