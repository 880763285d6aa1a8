"""Swaps and sandwiches from receipts' logs alone (no traces), on two recorded mainnet blocks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onchain.analytics.mev import Swap, get_sandwiches
from onchain.analytics.mev.logs import swaps_from_events
from onchain.domain.chain import Log
from onchain.protocols.registry import Decoder

WETH = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
USDT = "0xdac17f958d2ee523a2206206994597c13d831ec7"


@pytest.fixture(scope="module")
def swaps(chaindata: Path) -> list[Swap]:
    logs = []
    for line in (chaindata / "ethereum-etl-17173049" / "logs.json").read_text().splitlines():
        d = json.loads(line)
        logs.append(
            Log(d["block_number"], d["block_hash"], d["transaction_hash"], d["transaction_index"],
                d["log_index"], d["address"], tuple(d["topics"]), d["data"])
        )  # fmt: skip
    return swaps_from_events(Decoder("ethereum").decode(logs).events)


def test_weth_usdt_pair_swaps_take_tokens_from_transfers(swaps: list[Swap]) -> None:
    # The data folder's README counts 5 swaps on the WETH/USDT pair in these two blocks; each Swap
    # event's amounts match one USDT or WETH transfer into the pair and one out to the recipient.
    pair = [s for s in swaps if s.pool == "0x0d4a11d5eeaac28ec3f61d100daf4d40471f1852"]
    assert [(s.token_in, s.amount_in, s.token_out, s.amount_out) for s in pair] == [
        (USDT, 300000000, WETH, 163431800996002843),
        (USDT, 500000000, WETH, 272379018274423950),
        (USDT, 200000000, WETH, 108949043932854608),
        (USDT, 500000000, WETH, 272366209894377473),
        (WETH, 3946601695109418497, USDT, 7200000000),
    ]


def test_most_swaps_resolve_and_a_known_sandwich_bot_is_found(swaps: list[Swap]) -> None:
    # 79 V2/V3 Swap events; 72 have matching transfers in their transaction (the others pay or
    # receive through tokens whose transfer amounts differ, e.g. fee-on-transfer tokens).
    assert len(swaps) == 72
    bot = "0x6b75d8af000000e20b7a7ddf000ba900b4009a80"
    around = [s for s in get_sandwiches(swaps) if s.searcher == bot]
    # Front-run 0xeb10... buys with WETH, victim 0xec7c... buys the same way, back-run 0xfb65...
    # sells everything back: 235382152194162688 wei of WETH.
    first = next(s for s in around if s.frontrun.transaction_hash.startswith("0xeb107a40"))
    assert first.backrun.transaction_hash.startswith("0xfb6562bc")
    assert first.victim_transactions == ("0xec7cc4df1ff542793053335700f18d59c3f870e1e4820a42d558c76db832bd14",)
    assert (first.profit_token, first.profit_amount) == (WETH, 235382152194162688)
    assert all(s.searcher != "0x7a250d5630b4cf539739df2c5dacb4c659f2488d" for s in get_sandwiches(swaps))
