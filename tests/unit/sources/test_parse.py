"""parse: real recorded node answers become records; malformed or contradictory ones become typed errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from onchain.errors import InconsistentDataError, MalformedResponseError
from onchain.sources.parse import build_bundle, parse_block, parse_log, parse_logs, parse_traces

BLOCK_18M_HASH = "0x95b198e154acbfc64109dfd22d8224fe927fd8dfdedfae01587674482ba4baf3"


def _answer(chaindata: Path, method: str, test: str) -> Any:
    pairs = json.loads((chaindata / "erigon-rpc-tests" / "mainnet" / method / f"{test}.json").read_text())
    return pairs[0]["response"]["result"]


@pytest.fixture(scope="module")
def block_18m(chaindata: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    block = None
    for file in sorted((chaindata / "erigon-rpc-tests" / "mainnet" / "eth_getBlockByNumber").glob("*.json")):
        for pair in json.loads(file.read_text()):
            request = pair["request"]
            if isinstance(request, dict) and str(request["params"][0]).lower() == "0x112a880" and request["params"][1]:
                block = pair["response"]["result"]
    assert block is not None
    return block, _answer(chaindata, "eth_getBlockReceipts", "test_02")


def _sample(chaindata: Path, name_part: str) -> Any:
    [file] = [f for f in (chaindata / "jsonrpc-samples").iterdir() if name_part in f.name]
    return json.loads(file.read_text())["result"]


def test_block_18000000_with_receipts(block_18m: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    raw_block, receipts = block_18m
    bundle = build_bundle("ethereum", raw_block, receipts=receipts)
    assert bundle.block.number == 18_000_000
    assert bundle.block.hash == BLOCK_18M_HASH
    assert bundle.block.timestamp == 1693066895
    assert len(bundle.transactions) == bundle.block.transaction_count == 94
    assert len(bundle.logs) == 291
    assert [log.log_index for log in bundle.logs] == list(range(291))
    assert all(tx.status in (0, 1) and tx.gas_used for tx in bundle.transactions)
    assert sum(tx.gas_used or 0 for tx in bundle.transactions) == bundle.block.gas_used


def test_block_18000000_logs_from_eth_getlogs_shape(block_18m: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    raw_block, receipts = block_18m
    logs = [log for receipt in receipts for log in receipt["logs"]]
    bundle = build_bundle("ethereum", raw_block, logs=list(reversed(logs)))
    assert len(bundle.logs) == 291 and bundle.logs[0].log_index == 0
    assert all(tx.gas_used is None for tx in bundle.transactions)


def test_jsonrpc_samples_blocks_parse(chaindata: Path) -> None:
    block, txs = parse_block(_sample(chaindata, "eth_getBlockByNumber_0x76250_true"))
    assert block.number == 0x76250 and len(txs) == block.transaction_count
    genesis, none = parse_block(_sample(chaindata, "eth_getBlockByNumber_0x0_true"))
    assert genesis.number == 0 and none == () and genesis.parent_hash == "0x" + "00" * 32
    hashes_only, no_txs = parse_block(_sample(chaindata, "eth_getBlockByNumber_0x203aea_false"))
    assert no_txs == () and hashes_only.number == 0x203AEA


def test_receipt_logs_from_samples_are_lower_case(chaindata: Path) -> None:
    receipt = _sample(chaindata, "eth_getTransactionReceipt_0x04cbcb23")
    logs = [parse_log(raw) for raw in receipt["logs"]]
    assert logs and all(log.address == log.address.lower() and log.block_hash.islower() for log in logs)
    upper = {**receipt["logs"][0], "address": receipt["logs"][0]["address"].upper().replace("0X", "0x")}
    assert parse_log(upper).address == logs[0].address


def test_traces_sample(chaindata: Path) -> None:
    raw = _sample(chaindata, "trace_block_0xf44f2")
    block, _ = parse_block({"number": "0xf44f2", "hash": raw[0]["blockHash"], "parentHash": "0x" + "00" * 32,
                            "timestamp": "0x0", "gasUsed": "0x0", "transactions": []})
    traces = parse_traces(raw, block)
    assert len(traces) == len(raw) and any(t["type"] == "create" for t in traces)


def test_trace_of_other_block_is_inconsistent(chaindata: Path) -> None:
    raw = _sample(chaindata, "trace_block_0xf44f2")
    block, _ = parse_block({"number": "0xf44f3", "hash": raw[0]["blockHash"], "parentHash": "0x" + "00" * 32,
                            "timestamp": "0x0", "gasUsed": "0x0", "transactions": []})
    with pytest.raises(InconsistentDataError):
        parse_traces(raw, block)


@pytest.mark.parametrize(
    ("field", "value"),
    [("hash", None), ("hash", "0x1234"), ("number", "12"), ("number", "0xzz"), ("timestamp", 1.5),
     ("parentHash", "0x" + "g" * 64), ("transactions", "0x")],
)
def test_malformed_block(block_18m: tuple[dict[str, Any], list[dict[str, Any]]], field: str, value: Any) -> None:
    raw = {**block_18m[0], field: value}
    with pytest.raises(MalformedResponseError):
        parse_block(raw)


def test_null_and_non_object_blocks() -> None:
    with pytest.raises(MalformedResponseError):
        parse_block(None)
    with pytest.raises(MalformedResponseError):
        parse_block(["not", "a", "block"])


def test_log_of_another_block_is_inconsistent(block_18m: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    raw_block, receipts = block_18m
    bad = copy.deepcopy(receipts)
    next(r for r in bad if r["logs"])["logs"][0]["blockHash"] = "0x" + "ab" * 32
    with pytest.raises(InconsistentDataError):
        build_bundle("ethereum", raw_block, receipts=bad)


def test_duplicate_log_index_is_inconsistent(block_18m: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    raw_block, receipts = block_18m
    block, _ = parse_block(raw_block)
    logs = [log for receipt in receipts for log in receipt["logs"]]
    with pytest.raises(InconsistentDataError):
        parse_logs([*logs, logs[5]], block)


def test_receipts_for_other_transactions_are_inconsistent(
    block_18m: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    raw_block, receipts = block_18m
    with pytest.raises(InconsistentDataError):
        build_bundle("ethereum", raw_block, receipts=receipts[:-1])


def test_transactions_out_of_order_are_inconsistent(block_18m: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    raw = copy.deepcopy(block_18m[0])
    raw["transactions"][0], raw["transactions"][1] = raw["transactions"][1], raw["transactions"][0]
    with pytest.raises(InconsistentDataError):
        parse_block(raw)


@pytest.mark.parametrize(
    ("field", "value"),
    [("topics", "0xabc"), ("topics", ["0x" + "00" * 32] * 5), ("data", "0x123"), ("logIndex", None),
     ("address", "0x1234"), ("removed", "no")],
)
def test_malformed_log(block_18m: tuple[dict[str, Any], list[dict[str, Any]]], field: str, value: Any) -> None:
    raw = {**block_18m[1][0]["logs"][0], field: value}
    with pytest.raises(MalformedResponseError):
        parse_log(raw)
