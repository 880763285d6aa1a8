"""The decoder on recorded mainnet and Polygon logs: exact counts, eth_abi-equal values, attribution."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from onchain.domain.chain import Log
from onchain.protocols import Decoder, PoolDirectory
from onchain.protocols.create2 import v2_pair_address

from .helpers import (
    AAVE_V3_POOL_ETHEREUM,
    AAVE_V3_POOL_POLYGON,
    USDT,
    WETH,
    WETH_USDT_PAIR,
    demeter_logs,
    etl_logs,
    independent_counts,
    logs_in,
    signature_for,
)

UNISWAP_V2_FACTORY = "0x5c69bee701ef814a2b6a3edd4b1652cb9cc5aa6f"
UNISWAP_V2_INIT_CODE_HASH = "0x96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f"
WMATIC = frozenset({"0x0d500b1d8e8ef31e21c99d1db9a6444d3adf1270"})


def assert_equals_eth_abi(events: list, logs: list[Log]) -> None:
    by_id = {(log.transaction_hash, log.log_index): log for log in logs}
    for event in events:
        log = by_id[(event.transaction_hash, event.log_index)]
        assert event.args == signature_for(event.kind, log).decode(log), event.kind
        assert (event.block_number, event.address) == (log.block_number, log.address)


@pytest.fixture(scope="module")
def etl(chaindata: Path) -> list[Log]:
    return etl_logs(chaindata)


def test_counts_per_kind_equal_an_independent_count(etl: list[Log]) -> None:
    result = Decoder("ethereum").decode(etl)
    expected = independent_counts(etl, frozenset({WETH}), frozenset({AAVE_V3_POOL_ETHEREUM}))
    assert Counter(e.kind for e in result.events) == expected
    assert expected["erc20.Transfer"] == 282
    assert expected["uniswap_v2.Swap"] == 69
    assert expected["uniswap_v3.Swap"] == 10
    assert expected["chainlink.NewTransmission"] == 2
    assert result.skipped == {}


def test_values_equal_eth_abi(etl: list[Log]) -> None:
    events = Decoder("ethereum").decode(etl).events
    assert_equals_eth_abi(events, etl)


def test_erc721_transfers_are_not_erc20(etl: list[Log]) -> None:
    nft = [log for log in etl if log.topics and log.topics[0].startswith("0xddf252ad") and len(log.topics) == 4]
    assert len(nft) == 9
    result = Decoder("ethereum").decode(nft)
    assert result.events == [] and result.skipped == {}


def test_weth_usdt_pair_is_uniswap_v2_proven_by_create2_and_prices_eth(etl: list[Log]) -> None:
    assert v2_pair_address(UNISWAP_V2_FACTORY, WETH, USDT, UNISWAP_V2_INIT_CODE_HASH) == WETH_USDT_PAIR
    directory = PoolDirectory.default("ethereum")
    pool = directory.get(WETH_USDT_PAIR)
    assert pool is not None and (pool.protocol, pool.token0, pool.token1) == ("uniswap-v2", WETH, USDT)
    events = [e for e in Decoder("ethereum", directory).decode(etl).events if e.address == WETH_USDT_PAIR]
    assert Counter(e.name for e in events)["Swap"] == 5
    assert {e.protocol for e in events} == {"uniswap-v2"}
    last_sync = [e for e in events if e.name == "Sync"][-1]
    price = (last_sync.args["reserve1"] / 10**6) / (last_sync.args["reserve0"] / 10**18)
    assert 1820 < price < 1840


def test_pool_events_outside_the_directory_are_not_attributed(etl: list[Log]) -> None:
    events = Decoder("ethereum", PoolDirectory()).decode(etl).events
    assert {e.protocol for e in events if e.family == "uniswap_v2"} == {None}
    assert {e.protocol for e in events if e.family == "chainlink"} == {"chainlink"}
    assert {e.protocol for e in events if e.family == "erc20"} == {None}


def test_aave_v3_day_on_polygon(chaindata: Path) -> None:
    expected_per_file = {
        "0x2791bca1f2de4661ed88a30c99a7a9449aa84174": {"Supply": 308, "Withdraw": 369, "Borrow": 96, "Repay": 107},
        "0x7ceb23fd6bc0add59e62ac25578270cff1b9f619": {"Supply": 210, "Withdraw": 129, "Borrow": 33, "Repay": 41},
    }
    decoder = Decoder("polygon", PoolDirectory())
    for reserve, expected in expected_per_file.items():
        path = chaindata / "demeter-fetch" / f"polygon-aave_v3-{reserve}-2024-01-06.raw.csv"
        logs = demeter_logs(path, AAVE_V3_POOL_POLYGON)
        result = decoder.decode(logs)
        assert Counter(e.name for e in result.events) == expected
        assert independent_counts(logs, WMATIC, frozenset({AAVE_V3_POOL_POLYGON})) == {
            f"aave_v3.{name}": n for name, n in expected.items()
        }
        assert {e.protocol for e in result.events} == {"aave-v3"}
        assert {e.args["reserve"] for e in result.events} == {reserve}
        assert result.skipped == {}
        assert_equals_eth_abi(result.events, logs)


def test_aave_v3_borrow_on_ethereum_and_v2_withdraw_left_alone(chaindata: Path) -> None:
    mainnet = chaindata / "erigon-rpc-tests" / "mainnet"
    block_18m = logs_in(json.loads((mainnet / "eth_getBlockReceipts" / "test_02.json").read_text()))
    v2_block = logs_in(json.loads((mainnet / "erigon_getBlockReceiptsByBlockHash" / "test_03.json").read_text()))
    decoder = Decoder("ethereum")
    borrows = [e for e in decoder.decode(block_18m).events if e.family == "aave_v3"]
    assert [(e.name, e.address, e.protocol) for e in borrows] == [("Borrow", AAVE_V3_POOL_ETHEREUM, "aave-v3")]
    assert_equals_eth_abi(borrows, block_18m)
    # Aave V2's LendingPool emits Withdraw with the same signature: not an Aave V3 event.
    assert [e for e in decoder.decode(v2_block).events if e.family == "aave_v3"] == []


def test_chainlink_feeds_on_polygon(chaindata: Path) -> None:
    receipts = json.loads((chaindata / "squid-sdk-evm-rpc" / "polygon" / "50000000" / "receipts.json").read_text())
    logs = logs_in(receipts)
    result = Decoder("polygon", PoolDirectory()).decode(logs)
    kinds = Counter(e.kind for e in result.events if e.family == "chainlink")
    assert kinds == {"chainlink.AnswerUpdated": 15, "chainlink.NewTransmission": 15}
    assert Counter(e.kind for e in result.events) == independent_counts(logs, WMATIC, frozenset({AAVE_V3_POOL_POLYGON}))
    assert_equals_eth_abi(result.events, logs)
    # Each OCR transmission's answer is the feed's new answer, posted in the same log pair.
    answers = {(e.transaction_hash, e.address): e.args for e in result.events if e.name == "AnswerUpdated"}
    for event in (e for e in result.events if e.name == "NewTransmission"):
        assert answers[(event.transaction_hash, event.address)]["current"] == event.args["answer"]
        assert min(event.args["observations"]) <= event.args["answer"] <= max(event.args["observations"])


def test_block_18000000_everything_equals_eth_abi(chaindata: Path) -> None:
    receipts = json.loads((chaindata / "squid-sdk-evm-rpc" / "ethereum" / "18000000" / "receipts.json").read_text())
    logs = logs_in(receipts)
    assert len(logs) == 291
    result = Decoder("ethereum").decode(logs)
    assert Counter(e.kind for e in result.events) == independent_counts(
        logs, frozenset({WETH}), frozenset({AAVE_V3_POOL_ETHEREUM})
    )
    assert Counter(e.kind for e in result.events)["uniswap_v2.Swap"] == 27
    assert_equals_eth_abi(result.events, logs)


def test_pair_created_teaches_the_decoder_a_proven_pool(chaindata: Path) -> None:
    path = chaindata / "erigon-rpc-tests" / "mainnet" / "erigon_getLogsByHash" / "test_08.json"
    logs = logs_in(json.loads(path.read_text()))
    directory = PoolDirectory()
    result = Decoder("ethereum", directory).decode(logs)
    created = [e for e in result.events if e.name == "PairCreated"]
    assert len(created) == 1 and created[0].protocol == "uniswap-v2"
    pair = created[0].args["pair"]
    assert [p.address for p in result.new_pools] == [pair]
    assert result.unproven_pools == []
    assert directory.get(pair) is not None
    token0, token1 = created[0].args["token0"], created[0].args["token1"]
    assert v2_pair_address(UNISWAP_V2_FACTORY, token0, token1, UNISWAP_V2_INIT_CODE_HASH) == pair
    # Later events of that pair in the same logs are attributed through the learned pool.
    later = [e for e in result.events if e.address == pair and e.family == "uniswap_v2"]
    assert {e.name for e in later} >= {"Mint", "Sync"}
    assert {e.protocol for e in later} == {"uniswap-v2"}
