"""Bus payloads built from committed batches: whole block ranges, bounded size, exact args."""

from __future__ import annotations

from pathlib import Path

from onchain.ingest.messages import block_payload, events_payloads
from onchain.protocols import Decoder
from onchain.storage import BlockWrite
from tests.unit.ingest.bundles import etl_bundles


def test_events_messages_cover_the_batch_range_and_split_when_large(chaindata: Path) -> None:
    decoder = Decoder("ethereum")
    batch = [
        BlockWrite(b, decoder.decode(b.logs).events) for b in etl_bundles(chaindata / "ethereum-etl-17173049")
    ]
    [whole] = events_payloads("ethereum", batch, per_message=100_000)
    assert (whole["from_block"], whole["to_block"]) == (17173049, 17173050)
    assert len(whole["events"]) == sum(len(w.events) for w in batch)
    split = events_payloads("ethereum", batch, per_message=1)
    assert [(m["from_block"], m["to_block"]) for m in split] == [(17173049, 17173049), (17173050, 17173050)]
    assert [e for m in split for e in m["events"]] == whole["events"]
    first = batch[0].events[0]
    assert whole["events"][0]["args"] == first.args and whole["events"][0]["kind"] == first.kind
    assert block_payload(batch[0])["logs"] == len(batch[0].bundle.logs)
