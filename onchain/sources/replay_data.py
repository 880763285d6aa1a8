"""Recorded chain data loaded into memory in the shape a JSON-RPC node answers with.

Three recording formats, told apart by their content, so one path may mix them:
- ethereum-etl JSON-lines exports (`"type": "block" | "transaction" | "log"` per line), the shape of
  the public BigQuery `crypto_ethereum` tables;
- mev-inspect block files (one block's `traces` and receipt summaries; no logs, and no parent hash);
- recorded request/response pairs: `[{"request", "response"}, ...]` files, and files named
  `<anything>.<method>_<param>_<param>.json` holding one response.
Everything is converted to node JSON (hex quantities) once, so the replay server and the direct
reader share one parse path with live RPC.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from onchain.errors import InconsistentDataError, MalformedResponseError

ZERO_HASH = "0x" + "00" * 32
_SAMPLE_NAME = re.compile(r"\.([a-z]+_[A-Za-z]+)_?(.*)\.json$")


def request_key(method: str, params: Any) -> str:
    """Key of a recorded request: method and params with hex (and tags) lower-cased."""
    return method + orjson.dumps(_lower(params), option=orjson.OPT_SORT_KEYS).decode()


def _lower(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, list):
        return [_lower(v) for v in value]
    if isinstance(value, dict):
        return {k: _lower(v) for k, v in value.items()}
    return value


@dataclass
class RecordedChain:
    """Blocks (full transactions), receipts, traces and canned answers, keyed by block number."""

    chain_id: int = 1
    blocks: dict[int, dict[str, Any]] = field(default_factory=dict)
    receipts: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    traces: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    answers: dict[str, Any] = field(default_factory=dict)
    logless: set[int] = field(default_factory=set)
    kinds: set[str] = field(default_factory=set)
    _hashes: dict[str, int] = field(default_factory=dict, repr=False)
    _tx_index: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False)

    @property
    def head(self) -> int:
        return max(self.blocks, default=0)

    @property
    def numbers(self) -> list[int]:
        """Block numbers that can be replayed (a block with its receipts)."""
        return sorted(n for n in self.blocks if n in self.receipts)

    def add_block(self, block: dict[str, Any], receipts: list[dict[str, Any]] | None) -> None:
        number = int(block["number"], 16)
        self.blocks[number] = block
        self._hashes[block["hash"].lower()] = number
        for position, tx in enumerate(block["transactions"]):
            if isinstance(tx, dict):
                self._tx_index[tx["hash"].lower()] = (number, position)
        if receipts is not None:
            self.receipts[number] = receipts

    def number_of(self, block_hash: Any) -> int | None:
        return self._hashes.get(str(block_hash).lower())

    def logs_of(self, number: int) -> list[dict[str, Any]]:
        return [log for receipt in self.receipts.get(number, []) for log in receipt.get("logs", [])]

    def transaction_of(self, tx_hash: str) -> dict[str, Any] | None:
        where = self._tx_index.get(tx_hash)
        return None if where is None else self.blocks[where[0]]["transactions"][where[1]]

    def receipt_of(self, tx_hash: str) -> dict[str, Any] | None:
        where = self._tx_index.get(tx_hash)
        if where is None or where[0] not in self.receipts:
            return None
        return next((r for r in self.receipts[where[0]] if r["transactionHash"] == tx_hash), None)


def load_recording(path: str | Path | Iterable[str | Path]) -> RecordedChain:
    """Load a file, a folder (recursively) or several of either into one recorded chain."""
    paths = [Path(path)] if isinstance(path, str | Path) else [Path(p) for p in path]
    files: list[Path] = []
    for item in paths:
        if item.is_dir():
            files.extend(sorted(item.rglob("*.json")))
        elif item.is_file():
            files.append(item)
        else:
            raise FileNotFoundError(f"no recording at {item}")
    chain = RecordedChain()
    etl_rows: list[dict[str, Any]] = []
    mev_blocks: dict[int, tuple[Path, dict[str, Any]]] = {}
    for file in files:
        text = file.read_bytes()
        head = text.lstrip()[:1]
        if head == b"[":
            _add_pairs(chain, orjson.loads(text))
        elif _SAMPLE_NAME.search(file.name) and b'"jsonrpc"' in text[:200]:
            _add_sample(chain, file.name, orjson.loads(text))
        elif head == b"{" and text.count(b"\n", 0, len(text) - 1) > 0 and b'"type"' in text[:200]:
            etl_rows.extend(orjson.loads(line) for line in text.splitlines() if line.strip())
        elif head == b"{":
            doc = orjson.loads(text)
            if isinstance(doc, dict) and "traces" in doc and "receipts" in doc:
                number = int(doc["block_number"])
                # Two files may hold the same block; prefer the one named after it.
                if number not in mev_blocks or file.stem == str(number):
                    mev_blocks[number] = (file, doc)
    if etl_rows:
        _add_etl(chain, etl_rows)
    for number in sorted(mev_blocks):
        _add_mev_block(chain, mev_blocks[number][1])
    _assemble_from_answers(chain)
    if not chain.blocks and not chain.answers:
        raise MalformedResponseError(f"no recorded blocks or answers found in {', '.join(map(str, paths))}")
    return chain


def _hex(value: int | None) -> str | None:
    return None if value is None else hex(int(value))


def _add_etl(chain: RecordedChain, rows: list[dict[str, Any]]) -> None:
    chain.kinds.add("ethereum-etl")
    blocks = {r["number"]: r for r in rows if r.get("type") == "block"}
    txs: dict[int, list[dict[str, Any]]] = {n: [] for n in blocks}
    logs: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("type") == "transaction" and row["block_number"] in txs:
            txs[row["block_number"]].append(row)
        elif row.get("type") == "log":
            logs.setdefault(row["transaction_hash"], []).append(_etl_log(row))
    for number, block in sorted(blocks.items()):
        block_txs = sorted(txs[number], key=lambda t: t["transaction_index"])
        if len(block_txs) != block["transaction_count"]:
            raise InconsistentDataError(
                f"block {number}: export holds {len(block_txs)} of its {block['transaction_count']} transactions"
            )
        receipts = [_etl_receipt(tx, sorted(logs.get(tx["hash"], []), key=lambda lg: int(lg["logIndex"], 16)))
                    for tx in block_txs]
        chain.add_block(_etl_block(block, [_etl_transaction(tx) for tx in block_txs]), receipts)


def _etl_block(row: dict[str, Any], transactions: list[dict[str, Any]]) -> dict[str, Any]:
    block = {
        "number": _hex(row["number"]), "hash": row["hash"], "parentHash": row["parent_hash"],
        "nonce": row.get("nonce"), "sha3Uncles": row.get("sha3_uncles"), "logsBloom": row.get("logs_bloom"),
        "transactionsRoot": row.get("transactions_root"), "stateRoot": row.get("state_root"),
        "receiptsRoot": row.get("receipts_root"), "miner": row["miner"], "difficulty": _hex(row.get("difficulty")),
        "totalDifficulty": _hex(row.get("total_difficulty")), "size": _hex(row.get("size")),
        "extraData": row.get("extra_data"), "gasLimit": _hex(row.get("gas_limit")), "gasUsed": _hex(row["gas_used"]),
        "timestamp": _hex(row["timestamp"]), "transactions": transactions, "uncles": [],
    }
    if row.get("base_fee_per_gas") is not None:
        block["baseFeePerGas"] = _hex(row["base_fee_per_gas"])
    if row.get("withdrawals_root"):
        block["withdrawalsRoot"] = row["withdrawals_root"]
    return block


def _etl_transaction(row: dict[str, Any]) -> dict[str, Any]:
    tx = {
        "hash": row["hash"], "nonce": _hex(row["nonce"]), "blockHash": row["block_hash"],
        "blockNumber": _hex(row["block_number"]), "transactionIndex": _hex(row["transaction_index"]),
        "from": row["from_address"], "to": row["to_address"], "value": _hex(row["value"]), "gas": _hex(row["gas"]),
        "gasPrice": _hex(row["gas_price"]), "input": row["input"], "type": _hex(row.get("transaction_type") or 0),
    }
    for key, column in (("maxFeePerGas", "max_fee_per_gas"), ("maxPriorityFeePerGas", "max_priority_fee_per_gas")):
        if row.get(column) is not None:
            tx[key] = _hex(row[column])
    return tx


def _etl_receipt(tx: dict[str, Any], logs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "transactionHash": tx["hash"], "transactionIndex": _hex(tx["transaction_index"]),
        "blockHash": tx["block_hash"], "blockNumber": _hex(tx["block_number"]), "from": tx["from_address"],
        "to": tx["to_address"], "cumulativeGasUsed": _hex(tx["receipt_cumulative_gas_used"]),
        "gasUsed": _hex(tx["receipt_gas_used"]), "contractAddress": tx.get("receipt_contract_address"),
        "logs": logs, "status": _hex(tx.get("receipt_status")),
        "effectiveGasPrice": _hex(tx.get("receipt_effective_gas_price")), "type": _hex(tx.get("transaction_type") or 0),
    }


def _etl_log(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "address": row["address"], "topics": row["topics"], "data": row["data"],
        "blockNumber": _hex(row["block_number"]), "blockHash": row["block_hash"],
        "transactionHash": row["transaction_hash"], "transactionIndex": _hex(row["transaction_index"]),
        "logIndex": _hex(row["log_index"]), "removed": False,
    }


def _add_mev_block(chain: RecordedChain, doc: dict[str, Any]) -> None:
    """A mev-inspect block: transactions rebuilt from each one's top-level trace and receipt summary.

    The recording has no parent hash (served as the zero hash) and mostly no timestamp (served as 0);
    it has no logs, so receipts are served without them and log queries are refused.
    """
    chain.kinds.add("mev-inspect")
    number = int(doc["block_number"])
    traces = doc["traces"]
    hashes = {t["block_hash"] for t in traces}
    if len(hashes) != 1:
        raise InconsistentDataError(f"mev-inspect block {number}: traces name {len(hashes)} block hashes")
    block_hash = hashes.pop()
    top = {t["transaction_hash"]: t for t in traces if t["trace_address"] == [] and t.get("transaction_hash")}
    transactions, receipts = [], []
    for receipt in sorted(doc["receipts"], key=lambda r: r["transaction_index"]):
        tx_hash = receipt["transaction_hash"]
        trace = top.get(tx_hash)
        if trace is None:
            raise InconsistentDataError(f"mev-inspect block {number}: no top-level trace for {tx_hash}")
        action = trace["action"]
        common = {
            "blockHash": block_hash, "blockNumber": _hex(number), "transactionIndex": _hex(receipt["transaction_index"])
        }
        transactions.append({
            "hash": tx_hash, **common, "from": action["from"].lower(), "to": receipt.get("to"),
            "value": action.get("value", "0x0"), "input": action.get("input", action.get("init", "0x")),
            "gas": action.get("gas", "0x0"), "gasPrice": _hex(receipt["effective_gas_price"]),
        })
        receipts.append({
            "transactionHash": tx_hash, **common, "to": receipt.get("to"),
            "gasUsed": _hex(receipt["gas_used"]), "cumulativeGasUsed": _hex(receipt["cumulative_gas_used"]),
            "effectiveGasPrice": _hex(receipt["effective_gas_price"]), "status": "0x0" if trace.get("error") else "0x1",
        })
    block = {
        "number": _hex(number), "hash": block_hash, "parentHash": ZERO_HASH,
        "timestamp": _hex(doc.get("block_timestamp") or 0), "miner": str(doc["miner"]).lower(),
        "gasUsed": _hex(max((r["cumulative_gas_used"] for r in doc["receipts"]), default=0)),
        "transactions": transactions, "uncles": [],
    }
    if doc.get("base_fee_per_gas"):
        block["baseFeePerGas"] = _hex(doc["base_fee_per_gas"])
    chain.add_block(block, receipts)
    chain.logless.add(number)
    chain.traces[number] = [_parity_trace(t) for t in traces]


def _parity_trace(trace: dict[str, Any]) -> dict[str, Any]:
    out = {
        "action": trace["action"], "blockHash": trace["block_hash"], "blockNumber": trace["block_number"],
        "result": trace.get("result"), "subtraces": trace["subtraces"], "traceAddress": trace["trace_address"],
        "transactionHash": trace.get("transaction_hash"), "transactionPosition": trace.get("transaction_position"),
        "type": trace["type"],
    }
    if trace.get("error"):
        out["error"] = trace["error"]
    return out


def _add_pairs(chain: RecordedChain, pairs: Any) -> None:
    if not isinstance(pairs, list):
        return
    for pair in pairs:
        request = pair.get("request") if isinstance(pair, dict) else None
        if isinstance(request, dict) and isinstance(request.get("method"), str) and "response" in pair:
            chain.kinds.add("rpc")
            chain.answers.setdefault(request_key(request["method"], request.get("params", [])), pair["response"])


def _add_sample(chain: RecordedChain, name: str, response: Any) -> None:
    """A response file named by its request, e.g. `...eth_getBlockByNumber_0x76250_true.json`."""
    match = _SAMPLE_NAME.search(name)
    if match is None:
        return
    method, rest = match.group(1), match.group(2)
    params: list[Any] = []
    parts = rest.split("_") if rest else []
    while parts:
        part = parts.pop(0)
        if part == "tracer" and parts:
            params.append({"tracer": parts.pop(0)})
        else:
            params.append({"true": True, "false": False}.get(part, part))
    chain.kinds.add("rpc")
    chain.answers.setdefault(request_key(method, params), response)


def _assemble_from_answers(chain: RecordedChain) -> None:
    """Recorded full blocks whose every receipt is recorded too become replayable blocks."""
    results = {key: value.get("result") for key, value in chain.answers.items() if isinstance(value, dict)}
    block_receipts: dict[str, list[dict[str, Any]]] = {}
    tx_receipts: dict[str, dict[str, Any]] = {}
    traces: dict[int, list[dict[str, Any]]] = {}
    full_blocks: list[dict[str, Any]] = []
    for key, result in results.items():
        method = key.split("[", 1)[0]
        if method in ("eth_getBlockReceipts", "erigon_getBlockReceiptsByBlockHash") and isinstance(result, list):
            if result and isinstance(result[0], dict) and "blockHash" in result[0]:
                block_receipts[result[0]["blockHash"].lower()] = result
        elif method == "eth_getTransactionReceipt" and isinstance(result, dict):
            tx_receipts[str(result.get("transactionHash", "")).lower()] = result
        elif method == "trace_block" and isinstance(result, list) and result:
            traces[int(str(result[0]["blockNumber"]), 0)] = result
        elif method in ("eth_getBlockByNumber", "eth_getBlockByHash") and isinstance(result, dict):
            txs = result.get("transactions", [])
            if all(isinstance(tx, dict) for tx in txs) and isinstance(result.get("number"), str):
                full_blocks.append(result)
    for block in full_blocks:
        number = int(block["number"], 16)
        if number in chain.blocks:
            continue
        receipts = block_receipts.get(block["hash"].lower())
        if receipts is None:
            found = [tx_receipts.get(tx["hash"].lower()) for tx in block["transactions"]]
            receipts = [r for r in found if r is not None] if all(r is not None for r in found) else None
        chain.add_block(block, receipts)
        if number in traces:
            chain.traces[number] = traces[number]
