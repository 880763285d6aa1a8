"""The two recorded mainnet blocks (ethereum-etl 17173049-50) folded into a market, and a third block built
like the real ones in which the Uniswap V2 WETH/USDT pair is drained: its own Sync log with reserves cut."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from onchain.domain.chain import Block, Log
from onchain.domain.events import Event
from onchain.metrics.state import BlockResult, MarketState
from onchain.protocols.registry import Decoder
from tests.unit.metrics.realdata import SYNC, etl_blocks, market_for

CHAIN = "ethereum"
WETH_USDT = "0x0d4a11d5eeaac28ec3f61d100daf4d40471f1852"
WETH_USDT_ID = f"{CHAIN}:{WETH_USDT}"


@dataclass
class Replayed:
    state: MarketState
    decoder: Decoder
    blocks: list[Block] = field(default_factory=list)
    results: list[BlockResult] = field(default_factory=list)
    events: list[list[Event]] = field(default_factory=list)
    tvl: dict[str, list[float]] = field(default_factory=dict)  # per protocol, after each block

    def apply(self, block: Block, logs: list[Log]) -> BlockResult:
        events = self.decoder.decode(logs).events
        result = self.state.apply(CHAIN, block, events)
        self.blocks.append(block)
        self.results.append(result)
        self.events.append(events)
        for slug in self.state.protocol_slugs():
            self.tvl.setdefault(slug, []).append(self.state.protocol_summary(slug)["tvl"])
        return result


def replay(chaindata: Path) -> Replayed:
    state, decoder = market_for()
    replayed = Replayed(state, decoder)
    for block, logs in etl_blocks(chaindata):
        replayed.apply(block, logs)
    return replayed


def drain(replayed: Replayed, keep: float, pool: str = WETH_USDT) -> BlockResult:
    """The next block: `pool` logs a Sync with each reserve at `keep` of what it was (12 s later)."""
    state = replayed.state.pools[f"{CHAIN}:{pool}"]
    last = replayed.blocks[-1]
    number = last.number + 1
    block_hash = "0x" + f"{number:064x}"
    block = Block(number, block_hash, last.hash, last.timestamp + 12)
    reserves = (int(state.reserve0 * keep), int(state.reserve1 * keep))
    data = "0x" + "".join(f"{value:064x}" for value in reserves)
    log = Log(number, block_hash, "0x" + "ab" * 32, 0, 0, pool, (SYNC,), data)
    return replayed.apply(block, [log])
