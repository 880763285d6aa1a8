"""`lock_owner`: check-then-insert transactions of one owner take turns, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select

from onchain.alerts.tables import user_alerts
from onchain.storage import Store
from onchain.storage.locks import lock_owner


async def _insert_below(store: Store, owner: str, limit: int) -> bool:
    """One quota-checked insert: count the owner's rows, insert one if fewer than `limit`."""
    async with store.engine.begin() as connection:
        await lock_owner(connection, "test", owner)
        count = select(func.count()).where(user_alerts.c.user_id == owner)
        if (await connection.execute(count)).scalar_one() >= limit:
            return False
        await asyncio.sleep(0)  # let the others run between the count and the insert
        await connection.execute(
            user_alerts.insert().values(id=str(uuid.uuid4()), user_id=owner, condition_type="test", is_active=True)
        )
        return True


async def test_concurrent_check_then_insert_stays_within_the_limit(store: Store) -> None:
    results = await asyncio.gather(*(_insert_below(store, owner, 3) for owner in ["a", "b"] * 12))
    assert results.count(True) == 6
    async with store.engine.connect() as connection:
        per_owner = dict(
            (
                await connection.execute(select(user_alerts.c.user_id, func.count()).group_by(user_alerts.c.user_id))
            ).all()
        )
    assert per_owner == {"a": 3, "b": 3}
