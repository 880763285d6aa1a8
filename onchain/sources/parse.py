"""Node JSON (hex quantities) to domain records, checked for shape and for agreement with the block.

Pure functions. Whatever a node sends, the result is either correct records (hex lower-cased,
quantities as ints) or a `MalformedResponseError` (wrong shape) / `InconsistentDataError`
(answers that contradict each other, e.g. a log whose block hash is not its block's).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields, replace
from typing import Annotated, Any, cast

import msgspec

from onchain.domain.chain import Block, BlockBundle, Log, Transaction
from onchain.errors import InconsistentDataError, MalformedResponseError

_QUANTITY = re.compile(r"0[xX][0-9a-fA-F]+")
_DATA = re.compile(r"0[xX][0-9a-fA-F]*")


_LOG_FIELDS = (
    "block_number",
    "block_hash",
    "transaction_hash",
    "transaction_index",
    "log_index",
    "address",
    "topics",
    "data",
    "removed",
)


class _LogBuilder:
    """Builds a `Log` without the frozen dataclass `__init__` (a third of the fast path's cost per log).

    Same slots as `Log`, plain attribute writes, then the instance becomes a `Log` (CPython allows
    `__class__` assignment between identical slot layouts only). Only for logs already checked.
    """

    __slots__ = _LOG_FIELDS

    def __init__(
        self,
        block_number: int,
        block_hash: str,
        transaction_hash: str,
        transaction_index: int,
        log_index: int,
        address: str,
        topics: tuple[str, ...],
        data: str,
    ) -> None:
        self.block_number = block_number
        self.block_hash = block_hash
        self.transaction_hash = transaction_hash
        self.transaction_index = transaction_index
        self.log_index = log_index
        self.address = address
        self.topics = topics
        self.data = data
        self.removed = False
        self.__class__ = Log  # type: ignore[assignment]


def _choose_log_builder() -> Callable[..., Log]:
    """The fast builder while `Log` still has exactly these fields, else `Log` itself."""
    if tuple(f.name for f in fields(Log)) != _LOG_FIELDS or tuple(Log.__slots__) != _LOG_FIELDS:
        return Log
    return cast(Callable[..., Log], _LogBuilder)


_build_log = _choose_log_builder()


def quantity(raw: Mapping[str, Any], key: str) -> int:
    """A hex quantity such as `"0x1b4"` (ints are accepted: some trace answers carry plain numbers)."""
    value = raw.get(key)
    if isinstance(value, str) and _QUANTITY.fullmatch(value):
        return int(value, 16)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise MalformedResponseError(f"{key}: expected a hex quantity, got {value!r:.80}")


def optional_quantity(raw: Mapping[str, Any], key: str) -> int | None:
    return None if raw.get(key) is None else quantity(raw, key)


def _hex_value(value: Any, key: str, size: int | None) -> str:
    if not isinstance(value, str) or len(value) % 2 or not _DATA.fullmatch(value):
        raise MalformedResponseError(f"{key}: expected whole hex bytes, got {value!r:.80}")
    if size is not None and len(value) != 2 + 2 * size:
        raise MalformedResponseError(f"{key}: expected {size} bytes, got {(len(value) - 2) // 2}")
    return value.lower()


def hex_data(raw: Mapping[str, Any], key: str, size: int | None = None) -> str:
    """Hex bytes, lower-cased; `size` in bytes when the field has a fixed width (hash 32, address 20)."""
    return _hex_value(raw.get(key), key, size)


def _hash(raw: Mapping[str, Any], key: str) -> str:
    return hex_data(raw, key, 32)


def _address(raw: Mapping[str, Any], key: str) -> str:
    return hex_data(raw, key, 20)


def _object(raw: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise MalformedResponseError(f"{what}: expected a JSON object, got {type(raw).__name__}")
    return raw


def _list(raw: Any, what: str) -> Sequence[Any]:
    if not isinstance(raw, list):
        raise MalformedResponseError(f"{what}: expected a JSON list, got {type(raw).__name__}")
    return raw


def parse_block(raw: Any) -> tuple[Block, tuple[Transaction, ...]]:
    """An `eth_getBlockByNumber`/`ByHash` result. Transactions are parsed when the block holds full objects."""
    if raw is None:
        raise MalformedResponseError("block: the node returned null (unknown block)")
    obj = _object(raw, "block")
    raw_txs = _list(obj.get("transactions", []), "block.transactions")
    miner_key = "miner" if "miner" in obj else "author"
    block = Block(
        number=quantity(obj, "number"),
        hash=_hash(obj, "hash"),
        parent_hash=_hash(obj, "parentHash"),
        timestamp=quantity(obj, "timestamp"),
        miner=_address(obj, miner_key) if obj.get(miner_key) is not None else "",
        base_fee_per_gas=optional_quantity(obj, "baseFeePerGas"),
        gas_used=quantity(obj, "gasUsed"),
        transaction_count=len(raw_txs),
    )
    if raw_txs and all(isinstance(t, str) for t in raw_txs):
        return block, ()
    txs = tuple(parse_transaction(t, block) for t in raw_txs)
    for position, tx in enumerate(txs):
        if tx.transaction_index != position:
            raise InconsistentDataError(f"block {block.number}: transaction {tx.hash} at index "
                                        f"{tx.transaction_index}, listed at {position}")
    return block, txs


def _check_block_ref(obj: Mapping[str, Any], block: Block, what: str) -> None:
    """A record's own blockHash/blockNumber, where present, must be its block's."""
    if obj.get("blockHash") is not None and _hash(obj, "blockHash") != block.hash:
        raise InconsistentDataError(f"{what}: blockHash {obj['blockHash']} is not block {block.number}'s {block.hash}")
    if obj.get("blockNumber") is not None and quantity(obj, "blockNumber") != block.number:
        raise InconsistentDataError(f"{what}: blockNumber {obj['blockNumber']} is not {block.number}")


def parse_transaction(raw: Any, block: Block) -> Transaction:
    obj = _object(raw, "transaction")
    tx_hash = _hash(obj, "hash")
    _check_block_ref(obj, block, f"transaction {tx_hash}")
    return Transaction(
        hash=tx_hash,
        block_number=block.number,
        transaction_index=quantity(obj, "transactionIndex"),
        from_address=_address(obj, "from"),
        to_address=_address(obj, "to") if obj.get("to") is not None else None,
        value=quantity(obj, "value"),
        gas_price=optional_quantity(obj, "gasPrice"),
        input=hex_data(obj, "input"),
    )


def parse_log(raw: Any) -> Log:
    """One log as `eth_getLogs` and receipts carry it (block fields required, so it can be placed)."""
    obj = _object(raw, "log")
    topics = _list(obj.get("topics"), "log.topics")
    if len(topics) > 4:
        raise MalformedResponseError(f"log: {len(topics)} topics, at most 4 exist")
    removed = obj.get("removed", False)
    if not isinstance(removed, bool):
        raise MalformedResponseError(f"log.removed: expected a boolean, got {removed!r:.40}")
    return Log(
        block_number=quantity(obj, "blockNumber"),
        block_hash=_hash(obj, "blockHash"),
        transaction_hash=_hash(obj, "transactionHash"),
        transaction_index=quantity(obj, "transactionIndex"),
        log_index=quantity(obj, "logIndex"),
        address=_address(obj, "address"),
        topics=tuple(_hex_value(t, "topic", 32) for t in topics),
        data=hex_data(obj, "data"),
        removed=removed,
    )


def parse_logs(raw: Any, block: Block) -> tuple[Log, ...]:
    """All logs of one block, ordered by log index; each must name this block, no index twice."""
    items = _list(raw, "logs")
    fast = _regular_logs(items, block)
    return fast if fast is not None else _checked_logs(items, block)


def _checked_logs(items: Sequence[Any], block: Block) -> tuple[Log, ...]:
    """The general path: every field checked on its own, so any fault is named precisely."""
    logs = sorted((parse_log(item) for item in items), key=lambda log: log.log_index)
    seen: set[int] = set()
    for log in logs:
        if log.block_hash != block.hash or log.block_number != block.number:
            raise InconsistentDataError(
                f"log {log.log_index} names block {log.block_number} {log.block_hash}, "
                f"expected {block.number} {block.hash}"
            )
        if log.log_index in seen:
            raise InconsistentDataError(f"block {block.number}: log index {log.log_index} appears twice")
        seen.add(log.log_index)
    return tuple(log for log in logs if not log.removed)


_LOWER_HEX_DIGITS = b"0123456789abcdef"
_Hash = Annotated[str, msgspec.Meta(min_length=66, max_length=66)]
_Quantity = Annotated[str, msgspec.Meta(min_length=3)]


class _WireLog(msgspec.Struct, rename="camel", gc=False):
    """A log's fields as nodes send them; msgspec checks presence, types and widths in C."""

    address: Annotated[str, msgspec.Meta(min_length=42, max_length=42)]
    topics: Annotated[list[_Hash], msgspec.Meta(max_length=4)]
    data: str
    block_number: str
    block_hash: str
    transaction_hash: _Hash
    transaction_index: _Quantity
    log_index: _Quantity
    removed: bool = False


_WIRE_LOGS = list[_WireLog]


def _regular_logs(items: Sequence[Any], block: Block) -> tuple[Log, ...] | None:
    """The common case checked by a few C calls per block, or None to let `_checked_logs` judge.

    A node normally sends lower-case hex, this block's hash and number verbatim, and logs in ascending
    index order. msgspec converts the answer to `_WireLog`s, checking fields, types and widths. Then
    the hex fields of all logs (transaction hashes, indexes, addresses, topics, data), joined by commas,
    shrink to ",x" per field once the lower-case hex digits are deleted, and ",0x" occurs once per field:
    together that proves each is "0x" followed by hex digits only. Anything else (upper case, ints, a
    missing field, disorder, another block) returns None, and the general path then accepts the log or
    raises the same typed error it always did.
    """
    try:
        wire = msgspec.convert(items, _WIRE_LOGS)
    except msgspec.ValidationError:
        return None
    count = len(wire)
    block_hash = block.hash
    if (
        [log.block_hash for log in wire].count(block_hash) != count
        or [log.block_number for log in wire].count(hex(block.number)) != count
    ):
        return None
    tx_hashes = [log.transaction_hash for log in wire]
    tx_indexes = [log.transaction_index for log in wire]
    log_indexes = [log.log_index for log in wire]
    addresses = [log.address for log in wire]
    datas = [log.data for log in wire]
    topic_lists = [log.topics for log in wire]
    fields = ["", *tx_hashes, *tx_indexes, *log_indexes, *addresses, *datas]
    for topics in topic_lists:
        fields += topics
    joined = ",".join(fields)
    try:
        skeleton = joined.encode("ascii").translate(None, _LOWER_HEX_DIGITS)
    except UnicodeEncodeError:
        return None
    width = len(fields) - 1
    if skeleton != b",x" * width or joined.count(",0x") != width or any(n & 1 for n in set(map(len, datas))):
        return None
    positions = [int(index, 16) for index in log_indexes]
    if positions != sorted(set(positions)):
        return None
    number = block.number
    build = _build_log
    return tuple(
        build(number, block_hash, log.transaction_hash, int(log.transaction_index, 16), position, log.address,
              tuple(log.topics), log.data)
        for log, position in zip(wire, positions, strict=True)
        if not log.removed
    )


Outcomes = dict[str, dict[str, int | None]]


def parse_receipts(raw: Any, block: Block, *, with_logs: bool = True) -> tuple[Outcomes, tuple[Log, ...]]:
    """`eth_getBlockReceipts`: per-transaction outcome (gas used, status, effective gas price) and the logs."""
    outcomes: Outcomes = {}
    raw_logs: list[Any] = []
    for item in _list(raw, "receipts"):
        obj = _object(item, "receipt")
        tx_hash = _hash(obj, "transactionHash")
        _check_block_ref(obj, block, f"receipt {tx_hash}")
        outcomes[tx_hash] = {
            "gas_used": quantity(obj, "gasUsed"),
            "status": optional_quantity(obj, "status"),
            "effective_gas_price": optional_quantity(obj, "effectiveGasPrice"),
        }
        if with_logs:
            raw_logs.extend(_list(obj.get("logs"), f"receipt {tx_hash} logs"))
    return outcomes, parse_logs(raw_logs, block) if with_logs else ()


def merge_receipts(
    transactions: tuple[Transaction, ...], outcomes: Mapping[str, Mapping[str, int | None]]
) -> tuple[Transaction, ...]:
    """Transactions with their receipt's gas used and status; both sides must list the same hashes."""
    if len(outcomes) != len(transactions) or any(tx.hash not in outcomes for tx in transactions):
        raise InconsistentDataError(f"{len(outcomes)} receipts for {len(transactions)} transactions, hashes differ")
    merged = []
    for tx in transactions:
        outcome = outcomes[tx.hash]
        price = outcome.get("effective_gas_price")
        merged.append(replace(tx, gas_used=outcome["gas_used"], status=outcome["status"],
                              gas_price=price if price is not None else tx.gas_price))
    return tuple(merged)


def parse_traces(raw: Any, block: Block) -> tuple[dict[str, Any], ...]:
    """`trace_block`: kept as the node's objects (hex lower-cased), after checking they are this block's."""
    traces = []
    for item in _list(raw, "traces"):
        obj = _object(item, "trace")
        _check_block_ref(obj, block, "trace")
        if not isinstance(obj.get("action"), Mapping) or not isinstance(obj.get("type"), str):
            raise MalformedResponseError("trace: missing action or type")
        traces.append(_lower_hex(obj))
    return tuple(traces)


def _lower_hex(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower() if value.startswith("0x") else value
    if isinstance(value, Mapping):
        return {k: _lower_hex(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_hex(v) for v in value]
    return value


def check_logs_match_transactions(logs: tuple[Log, ...], transactions: tuple[Transaction, ...]) -> None:
    """Each log's transaction must be in the block at the index the log claims."""
    if not transactions:
        return
    index_of = {tx.hash: tx.transaction_index for tx in transactions}
    for log in logs:
        if index_of.get(log.transaction_hash) != log.transaction_index:
            raise InconsistentDataError(
                f"log {log.log_index} names transaction {log.transaction_hash} at index "
                f"{log.transaction_index}, which the block does not hold"
            )


def build_bundle(
    chain: str,
    raw_block: Any,
    *,
    receipts: Any = None,
    logs: Any = None,
    traces: Any = None,
    receipts_have_logs: bool = True,
) -> BlockBundle:
    """One bundle from the raw answers about one block; logs come from receipts or from `logs`."""
    block, transactions = parse_block(raw_block)
    parsed_logs: tuple[Log, ...] = ()
    if receipts is not None:
        outcomes, parsed_logs = parse_receipts(receipts, block, with_logs=receipts_have_logs)
        if transactions:
            transactions = merge_receipts(transactions, outcomes)
    if logs is not None:
        parsed_logs = parse_logs(logs, block)
    check_logs_match_transactions(parsed_logs, transactions)
    return BlockBundle(
        chain=chain,
        block=block,
        transactions=transactions,
        logs=parsed_logs,
        traces=parse_traces(traces, block) if traces is not None else None,
    )
