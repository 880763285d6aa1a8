"""A bounded run (backfill, replay) raises the young GC generation further than live following, and
restores the setting when it ends."""

from __future__ import annotations

import gc
from collections.abc import Sequence
from pathlib import Path

from onchain.bus import MemoryBus
from onchain.ingest.gc_tuning import BOUNDED_YOUNG_GENERATION
from onchain.ingest.pipeline import Pipeline
from onchain.protocols import Decoder
from onchain.storage import Store
from onchain.storage.records import BlockWrite
from tests.unit.ingest.bundles import ListSource, etl_bundles


async def test_bounded_run_uses_the_bounded_threshold_then_restores(store: Store, chaindata: Path) -> None:
    recorded = etl_bundles(chaindata / "ethereum-etl-17173049")
    seen: list[int] = []

    async def after_commit(_batch: Sequence[BlockWrite]) -> None:
        seen.append(gc.get_threshold()[0])

    before = gc.get_threshold()
    pipeline = Pipeline("ethereum", ListSource(recorded), Decoder("ethereum"), store, MemoryBus(),  # type: ignore[arg-type]
                        after_commit=after_commit)
    first, last = recorded[0].block.number, recorded[-1].block.number
    stats = await pipeline.run(first, last, resume=False)
    assert stats.blocks == len(recorded)
    assert seen and all(young == max(BOUNDED_YOUNG_GENERATION, before[0]) for young in seen)
    assert gc.get_threshold() == before
