"""What an ingest run stored, counted per block so a reorg can subtract the orphaned blocks again."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class BlockTally:
    """One decoded block's counts, kept for the most recent blocks so a reorg can take them back out."""

    number: int
    logs: int
    events: Counter[str]
    protocols: Counter[str]


@dataclass(slots=True)
class IngestStats:
    """What a run stored. Blocks later orphaned by a reorg are subtracted again."""

    blocks: int = 0
    logs: int = 0
    events: Counter[str] = field(default_factory=Counter)
    protocols: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    pools: int = 0
    reorgs: int = 0
    orphaned_blocks: int = 0
    publish_failures: int = 0
    first_block: int | None = None
    last_block: int | None = None

    def summary(self) -> dict[str, Any]:
        """The shape `onchain replay --json` prints."""
        return {
            "blocks": self.blocks,
            "logs": self.logs,
            "events": dict(sorted(self.events.items())),
            "protocols": dict(sorted(self.protocols.items())),
        }
