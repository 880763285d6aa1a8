"""Event args as JSON text: exact integers of any size, the same text whichever path wrote it."""

from __future__ import annotations

import json
from pathlib import Path

from onchain.codec import decode_args, dumps, encode_args
from onchain.protocols.registry import Decoder
from tests.unit.ingest.bundles import etl_bundles


def _reference(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def test_recorded_event_args_round_trip_exactly(chaindata: Path) -> None:
    decoder = Decoder("ethereum")
    args = [event.args for bundle in etl_bundles(chaindata / "ethereum-etl-17173049")
            for event in decoder.decode(bundle.logs).events]
    big = [a for a in args if any(type(v) is int and v >= 2**63 for v in a.values())]
    assert len(args) > 500 and big
    for value in args:
        text = encode_args(value)
        assert text == _reference(value) == dumps(value).decode()
        assert decode_args(text) == json.loads(_reference(value))


def test_edges_of_the_64_bit_range_and_nested_values() -> None:
    value = {
        "small": 2**63 - 1,
        "negative": -(2**63),
        "below": -(2**63) - 1,
        "max": 2**256 - 1,
        "flag": True,
        "none": None,
        "observations": [1, 2**200, -(2**70)],
        "nested": {"deep": (2**64, "0xab")},
    }
    text = encode_args(value)
    assert text == _reference(value)
    assert decode_args(text)["max"] == 2**256 - 1
    assert decode_args(text)["nested"] == {"deep": [2**64, "0xab"]}
