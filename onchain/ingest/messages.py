"""Committed blocks as bus payloads: one `blocks` message per block, `events` messages per block range."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from onchain.domain.events import Event
from onchain.domain.topics import BlockStored, EventsBatch
from onchain.storage.records import BlockWrite


def block_payload(write: BlockWrite) -> dict[str, Any]:
    block = write.bundle.block
    return BlockStored(
        chain=write.bundle.chain,
        number=block.number,
        hash=block.hash,
        parent_hash=block.parent_hash,
        timestamp=block.timestamp,
        logs=len(write.bundle.logs),
        events=len(write.events),
    ).encode()


def events_payloads(chain: str, batch: Sequence[BlockWrite], per_message: int) -> list[dict[str, Any]]:
    """A committed batch as `events` messages, each covering a block range whole (blocks without events
    included) and holding at most about `per_message` events, so a backfill never sends huge messages."""
    messages: list[dict[str, Any]] = []
    start = 0
    pending: list[Event] = []
    for index, write in enumerate(batch):
        pending.extend(write.events)
        if len(pending) >= per_message or index == len(batch) - 1:
            from_block, to_block = batch[start].bundle.block.number, write.bundle.block.number
            messages.append(EventsBatch(chain=chain, from_block=from_block, to_block=to_block, events=pending).encode())
            start, pending = index + 1, []
    return messages
