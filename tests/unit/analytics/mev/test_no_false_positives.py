"""Fixture blocks without MEV of a kind yield none of that kind.

The 26 recorded trace blocks (10921990.json repeats block 10921991) were chosen for one or more kinds
each. The lists below name, per kind, every block where a finding of that kind is expected; the
findings confirmed value by value against the reference inspector are in test_sandwiches.py,
test_arbitrages.py and test_liquidations.py. Every other block must produce none of the kind: a
detector that loosened (a multi-hop route read as a cycle, a router user read as a searcher, a plain
repay read as a liquidation) would add a block here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from onchain.analytics.mev import BlockMev, get_arbitrages, get_sandwiches, liquidations_from_events, swaps_from_events
from onchain.analytics.mev.jit import get_jit
from onchain.domain.chain import Log
from onchain.protocols.registry import Decoder

BLOCKS = [10921991, 11930296, 11931272, 11935012, 12412732, 12483198, 12498502, 12674514, 12775690, 12914944,
          13179291, 13207907, 13234998, 13244807, 13298725, 13302365, 13323642, 13326607, 13370850, 13376024,
          13404932, 13666184, 13666312, 13666326, 13666363, 15049646]  # fmt: skip

WITH = {
    "sandwiches": {11935012, 12412732, 12775690, 12914944, 13234998, 13370850, 13404932, 13666326, 13666363},
    "arbitrages": {10921991, 11930296, 11931272, 12412732, 12483198, 12498502, 12914944, 13234998, 13298725,
                   13302365, 13326607, 13370850, 13404932, 13666312, 13666363, 15049646},
    "liquidations": {10921991, 12498502, 12674514, 13179291, 13207907, 13234998, 13244807, 13298725, 13302365,
                     13323642, 13326607, 13370850, 13376024, 13404932},
}  # fmt: skip

# The complements, spelled out so a reader sees which blocks are the negative cases:
WITHOUT = {
    # Liquidation-only and arbitrage-only blocks, and 13666184/13666312 (0x fills without a sandwich).
    "sandwiches": {10921991, 11930296, 11931272, 12483198, 12498502, 12674514, 13179291, 13207907, 13244807,
                   13298725, 13302365, 13323642, 13326607, 13376024, 13666184, 13666312, 15049646},
    # Liquidation and sandwich blocks whose swaps form no profitable cycle within one transaction.
    "arbitrages": {11935012, 12674514, 12775690, 13179291, 13207907, 13244807, 13323642, 13376024, 13666184,
                   13666326},
    # Blocks with no call to a lending market's liquidation function.
    "liquidations": {11930296, 11931272, 11935012, 12412732, 12483198, 12775690, 12914944, 13666184, 13666312,
                     13666326, 13666363, 15049646},
}  # fmt: skip


def test_the_lists_cover_every_fixture_block_once() -> None:
    for kind in WITH:
        assert WITH[kind] | WITHOUT[kind] == set(BLOCKS) and not WITH[kind] & WITHOUT[kind]


@pytest.mark.parametrize("kind", sorted(WITHOUT))
def test_blocks_without_a_kind_yield_none_of_it(inspected: Callable[[int], BlockMev], kind: str) -> None:
    found = {number for number in BLOCKS if getattr(inspected(number), kind)}
    assert found == WITH[kind]
    assert all(not getattr(inspected(number), kind) for number in WITHOUT[kind])


def test_logs_blocks_hold_sandwiches_only(chaindata: Path) -> None:
    # 17173049 and 17173050 (logs, no traces): the sandwich bots' front- and back-runs are the only MEV
    # (one sandwich in 17173049, two in 17173050). No transaction's swaps return to their start token
    # with a profit; no Aave V3 LiquidationCall is logged; no Uniswap V3 Mint or Burn is, so no JIT.
    logs = []
    for line in (chaindata / "ethereum-etl-17173049" / "logs.json").read_text().splitlines():
        d = json.loads(line)
        logs.append(Log(d["block_number"], d["block_hash"], d["transaction_hash"], d["transaction_index"],
                        d["log_index"], d["address"], tuple(d["topics"]), d["data"]))  # fmt: skip
    events = Decoder("ethereum").decode(logs).events
    for number, sandwiches in ((17173049, 1), (17173050, 2)):
        block = [e for e in events if e.block_number == number]
        swaps = swaps_from_events(block)
        assert len(get_sandwiches(swaps)) == sandwiches
        assert get_arbitrages(swaps) == []
        assert liquidations_from_events(block) == []
        assert get_jit(block, swaps) == []
