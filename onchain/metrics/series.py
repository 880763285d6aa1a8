"""Edge: market time series into and out of the seed's `protocols` and `protocol_metrics` tables.

Block-resolution points use the metric name (`tvl`, `volume`, `fees`, `borrowed`); hourly points add
`_1h` and are stamped with the hour's start. Every point carries its chain and block so a reorg
rollback removes it with the blocks it came from.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, select, update

from onchain.metrics.state import MetricRow, ProtocolInfo
from onchain.storage.bulk import upsert_ignore
from onchain.storage.store import Store
from onchain.storage.tables import chains, protocol_metrics, protocols

_NAMESPACE = uuid.UUID("5f1d7c2e-6a0b-4a53-9d1e-0c9a7e3b2f11")


def protocol_uuid(slug: str) -> str:
    """A stable id per slug, so every replica and every rebuild writes the same protocol row."""
    return str(uuid.uuid5(_NAMESPACE, slug))


def metric_type(metric: str, resolution: str) -> str:
    return metric if resolution == "block" else f"{metric}_1h"


def _when(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


async def _chain_ids(store: Store) -> dict[str, int]:
    async with store.reading() as connection:
        rows = (await connection.execute(select(chains.c.name, chains.c.chain_id))).all()
    return {name: chain_id for name, chain_id in rows if chain_id is not None}


async def write_points(
    store: Store,
    rows: Sequence[MetricRow],
    infos: Mapping[str, ProtocolInfo],
    tvls: Mapping[str, float],
    *,
    replace_chain: str | None = None,
) -> int:
    """Insert points (creating protocol rows as needed) and refresh each protocol's TVL column.

    With `replace_chain`, that chain's earlier points are deleted first in the same transaction: a
    rebuild rewrites the series instead of doubling it.
    """
    chain_ids = await _chain_ids(store)
    slugs = sorted({row.protocol for row in rows} | set(tvls))
    protocol_rows = [
        {
            "id": protocol_uuid(slug),
            "slug": slug,
            "name": infos[slug].name if slug in infos else slug,
            "chain_id": next((chain_ids.get(r.chain, 0) for r in rows if r.protocol == slug), 0),
            "category": infos[slug].category if slug in infos else None,
        }
        for slug in slugs
    ]
    points = [
        {
            "id": str(uuid.uuid4()),
            "protocol_id": protocol_uuid(row.protocol),
            "metric_type": metric_type(row.metric, row.resolution),
            "value": row.value,
            "timestamp": _when(row.timestamp),
            "chain_id": chain_ids.get(row.chain, 0),
            "chain": row.chain,
            "block_number": row.block,
        }
        for row in rows
    ]
    async with store.transaction("writing metric points") as connection:
        await upsert_ignore(connection, protocols, protocol_rows, ("slug",))
        if replace_chain is not None:
            await connection.execute(delete(protocol_metrics).where(protocol_metrics.c.chain == replace_chain))
        if points:
            await connection.execute(protocol_metrics.insert(), points)
        for slug, tvl in tvls.items():
            await connection.execute(
                update(protocols).where(protocols.c.slug == slug).values(tvl=tvl, updated_at=datetime.now(UTC))
            )
    return len(points)


async def read_points(
    store: Store, slug: str, metric: str, resolution: str, start: int | None, end: int | None
) -> list[tuple[int, str, float]]:
    """(unix timestamp, chain, value) points of one protocol's metric, oldest first."""
    table = protocol_metrics.c
    query = select(table.timestamp, table.chain, table.value).where(
        table.protocol_id == protocol_uuid(slug), table.metric_type == metric_type(metric, resolution)
    )
    if start is not None:
        query = query.where(table.timestamp >= _when(start))
    if end is not None:
        query = query.where(table.timestamp <= _when(end))
    async with store.reading() as connection:
        rows = (await connection.execute(query.order_by(table.timestamp))).all()
    return [(int(_aware(when).timestamp()), chain, value) for when, chain, value in rows]


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
