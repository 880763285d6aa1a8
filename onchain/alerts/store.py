"""Alert persistence: rules, firings and the delivery outbox, over the storage layer's engine.

The outbox is the contract for at-least-once delivery: a firing and its deliveries are written in one
transaction, and a delivery leaves `pending` only when an attempt succeeded (`delivered`) or retries
are exhausted (`dead`). Workers claim due rows with a lease (`locked_until`), so a worker that dies
mid-send leaves its rows to be claimed again once the lease runs out, and several workers (or
processes) can share one outbox without sending a row twice at the same time.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Row, and_, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onchain.alerts.records import Firing, Rule
from onchain.alerts.rule_schema import RuleIn, build_rule
from onchain.alerts.signing import new_secret
from onchain.alerts.tables import alert_deliveries, alert_delivery_attempts, alert_firings, alert_state, user_alerts
from onchain.bus.base import encode
from onchain.errors import DeniedError
from onchain.storage.database import transaction
from onchain.storage.locks import lock_owner
from onchain.storage.tables import protocols

log = logging.getLogger(__name__)


PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """A stored rule. `webhook_secret` signs its webhooks and is shown to the user only at creation."""

    id: str
    user_id: str
    rule: RuleIn
    active: bool
    created_at: datetime | None
    updated_at: float
    last_fired_at: int | None
    webhook_secret: str

    def to_rule(self) -> Rule:
        return build_rule(self.id, self.rule)

    def to_json(self) -> dict[str, Any]:
        """The public shape: the rule as given (normalised), plus id, state and times."""
        doc = self.rule.to_json()
        doc.pop("active", None)
        created = self.created_at
        if created is not None and created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        return {
            "id": self.id,
            **doc,
            "active": self.active,
            "createdAt": created.isoformat() if created is not None else None,
            "updatedAt": datetime.fromtimestamp(self.updated_at, UTC).isoformat(),
            "lastFiredAt": self.last_fired_at,
        }


@dataclass(frozen=True, slots=True)
class UnreadableAlert:
    """A stored rule that no longer validates (stored before a check existed, or edited by hand).

    Listed so its owner can see, replace or delete it; never evaluated."""

    id: str
    user_id: str
    active: bool
    problem: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "active": self.active,
            "error": {
                "code": "unreadable_rule",
                "message": f"the stored rule cannot be used ({self.problem}); replace it (PUT) or delete it",
            },
        }


class AlertQuotaError(DeniedError):
    """The owner already has as many active alerts as their tier allows."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"{limit} active alerts allowed")
        self.limit = limit


@dataclass(frozen=True, slots=True)
class DeliveryJob:
    """A claimed outbox row: everything a sender needs, fixed at firing time."""

    id: str
    alert_id: str
    user_id: str
    channel: str
    target: str | None
    payload: bytes
    attempts: int
    webhook_secret: str | None


@dataclass(frozen=True, slots=True)
class AttemptResult:
    ok: bool
    started_at: float
    duration_ms: float
    status_code: int | None = None
    error: str | None = None
    permanent: bool = False  # no retry can succeed (e.g. a refused private address)


def _problem(exc: ValueError | TypeError) -> str:
    """What is wrong with a stored rule, in a line: the first validation error's place and message."""
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error.get("loc", ()))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        return f"{where}: {message}" if where else message
    return "not a rule document"


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


def alert_message(alert_id: str, firing_id: str, name: str, firing: Firing) -> dict[str, Any]:
    """What every channel carries: the seed's WebSocket alert message plus the firing id and rule name."""
    return {
        "type": "alert",
        "alertId": alert_id,
        "firingId": firing_id,
        "name": name,
        "condition": firing.condition,
        "data": firing.data,
        "timestamp": firing.timestamp,
    }


_INTERRUPTED = (
    "interrupted: the delivering process stopped before this attempt ended (its lease ran out); "
    "the outcome is unknown, so it is sent again with the same X-Onchain-Delivery id"
)


class AlertStore:
    """Alert rows over the shared engine (`Store.engine`); every method is one transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def _transaction(self, what: str) -> AbstractAsyncContextManager[AsyncConnection]:
        return transaction(self.engine, what)

    # ---- rules --------------------------------------------------------------------------------------

    async def create_alert(
        self, user_id: str, rule: RuleIn, now: float, active_limit: int | None = None
    ) -> AlertRecord:
        """Store a new rule; an active one only while the user has fewer than `active_limit` (None: no
        limit) active rules, else AlertQuotaError. Counted under a per-user lock, so concurrent creations
        take turns and each sees the ones before it."""
        alert_id = str(uuid.uuid4())
        secret = new_secret()
        async with self._transaction("creating an alert") as connection:
            await lock_owner(connection, "alerts", user_id)
            if rule.active and active_limit is not None:
                await self._check_quota(connection, user_id, active_limit)
            values = await self._rule_columns(connection, rule)
            await connection.execute(user_alerts.insert().values(id=alert_id, user_id=user_id, **values))
            await connection.execute(
                alert_state.insert().values(alert_id=alert_id, webhook_secret=secret, updated_at=now)
            )
            created = await connection.execute(select(user_alerts.c.created_at).where(user_alerts.c.id == alert_id))
        return AlertRecord(alert_id, user_id, rule, rule.active, created.scalar_one(), now, None, secret)

    @staticmethod
    async def _check_quota(
        connection: AsyncConnection, user_id: str, active_limit: int, other_than: str | None = None
    ) -> None:
        mine = (user_alerts.c.user_id == user_id) & user_alerts.c.is_active.is_(True)
        if other_than is not None:
            mine &= user_alerts.c.id != other_than
        active = (await connection.execute(select(func.count()).where(mine))).scalar_one()
        if active >= active_limit:
            raise AlertQuotaError(active_limit)

    async def _rule_columns(self, connection: AsyncConnection, rule: RuleIn) -> dict[str, Any]:
        """The seed's indexed columns beside the rule JSON; `protocol_id` when the subject is a known protocol."""
        protocol_id = None
        if rule.subject.type == "protocol":
            found = await connection.execute(select(protocols.c.id).where(protocols.c.slug == rule.subject.id))
            protocol_id = found.scalar_one_or_none()
        first = rule.conditions()[0]
        return {
            "protocol_id": protocol_id,
            "condition_type": first.condition if rule.mode == "single" else rule.mode,
            "threshold_value": first.threshold,
            "is_active": rule.active,
            "rule": json.dumps(rule.to_json(), separators=(",", ":")),
        }

    def _select_alerts(self) -> Any:
        return select(
            user_alerts, alert_state.c.webhook_secret, alert_state.c.updated_at, alert_state.c.last_fired_at
        ).join(alert_state, alert_state.c.alert_id == user_alerts.c.id)

    @staticmethod
    def _record(row: Row[Any]) -> AlertRecord | UnreadableAlert:
        try:
            rule = RuleIn.model_validate(json.loads(row.rule))
        except (ValueError, TypeError) as exc:
            problem = _problem(exc)
            log.warning("alert %s of user %s: the stored rule cannot be read: %s", row.id, row.user_id, problem)
            return UnreadableAlert(row.id, row.user_id, bool(row.is_active), problem)
        return AlertRecord(
            row.id,
            row.user_id,
            rule,
            bool(row.is_active),
            row.created_at,
            row.updated_at,
            row.last_fired_at,
            row.webhook_secret,
        )

    async def get_alert(self, alert_id: str, user_id: str | None = None) -> AlertRecord | UnreadableAlert | None:
        query = self._select_alerts().where(user_alerts.c.id == alert_id)
        if user_id is not None:
            query = query.where(user_alerts.c.user_id == user_id)
        async with self._transaction("reading an alert") as connection:
            row = (await connection.execute(query)).one_or_none()
        return None if row is None else self._record(row)

    async def list_alerts(self, user_id: str) -> list[AlertRecord | UnreadableAlert]:
        query = self._select_alerts().where(user_alerts.c.user_id == user_id).order_by(user_alerts.c.created_at)
        async with self._transaction("listing alerts") as connection:
            rows = (await connection.execute(query)).all()
        return [self._record(row) for row in rows]

    async def active_alerts(self) -> list[AlertRecord]:
        """Every active rule that can be evaluated (unreadable ones are logged and left out)."""
        query = self._select_alerts().where(user_alerts.c.is_active.is_(True))
        async with self._transaction("loading active alerts") as connection:
            rows = (await connection.execute(query)).all()
        return [record for record in map(self._record, rows) if isinstance(record, AlertRecord)]

    async def update_alert(
        self, alert_id: str, user_id: str, rule: RuleIn, now: float, active_limit: int | None = None
    ) -> AlertRecord | UnreadableAlert | None:
        """Replace a rule; turning an inactive one active counts against `active_limit` as creating does."""
        async with self._transaction("updating an alert") as connection:
            await lock_owner(connection, "alerts", user_id)
            owned = (user_alerts.c.id == alert_id) & (user_alerts.c.user_id == user_id)
            was_active = (await connection.execute(select(user_alerts.c.is_active).where(owned))).scalar_one_or_none()
            if was_active is None:
                return None
            if rule.active and not was_active and active_limit is not None:
                await self._check_quota(connection, user_id, active_limit, other_than=alert_id)
            values = await self._rule_columns(connection, rule)
            changed = await connection.execute(update(user_alerts).where(owned).values(**values))
            if changed.rowcount == 0:
                return None
            await connection.execute(
                update(alert_state).where(alert_state.c.alert_id == alert_id).values(updated_at=now)
            )
        return await self.get_alert(alert_id, user_id)

    async def delete_alert(self, alert_id: str, user_id: str) -> bool:
        async with self._transaction("deleting an alert") as connection:
            owned = (user_alerts.c.id == alert_id) & (user_alerts.c.user_id == user_id)
            if (await connection.execute(select(user_alerts.c.id).where(owned))).one_or_none() is None:
                return False
            await self._delete_alerts(connection, [alert_id])
        return True

    async def active_count(self, user_id: str) -> int:
        """How many active rules the user has (the tier quota accounts reports and checks)."""
        query = select(func.count()).where(user_alerts.c.user_id == user_id, user_alerts.c.is_active.is_(True))
        async with self._transaction("counting alerts") as connection:
            return int((await connection.execute(query)).scalar_one())

    async def delete_user(self, user_id: str) -> int:
        """Erase every alert of a user with its firings and deliveries (DELETE /v2/users/me)."""
        async with self._transaction("erasing a user's alerts") as connection:
            ids = list(
                (await connection.execute(select(user_alerts.c.id).where(user_alerts.c.user_id == user_id))).scalars()
            )
            await self._delete_alerts(connection, ids)
        return len(ids)

    async def _delete_alerts(self, connection: AsyncConnection, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            deliveries = select(alert_deliveries.c.id).where(alert_deliveries.c.alert_id.in_(chunk))
            await connection.execute(
                delete(alert_delivery_attempts).where(alert_delivery_attempts.c.delivery_id.in_(deliveries))
            )
            await connection.execute(delete(alert_deliveries).where(alert_deliveries.c.alert_id.in_(chunk)))
            await connection.execute(delete(alert_firings).where(alert_firings.c.alert_id.in_(chunk)))
            await connection.execute(delete(alert_state).where(alert_state.c.alert_id.in_(chunk)))
            await connection.execute(delete(user_alerts).where(user_alerts.c.id.in_(chunk)))

    # ---- firings and the outbox ---------------------------------------------------------------------

    async def record_firings(self, items: Sequence[tuple[AlertRecord, Firing]], now: float) -> list[str]:
        """Store firings and queue one delivery per channel, atomically; returns the new delivery ids.

        A firing already stored for the same alert and input (its dedupe key) is skipped with its
        deliveries, so an input evaluated twice (a redelivered bus message, a restart) sends nothing twice.
        Firings of alerts deleted meanwhile are dropped.
        """
        if not items:
            return []
        created: list[str] = []
        async with self._transaction("recording alert firings") as connection:
            wanted = sorted({alert.id for alert, _ in items})
            alive = set(
                (await connection.execute(select(user_alerts.c.id).where(user_alerts.c.id.in_(wanted)))).scalars()
            )
            insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
            for alert, firing in items:
                if alert.id not in alive:
                    continue
                firing_id = str(uuid.uuid4())
                row = {
                    "id": firing_id,
                    "alert_id": alert.id,
                    "user_id": alert.user_id,
                    "dedupe_key": firing.dedupe_key[:255],
                    "condition": firing.condition,
                    "chain": firing.chain,
                    "block_number": firing.block,
                    "fired_at": firing.timestamp,
                    "created_at": now,
                    "data": encode(firing.data).decode(),
                }
                statement = (
                    insert(alert_firings)
                    .values(**row)
                    .on_conflict_do_nothing(index_elements=["alert_id", "dedupe_key"])
                )
                if (await connection.execute(statement)).rowcount == 0:
                    continue
                payload = encode(alert_message(alert.id, firing_id, alert.rule.name, firing)).decode()
                rows = []
                for channel in alert.rule.channels:
                    delivery_id = str(uuid.uuid4())
                    created.append(delivery_id)
                    rows.append(
                        {
                            "id": delivery_id,
                            "firing_id": firing_id,
                            "alert_id": alert.id,
                            "user_id": alert.user_id,
                            "channel": channel.type,
                            "target": getattr(channel, "url", None) or getattr(channel, "to", None),
                            "status": PENDING,
                            "attempts": 0,
                            "next_attempt_at": now,
                            "created_at": now,
                            "payload": payload,
                        }
                    )
                await connection.execute(alert_deliveries.insert(), rows)
                await connection.execute(
                    update(alert_state).where(alert_state.c.alert_id == alert.id).values(last_fired_at=firing.timestamp)
                )
        return created

    async def claim_due(self, now: float, limit: int, lease: float) -> list[DeliveryJob]:
        """Lease up to `limit` due pending deliveries to this worker until `now + lease`."""
        d = alert_deliveries.c
        free = or_(d.locked_until.is_(None), d.locked_until <= now)
        due = and_(d.status == PENDING, d.next_attempt_at <= now, free)
        query = (
            select(alert_deliveries, alert_state.c.webhook_secret)
            .outerjoin(alert_state, alert_state.c.alert_id == d.alert_id)
            .where(due)
            .order_by(d.next_attempt_at)
            .limit(limit)
        )
        jobs: list[DeliveryJob] = []
        async with self._transaction("claiming deliveries") as connection:
            for row in (await connection.execute(query)).all():
                claimed = await connection.execute(
                    update(alert_deliveries).where(d.id == row.id, due).values(locked_until=now + lease)
                )
                if claimed.rowcount != 1:
                    continue
                attempts = row.attempts
                if row.locked_until is not None:
                    attempts = await self._record_interrupted(connection, row.id, attempts + 1, row.locked_until, lease)
                jobs.append(
                    DeliveryJob(
                        row.id,
                        row.alert_id,
                        row.user_id,
                        row.channel,
                        row.target,
                        row.payload.encode(),
                        attempts,
                        row.webhook_secret,
                    )
                )
        return jobs

    async def _record_interrupted(
        self, connection: AsyncConnection, delivery_id: str, attempt: int, locked_until: float, lease: float
    ) -> int:
        """A lease that ran out unfinished: the worker holding it stopped mid-attempt (killed, crashed).
        Its attempt goes into the log as interrupted, lasting at most the lease; returns the attempts made."""
        await connection.execute(
            alert_delivery_attempts.insert().values(
                delivery_id=delivery_id,
                attempt=attempt,
                started_at=locked_until - lease,
                duration_ms=lease * 1000,
                ok=False,
                status_code=None,
                error=_INTERRUPTED,
            )
        )
        await connection.execute(
            update(alert_deliveries).where(alert_deliveries.c.id == delivery_id).values(attempts=attempt)
        )
        return attempt

    async def finish_attempt(
        self, job: DeliveryJob, result: AttemptResult, status: str, next_attempt_at: float
    ) -> None:
        """Record one attempt and move the delivery on: delivered, dead, or pending again at `next_attempt_at`."""
        attempt = job.attempts + 1
        async with self._transaction("recording a delivery attempt") as connection:
            await connection.execute(
                alert_delivery_attempts.insert().values(
                    delivery_id=job.id,
                    attempt=attempt,
                    started_at=result.started_at,
                    duration_ms=result.duration_ms,
                    ok=result.ok,
                    status_code=result.status_code,
                    error=result.error,
                )
            )
            await connection.execute(
                update(alert_deliveries)
                .where(alert_deliveries.c.id == job.id)
                .values(
                    status=status,
                    attempts=attempt,
                    next_attempt_at=next_attempt_at,
                    locked_until=None,
                    last_error=None if result.ok else result.error,
                    delivered_at=result.started_at + result.duration_ms / 1000 if result.ok else None,
                )
            )

    async def next_due(self) -> float | None:
        """When the earliest pending delivery falls due (unix seconds), None when the outbox is empty."""
        query = select(func.min(alert_deliveries.c.next_attempt_at)).where(alert_deliveries.c.status == PENDING)
        async with self._transaction("reading the outbox") as connection:
            value = (await connection.execute(query)).scalar_one_or_none()
        return None if value is None else float(value)

    async def status_counts(self) -> dict[str, int]:
        query = select(alert_deliveries.c.status, func.count()).group_by(alert_deliveries.c.status)
        async with self._transaction("counting deliveries") as connection:
            return {status: count for status, count in (await connection.execute(query)).all()}

    async def deliveries(self, alert_id: str, user_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """An alert's deliveries, newest first, each with every attempt made (the delivery log)."""
        d = alert_deliveries.c
        query = (
            select(alert_deliveries, alert_firings.c.fired_at, alert_firings.c.block_number)
            .join(alert_firings, alert_firings.c.id == d.firing_id)
            .where(d.alert_id == alert_id, d.user_id == user_id)
            .order_by(d.created_at.desc(), d.id)
            .limit(limit)
        )
        async with self._transaction("reading deliveries") as connection:
            rows = (await connection.execute(query)).all()
            ids = [row.id for row in rows]
            attempts: dict[str, list[dict[str, Any]]] = {delivery_id: [] for delivery_id in ids}
            if ids:
                a = alert_delivery_attempts.c
                found = await connection.execute(
                    select(alert_delivery_attempts).where(a.delivery_id.in_(ids)).order_by(a.delivery_id, a.attempt)
                )
                for item in found.all():
                    attempts[item.delivery_id].append(
                        {
                            "attempt": item.attempt,
                            "at": _iso(item.started_at),
                            "durationMs": round(item.duration_ms, 3),
                            "ok": bool(item.ok),
                            "statusCode": item.status_code,
                            "error": item.error,
                        }
                    )
        return [
            {
                "id": row.id,
                "firingId": row.firing_id,
                "channel": row.channel,
                "target": row.target,
                "status": row.status,
                "attempts": row.attempts,
                "createdAt": _iso(row.created_at),
                "deliveredAt": _iso(row.delivered_at),
                "nextAttemptAt": _iso(row.next_attempt_at) if row.status == PENDING else None,
                "lastError": row.last_error,
                "redeliveryOf": row.redelivery_of,
                "firedAt": row.fired_at,
                "block": row.block_number,
                "payload": json.loads(row.payload),
                "attemptLog": attempts[row.id],
            }
            for row in rows
        ]

    async def redeliver(self, alert_id: str, user_id: str, delivery_id: str, now: float) -> str | None:
        """Queue a fresh copy of a delivery (a new idempotency id); None when no such delivery is the user's."""
        d = alert_deliveries.c
        async with self._transaction("queueing a redelivery") as connection:
            query = select(alert_deliveries).where(d.id == delivery_id, d.alert_id == alert_id, d.user_id == user_id)
            row = (await connection.execute(query)).one_or_none()
            if row is None:
                return None
            new_id = str(uuid.uuid4())
            await connection.execute(
                alert_deliveries.insert().values(
                    id=new_id,
                    firing_id=row.firing_id,
                    alert_id=row.alert_id,
                    user_id=row.user_id,
                    channel=row.channel,
                    target=row.target,
                    status=PENDING,
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                    redelivery_of=row.id,
                    payload=row.payload,
                )
            )
        return new_id
