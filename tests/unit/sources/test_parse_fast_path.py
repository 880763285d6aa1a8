"""parse_logs' fast path answers exactly as the general path: same logs, or the same typed error.

The block is mainnet 18,000,000 with its receipts (recorded answers). Each case alters one field of one
log in ways a node could send; the answer of `parse_logs` (fast path first) must equal the answer of
the field-by-field path on the same input.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from onchain.domain.chain import Block, Log
from onchain.errors import RpcError
from onchain.sources.parse import _checked_logs, parse_block, parse_logs

ZERO = "0x" + "00" * 32


@pytest.fixture(scope="module")
def block_and_logs(chaindata: Path) -> tuple[Block, list[dict[str, Any]]]:
    folder = chaindata / "erigon-rpc-tests" / "mainnet"
    receipts = json.loads((folder / "eth_getBlockReceipts" / "test_02.json").read_text())[0]["response"]["result"]
    logs = [log for receipt in receipts for log in receipt["logs"]]
    number = logs[0]["blockNumber"]
    block, _ = parse_block(
        {"number": number, "hash": logs[0]["blockHash"], "parentHash": ZERO, "timestamp": "0x0", "gasUsed": "0x0",
         "transactions": []}
    )
    return block, logs


def _answer(raw: list[Any], block: Block) -> tuple[Log, ...] | tuple[type[Exception], str]:
    try:
        return parse_logs(raw, block)
    except RpcError as exc:
        return type(exc), str(exc)


def _general(raw: list[Any], block: Block) -> tuple[Log, ...] | tuple[type[Exception], str]:
    try:
        return _checked_logs(raw, block)
    except RpcError as exc:
        return type(exc), str(exc)


def test_regular_block_takes_the_same_logs(block_and_logs: tuple[Block, list[dict[str, Any]]]) -> None:
    block, raw = block_and_logs
    fast = parse_logs(raw, block)
    assert fast == _checked_logs(raw, block)
    assert len(fast) == 291 and all(type(log) is Log for log in fast)
    assert [log.log_index for log in fast] == list(range(291))


ALTERATIONS: list[tuple[str, Any]] = [
    ("transactionHash", None),
    ("transactionHash", 5),
    ("transactionHash", "0x" + "ab" * 31),
    ("transactionHash", "0X" + "ab" * 32),
    ("transactionHash", "0x" + "AB" * 32),
    ("transactionHash", "x0" + "ab" * 32),
    ("transactionHash", "0x" + "ab" * 31 + "a,"),
    ("transactionHash", "0x" + "ab" * 31 + "gg"),
    ("transactionHash", "0x" + "ab" * 31 + "\u00e9a"),
    ("transactionHash", "0x" + "ab" * 31 + "\ud800a"),
    ("transactionIndex", "0x"),
    ("transactionIndex", "0x_1"),
    ("transactionIndex", " 0x1"),
    ("transactionIndex", "1"),
    ("transactionIndex", 3),
    ("transactionIndex", "0x0003"),
    ("transactionIndex", "0x1x"),
    ("logIndex", "0x"),
    ("logIndex", "0x0"),
    ("logIndex", "0x1f4"),
    ("logIndex", "-0x1"),
    ("logIndex", None),
    ("address", "0x1234"),
    ("address", "0x" + "Ab" * 20),
    ("address", "0x" + "ab" * 19 + "a0x"),
    ("topics", "0xabc"),
    ("topics", [ZERO] * 5),
    ("topics", []),
    ("topics", [ZERO[:-1]]),
    ("topics", [ZERO + "0"]),
    ("topics", [ZERO[:-2] + "0x"]),
    ("topics", [None]),
    ("data", "0x123"),
    ("data", "0x"),
    ("data", "0x00,0x"),
    ("data", "0x 00"),
    ("data", b"0x00"),
    ("removed", "no"),
    ("removed", True),
    ("removed", None),
    ("blockHash", "0x" + "ab" * 32),
    ("blockHash", None),
    ("blockNumber", "0x1"),
    ("blockNumber", "0x0112a880"),
    ("blockNumber", 18_000_000),
    ("blockNumber", "0X112A880"),
]


@pytest.mark.parametrize(("field", "value"), ALTERATIONS)
@pytest.mark.parametrize("position", [0, 150, 290])
def test_altered_log_answers_as_the_general_path(
    block_and_logs: tuple[Block, list[dict[str, Any]]], field: str, value: Any, position: int
) -> None:
    block, raw = block_and_logs
    altered = copy.deepcopy(raw)
    altered[position][field] = value
    assert _answer(altered, block) == _general(altered, block)


@pytest.mark.parametrize("field", ["transactionHash", "address", "data", "logIndex", "topics", "removed"])
def test_missing_field_answers_as_the_general_path(
    block_and_logs: tuple[Block, list[dict[str, Any]]], field: str
) -> None:
    block, raw = block_and_logs
    altered = copy.deepcopy(raw)
    del altered[7][field]
    assert _answer(altered, block) == _general(altered, block)


def test_disorder_duplicates_and_non_objects(block_and_logs: tuple[Block, list[dict[str, Any]]]) -> None:
    block, raw = block_and_logs
    for altered in (list(reversed(raw)), [*raw, raw[5]], [raw[1], raw[0], *raw[2:]], [*raw, None], [*raw, [1]]):
        assert _answer(altered, block) == _general(altered, block)
    removed = copy.deepcopy(raw)
    removed[3]["removed"] = True
    answer = parse_logs(removed, block)
    assert len(answer) == 290 and 3 not in {log.log_index for log in answer}
