"""Test helper: BlockBundles read straight from an ethereum-etl JSON-lines folder, and forks of them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from hashlib import sha256
from pathlib import Path
from typing import Any

from onchain.domain.chain import Block, BlockBundle, Log, Transaction
from onchain.errors import MalformedResponseError


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def etl_bundles(folder: Path, chain: str = "ethereum") -> list[BlockBundle]:
    """Every block of an ethereum-etl export as a bundle, ascending, logs and transactions in index order."""
    txs: dict[int, list[Transaction]] = {}
    for row in _lines(folder / "transactions.json"):
        txs.setdefault(row["block_number"], []).append(
            Transaction(
                hash=row["hash"],
                block_number=row["block_number"],
                transaction_index=row["transaction_index"],
                from_address=row["from_address"],
                to_address=row["to_address"],
                value=int(row["value"]),
                gas_price=row.get("receipt_effective_gas_price") or row.get("gas_price"),
                gas_used=row.get("receipt_gas_used"),
                status=row.get("receipt_status"),
                input=row.get("input") or "0x",
            )
        )
    logs: dict[int, list[Log]] = {}
    for row in _lines(folder / "logs.json"):
        logs.setdefault(row["block_number"], []).append(
            Log(
                block_number=row["block_number"],
                block_hash=row["block_hash"],
                transaction_hash=row["transaction_hash"],
                transaction_index=row["transaction_index"],
                log_index=row["log_index"],
                address=row["address"],
                topics=tuple(row["topics"]),
                data=row["data"],
            )
        )
    bundles = []
    for row in sorted(_lines(folder / "blocks.json"), key=lambda r: r["number"]):
        number = row["number"]
        block = Block(
            number=number,
            hash=row["hash"],
            parent_hash=row["parent_hash"],
            timestamp=row["timestamp"],
            miner=row["miner"],
            base_fee_per_gas=row.get("base_fee_per_gas"),
            gas_used=row["gas_used"],
            transaction_count=row["transaction_count"],
        )
        bundles.append(
            BlockBundle(
                chain=chain,
                block=block,
                transactions=tuple(sorted(txs.get(number, []), key=lambda t: t.transaction_index)),
                logs=tuple(sorted(logs.get(number, []), key=lambda log: log.log_index)),
            )
        )
    return bundles


def fake_hash(*parts: object) -> str:
    return "0x" + sha256(repr(parts).encode()).hexdigest()


def renumber(bundle: BlockBundle, number: int, parent_hash: str, salt: str = "") -> BlockBundle:
    """The same block content moved to `number` with a synthetic hash chained to `parent_hash`."""
    block_hash = fake_hash(bundle.chain, number, parent_hash, salt)
    block = replace(bundle.block, number=number, hash=block_hash, parent_hash=parent_hash)
    return replace(
        bundle,
        block=block,
        transactions=tuple(replace(tx, block_number=number) for tx in bundle.transactions),
        logs=tuple(replace(log, block_number=number, block_hash=block_hash) for log in bundle.logs),
    )


def synthetic_chain(
    templates: list[BlockBundle], start: int, count: int, parent_hash: str, salt: str = ""
) -> list[BlockBundle]:
    """`count` chained blocks from `start`, cycling through the templates' contents."""
    out = []
    for offset in range(count):
        bundle = renumber(templates[offset % len(templates)], start + offset, parent_hash, salt)
        out.append(bundle)
        parent_hash = bundle.block.hash
    return out


class ListSource:
    """A finite in-memory Source over bundles (the canonical chain), optionally failing at a block."""

    def __init__(self, bundles: list[BlockBundle], chain: str = "ethereum", fail_at: int | None = None) -> None:
        self.chain = chain
        self.by_number = {b.block.number: b for b in bundles}
        self.fail_at = fail_at
        self.requests: list[tuple[int, int | None]] = []

    async def head(self) -> int:
        return max(self.by_number)

    async def block_hash(self, number: int) -> str | None:
        bundle = self.by_number.get(number)
        return bundle.block.hash if bundle is not None else None

    async def bundles(self, start: int, end: int | None = None) -> AsyncIterator[BlockBundle]:
        self.requests.append((start, end))
        last = max(self.by_number) if end is None else end
        for number in range(start, last + 1):
            if number == self.fail_at:
                raise MalformedResponseError(f"block {number}: the node sent garbage")
            yield self.by_number[number]

    async def close(self) -> None:
        return None
