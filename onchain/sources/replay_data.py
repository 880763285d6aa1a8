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
from typing import Annotated, Any, ClassVar, TypeVar

import msgspec
import orjson

from onchain.errors import InputError

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


# Widths are checked by msgspec in C; hex digits by `_hex_fault` (a msgspec pattern costs ~40 us a row).
_Hash = Annotated[str, msgspec.Meta(min_length=66, max_length=66)]
_Address = Annotated[str, msgspec.Meta(min_length=42, max_length=42)]
_Count = Annotated[int, msgspec.Meta(ge=0)]
_HEX_BYTES = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
_HEX_QUANTITY = re.compile(r"0x[0-9a-fA-F]+")


class _Checked(msgspec.Struct):
    """A row's typed fields; `hex_bytes` and `hex_quantities` name those holding hex text."""

    hex_bytes: ClassVar[frozenset[str]] = frozenset()
    hex_quantities: ClassVar[frozenset[str]] = frozenset()


class _EtlBlock(_Checked):
    """The fields of an ethereum-etl block row that replay reads, with their types (others pass as they are)."""

    hex_bytes = frozenset({"hash", "parent_hash", "miner"})

    number: _Count
    hash: _Hash
    parent_hash: _Hash
    miner: _Address
    gas_used: _Count
    timestamp: _Count
    transaction_count: _Count
    base_fee_per_gas: _Count | None = None
    difficulty: _Count | None = None
    total_difficulty: _Count | None = None
    size: _Count | None = None
    gas_limit: _Count | None = None


class _EtlTransaction(_Checked):
    hex_bytes = frozenset({"hash", "block_hash", "from_address", "to_address", "input", "receipt_contract_address"})

    hash: _Hash
    nonce: _Count
    block_hash: _Hash
    block_number: _Count
    transaction_index: _Count
    from_address: _Address
    to_address: _Address | None
    value: _Count
    gas: _Count
    gas_price: _Count
    input: str
    receipt_cumulative_gas_used: _Count
    receipt_gas_used: _Count
    receipt_contract_address: _Address | None = None
    receipt_status: _Count | None = None
    receipt_effective_gas_price: _Count | None = None
    transaction_type: _Count | None = None
    max_fee_per_gas: _Count | None = None
    max_priority_fee_per_gas: _Count | None = None


class _EtlLog(_Checked):
    hex_bytes = frozenset({"transaction_hash", "block_hash", "address", "data", "topics"})

    log_index: _Count
    transaction_hash: _Hash
    transaction_index: _Count
    block_number: _Count
    block_hash: _Hash
    address: _Address
    data: str
    topics: Annotated[list[_Hash], msgspec.Meta(max_length=4)]


_ETL_ROWS: dict[str, type[_Checked]] = {"block": _EtlBlock, "transaction": _EtlTransaction, "log": _EtlLog}
# ethereum-etl's other row types: derived data replay does not read.
_ETL_TYPES = {*_ETL_ROWS, "receipt", "token_transfer", "trace", "geth_trace", "contract", "token"}


class _MevAction(_Checked, rename={"from_address": "from"}):
    hex_bytes = frozenset({"from_address", "input", "init"})
    hex_quantities = frozenset({"value", "gas"})

    from_address: _Address | None = None
    value: str | None = None
    gas: str | None = None
    input: str | None = None
    init: str | None = None


class _MevTrace(_Checked):
    hex_bytes = frozenset({"block_hash", "transaction_hash"})

    action: _MevAction
    block_hash: _Hash
    block_number: _Count
    subtraces: _Count
    trace_address: list[_Count]
    type: str
    transaction_hash: _Hash | None = None
    transaction_position: _Count | None = None


class _MevReceipt(_Checked):
    hex_bytes = frozenset({"transaction_hash", "to"})

    transaction_hash: _Hash
    transaction_index: _Count
    gas_used: _Count
    cumulative_gas_used: _Count
    effective_gas_price: _Count
    to: _Address | None = None


class _MevBlock(_Checked):
    """A mev-inspect block file as replay reads it."""

    hex_bytes = frozenset({"miner"})

    block_number: _Count
    miner: _Address
    traces: list[_MevTrace]
    receipts: list[_MevReceipt]
    base_fee_per_gas: _Count | None = None
    block_timestamp: _Count | None = None


_S = TypeVar("_S", bound=_Checked)


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
    """Load a file, a folder (recursively) or several of either into one recorded chain.

    Anything that is not a recording, or a row of one that does not fit its format, is an `InputError`
    naming the file (and line): a replay stores nothing rather than part of what it was given.
    """
    paths = [Path(path)] if isinstance(path, str | Path) else [Path(p) for p in path]
    files: dict[Path, tuple[Path, bool]] = {}  # each file once, and whether it was named rather than found
    for item in paths:
        if item.is_dir():
            for found in sorted(item.rglob("*.json")):
                files.setdefault(found.resolve(), (found, False))
        elif item.is_file():
            files[item.resolve()] = (item, True)
        elif item.exists():
            raise InputError(f"{item} is neither a regular file nor a folder")
        else:
            raise InputError(f"{item}: no such file or folder")
    chain = RecordedChain()
    etl_rows: list[tuple[str, dict[str, Any]]] = []
    mev_blocks: dict[int, tuple[Path, dict[str, Any]]] = {}
    for file, named in files.values():
        _load_file(chain, file, named, etl_rows, mev_blocks)
    if etl_rows:
        _add_etl(chain, etl_rows)
    for number in sorted(mev_blocks):
        file, doc = mev_blocks[number]
        _add_mev_block(chain, doc, str(file))
    _assemble_from_answers(chain)
    if not chain.blocks and not chain.answers:
        raise InputError(f"no recorded blocks or answers found in {', '.join(map(str, paths))}")
    return chain


def _load_file(
    chain: RecordedChain,
    file: Path,
    named: bool,
    etl_rows: list[tuple[str, dict[str, Any]]],
    mev_blocks: dict[int, tuple[Path, dict[str, Any]]],
) -> None:
    """One file by its content: a whole JSON document, or ethereum-etl JSON lines (one row per line).

    A JSON document of no recording format is skipped when found in a folder (folders hold other JSON too),
    an `InputError` when named.
    """
    try:
        text = file.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {file}: {exc.strerror or exc}") from exc
    try:
        doc = _decode(text)
    except ValueError as exc:
        if len(text.strip().splitlines()) < 2:
            raise InputError(f"{file} is not JSON: {exc}") from exc
        etl_rows.extend(_etl_lines(file, text))
        return
    if isinstance(doc, list) and _add_pairs(chain, doc):
        return
    if _SAMPLE_NAME.search(file.name) and b'"jsonrpc"' in text[:200]:
        _add_sample(chain, file.name, doc)
    elif isinstance(doc, dict) and "traces" in doc and "receipts" in doc:
        block = _checked(doc, _MevBlock, str(file), "mev-inspect block")
        # Two files may hold the same block; prefer the one named after it.
        if block.block_number not in mev_blocks or file.stem == str(block.block_number):
            mev_blocks[block.block_number] = (file, doc)
    elif isinstance(doc, dict) and doc.get("type") in _ETL_TYPES:
        etl_rows.extend(_etl_lines(file, text))
    elif named:
        raise InputError(
            f"{file} is not a recording (ethereum-etl JSON lines, a mev-inspect block, or recorded JSON-RPC "
            f"answers): a JSON {_kind(doc)}"
        )


def _decode(text: bytes) -> Any:
    """JSON with integers kept exact (wei values pass 2**64); ValueError for anything else, too deep included."""
    try:
        return msgspec.json.decode(text)
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc
    except msgspec.DecodeError as exc:
        raise ValueError(str(exc)) from exc


def _kind(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


def _etl_lines(file: Path, text: bytes) -> list[tuple[str, dict[str, Any]]]:
    """ethereum-etl rows with their `file:line`; every line a row, blocks, transactions and logs checked."""
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{file}:{number}"
        try:
            row = _decode(line)
        except ValueError as exc:
            raise InputError(f"{where}: not JSON: {exc}") from exc
        if not isinstance(row, dict) or not isinstance(row.get("type"), str):
            raise InputError(f'{where}: expected an ethereum-etl row (a JSON object with a "type"), '
                             f"got a JSON {_kind(row) if row != {} else 'object without a type'}")
        schema = _ETL_ROWS.get(row["type"])
        if schema is not None:
            _checked(row, schema, where, f"{row['type']} row")
            rows.append((where, row))
    return rows


def _checked(value: Any, schema: type[_S], where: str, what: str) -> _S:
    try:
        checked = msgspec.convert(value, schema)
    except msgspec.ValidationError as exc:
        raise InputError(f"{where}: {what}: {exc}") from exc
    fault = _hex_fault(checked, "$")
    if fault is not None:
        raise InputError(f"{where}: {what}: {fault}")
    return checked


def _hex_fault(checked: _Checked, path: str) -> str | None:
    """The first field, nested ones too, that should hold hex text and does not."""
    for name in checked.__struct_fields__:
        value = getattr(checked, name)
        pattern = _HEX_BYTES if name in checked.hex_bytes else _HEX_QUANTITY if name in checked.hex_quantities else None
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, _Checked):
                fault = _hex_fault(item, f"{path}.{name}")
                if fault is not None:
                    return fault
            elif isinstance(item, str) and pattern is not None and not pattern.fullmatch(item):
                return f"expected hex, got {item!r:.80} - at `{path}.{name}`"
    return None


def _hex(value: int | None) -> str | None:
    return None if value is None else hex(int(value))


def _add_etl(chain: RecordedChain, rows: list[tuple[str, dict[str, Any]]]) -> None:
    """Blocks with their transactions and logs; each row must fit the rows it names (else `InputError`)."""
    chain.kinds.add("ethereum-etl")
    blocks: dict[int, tuple[str, dict[str, Any]]] = {}
    txs: dict[str, tuple[str, dict[str, Any]]] = {}
    for where, row in rows:
        if row["type"] == "block":
            if row["number"] in blocks:
                raise InputError(f"{where}: block {row['number']} again (first at {blocks[row['number']][0]})")
            blocks[row["number"]] = (where, row)
    for where, row in rows:
        if row["type"] != "transaction":
            continue
        if row["hash"] in txs:
            raise InputError(f"{where}: transaction {row['hash']} again (first at {txs[row['hash']][0]})")
        block = blocks.get(row["block_number"])
        if block is None or block[1]["hash"] != row["block_hash"]:
            raise InputError(f"{where}: transaction {row['hash']} names block {row['block_number']} "
                             f"{row['block_hash']}, which the export does not hold")
        txs[row["hash"]] = (where, row)
    logs: dict[str, list[dict[str, Any]]] = {}
    log_places: dict[tuple[int, int], str] = {}
    for where, row in rows:
        if row["type"] != "log":
            continue
        tx = txs.get(row["transaction_hash"])
        if tx is None or any(tx[1][key] != row[key] for key in ("block_number", "block_hash", "transaction_index")):
            raise InputError(f"{where}: log {row['log_index']} names transaction {row['transaction_hash']} at "
                             f"index {row['transaction_index']} of block {row['block_number']}, which the export "
                             "does not hold")
        place = (row["block_number"], row["log_index"])
        if place in log_places:
            raise InputError(f"{where}: log {place[1]} of block {place[0]} again (first at {log_places[place]})")
        log_places[place] = where
        logs.setdefault(row["transaction_hash"], []).append(_etl_log(row))
    by_block: dict[int, list[dict[str, Any]]] = {number: [] for number in blocks}
    for _where, tx_row in txs.values():
        by_block[tx_row["block_number"]].append(tx_row)
    for number, (where, block_row) in sorted(blocks.items()):
        block_txs = sorted(by_block[number], key=lambda t: t["transaction_index"])
        count = block_row["transaction_count"]
        if [tx["transaction_index"] for tx in block_txs] != list(range(count)):
            raise InputError(f"{where}: block {number} has {count} transactions, the export holds {len(block_txs)} "
                             f"(indexes 0..{count - 1}, each once)")
        receipts = [_etl_receipt(tx, sorted(logs.get(tx["hash"], []), key=lambda lg: int(lg["logIndex"], 16)))
                    for tx in block_txs]
        chain.add_block(_etl_block(block_row, [_etl_transaction(tx) for tx in block_txs]), receipts)


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


def _add_mev_block(chain: RecordedChain, doc: dict[str, Any], where: str) -> None:
    """A mev-inspect block (already checked against `_MevBlock`): transactions rebuilt from each one's
    top-level trace and receipt summary.

    The recording has no parent hash (served as the zero hash) and mostly no timestamp (served as 0);
    it has no logs, so receipts are served without them and log queries are refused.
    """
    chain.kinds.add("mev-inspect")
    number = doc["block_number"]
    traces = doc["traces"]
    hashes = {t["block_hash"] for t in traces}
    if len(hashes) != 1:
        raise InputError(f"{where}: mev-inspect block {number}: traces name {len(hashes)} block hashes")
    if any(t["block_number"] != number for t in traces):
        raise InputError(f"{where}: mev-inspect block {number}: a trace names another block")
    block_hash = hashes.pop()
    top = {t["transaction_hash"]: t for t in traces if t["trace_address"] == [] and t.get("transaction_hash")}
    transactions, receipts = [], []
    for receipt in sorted(doc["receipts"], key=lambda r: r["transaction_index"]):
        tx_hash = receipt["transaction_hash"]
        trace = top.get(tx_hash)
        if trace is None:
            raise InputError(f"{where}: mev-inspect block {number}: no top-level trace for {tx_hash}")
        action = trace["action"]
        if action.get("from") is None:
            raise InputError(f"{where}: mev-inspect block {number}: the top-level trace of {tx_hash} has no sender")
        common = {
            "blockHash": block_hash, "blockNumber": _hex(number), "transactionIndex": _hex(receipt["transaction_index"])
        }
        transactions.append({
            "hash": tx_hash, **common, "from": action["from"].lower(), "to": receipt.get("to"),
            "value": action.get("value") or "0x0", "input": action.get("input") or action.get("init") or "0x",
            "gas": action.get("gas") or "0x0", "gasPrice": _hex(receipt["effective_gas_price"]),
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


def _add_pairs(chain: RecordedChain, pairs: list[Any]) -> int:
    """Recorded `{"request", "response"}` pairs; how many the list held."""
    found = 0
    for pair in pairs:
        request = pair.get("request") if isinstance(pair, dict) else None
        if isinstance(request, dict) and isinstance(request.get("method"), str) and "response" in pair:
            chain.kinds.add("rpc")
            chain.answers.setdefault(request_key(request["method"], request.get("params", [])), pair["response"])
            found += 1
    return found


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
