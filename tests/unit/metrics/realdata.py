"""Recorded mainnet logs turned into blocks and decoded events with the project's own decoder."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from onchain.domain.chain import Block, Log
from onchain.domain.events import Event
from onchain.metrics.pools import PoolSpec, TokenSpec
from onchain.metrics.service import pool_spec
from onchain.metrics.state import MarketState
from onchain.protocols.base import PoolDirectory, PoolInfo
from onchain.protocols.registry import Decoder
from onchain.protocols.tokens import TokenDirectory

ETL = "ethereum-etl-17173049"
DEMETER = "demeter-fetch"
USDC_WETH_005 = "0x88e6a0c2ddd26feeb64f039a2c41296fcb3f5640"
SYNC = "0x1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1"
V2_SWAP = "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822"
V3_SWAP = "0xc42079f94a6350d7e6235f29174924f928cc2ac818eb64fed8004e115fbcca67"


def etl_rows(chaindata: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (chaindata / ETL / name).read_text().splitlines() if line.strip()]


def etl_blocks(chaindata: Path) -> Iterator[tuple[Block, list[Log]]]:
    """The two recorded blocks with their logs, in order."""
    by_block: dict[int, list[Log]] = defaultdict(list)
    for row in etl_rows(chaindata, "logs.json"):
        by_block[row["block_number"]].append(
            Log(row["block_number"], row["block_hash"], row["transaction_hash"], row["transaction_index"],
                row["log_index"], row["address"], tuple(row["topics"]), row["data"]))
    for row in sorted(etl_rows(chaindata, "blocks.json"), key=lambda r: int(r["number"])):
        yield Block(row["number"], row["hash"], row["parent_hash"], row["timestamp"]), by_block[row["number"]]


def demeter_blocks(chaindata: Path, pool: str = USDC_WETH_005) -> Iterator[tuple[Block, list[Log]]]:
    """A day of one pool's logs, grouped into the blocks that have them (timestamps are UTC)."""
    path = chaindata / DEMETER / f"ethereum-{pool}-2024-01-05.raw.csv"
    grouped: dict[int, tuple[int, list[Log]]] = {}
    with path.open() as handle:
        for row in csv.DictReader(handle):
            number = int(row["block_number"])
            when = int(datetime.strptime(row["block_timestamp"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp())
            topics = tuple(json.loads(row["topics"].replace("'", '"')))
            log = Log(number, "0x" + "00" * 32, row["transaction_hash"], int(row["transaction_index"]),
                      int(row["log_index"]), pool, topics, row["data"])
            grouped.setdefault(number, (when, []))[1].append(log)
    for number in sorted(grouped):
        when, logs = grouped[number]
        yield Block(number, "0x" + "00" * 32, "0x" + "00" * 32, when), logs


def market_for(chain: str = "ethereum") -> tuple[MarketState, Decoder]:
    """A state knowing the shipped pools and tokens of `chain`, and a decoder over the same pools."""
    directory = PoolDirectory.default(chain)
    tokens = TokenDirectory.default()
    state = MarketState()
    for info in directory:
        state.add_pool(_spec(info))
        for address in (info.token0, info.token1):
            token = tokens.get(chain, address)
            if token is not None:
                state.add_token(TokenSpec(f"{chain}:{address}", token.symbol, token.decimals))
    return state, Decoder(chain, directory)


def _spec(info: PoolInfo) -> PoolSpec:
    return pool_spec(info.chain, info.family, info.protocol, info.address, info.token0, info.token1, info.fee)


def fold(state: MarketState, decoder: Decoder, blocks: Iterator[tuple[Block, list[Log]]]) -> list[Event]:
    """Decode and apply every block; returns all decoded events."""
    seen: list[Event] = []
    for block, logs in blocks:
        events = decoder.decode(logs).events
        state.apply(decoder.chain, block, events)
        seen.extend(events)
    return seen


def word(data: str, index: int, signed: bool = False) -> int:
    value = int(data[2 + 64 * index: 2 + 64 * (index + 1)], 16)
    return value - (1 << 256) if signed and value >= 1 << 255 else value
