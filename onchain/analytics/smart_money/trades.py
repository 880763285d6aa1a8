"""Wallet trades from decoded pool swaps, and the USD price of every coin at every block.

A trade is one swap seen from the wallet that received its output: what it gave (coin and whole
amount) and what it got. Routers call pools on a user's behalf, so the wallet is the swap's
recipient, not its sender; a recipient that is itself a pool is a hop inside a multi-pool route and
is attributed to the transaction's sender when the caller knows it, else dropped.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from onchain.domain.chain import Block
from onchain.domain.events import Event
from onchain.metrics.state import MarketState


@dataclass(frozen=True, slots=True)
class PoolTokens:
    """A pool's two coins (`chain:address`) and their decimals."""

    token0: str
    token1: str
    decimals0: int
    decimals1: int


@dataclass(frozen=True, slots=True)
class Trade:
    wallet: str
    block_number: int
    transaction_hash: str
    log_index: int
    pool: str
    coin_in: str
    amount_in: float
    coin_out: str
    amount_out: float


def trades_from_events(
    events: Iterable[Event],
    pools: Mapping[str, PoolTokens],
    tx_senders: Mapping[str, str] | None = None,
) -> list[Trade]:
    """Trades of Uniswap V2/V3 swaps on pools in `pools` (keyed by `chain:address`), in chain order."""
    trades = []
    for event in events:
        pool_id = f"{event.chain}:{event.address}"
        tokens = pools.get(pool_id)
        if tokens is None:
            continue
        flows = _flows(event)
        if flows is None:
            continue
        moved0, moved1, recipient = flows
        wallet: str | None = recipient
        if f"{event.chain}:{recipient}" in pools:
            wallet = (tx_senders or {}).get(event.transaction_hash)
        if wallet is None or moved0 == 0 or moved1 == 0 or (moved0 > 0) == (moved1 > 0):
            continue
        amount0, amount1 = abs(moved0) / 10.0**tokens.decimals0, abs(moved1) / 10.0**tokens.decimals1
        if moved0 > 0:
            trade = Trade(wallet, event.block_number, event.transaction_hash, event.log_index, pool_id,
                          tokens.token0, amount0, tokens.token1, amount1)
        else:
            trade = Trade(wallet, event.block_number, event.transaction_hash, event.log_index, pool_id,
                          tokens.token1, amount1, tokens.token0, amount0)
        trades.append(trade)
    trades.sort(key=lambda t: (t.block_number, t.log_index))
    return trades


def _flows(event: Event) -> tuple[int, int, str] | None:
    """(token0 into the pool, token1 into the pool, recipient); negative means out of the pool."""
    args = event.args
    if event.kind == "uniswap_v2.Swap":
        moved0 = int(args["amount0In"]) - int(args["amount0Out"])
        moved1 = int(args["amount1In"]) - int(args["amount1Out"])
        return moved0, moved1, str(args["to"])
    if event.kind == "uniswap_v3.Swap":
        return int(args["amount0"]), int(args["amount1"]), str(args["recipient"])
    return None


@dataclass(slots=True)
class PriceTape:
    """USD prices by coin as they stood after each block: `at(coin, block)` is the last one at or before."""

    _blocks: dict[str, list[int]] = field(default_factory=dict)
    _prices: dict[str, list[float]] = field(default_factory=dict)

    def record(self, block: int, prices: Mapping[str, float]) -> None:
        """Prices after `block`; blocks must be recorded in ascending order."""
        for coin, price in prices.items():
            blocks = self._blocks.setdefault(coin, [])
            values = self._prices.setdefault(coin, [])
            if blocks and blocks[-1] == block:
                values[-1] = price
            elif not blocks or blocks[-1] < block:
                blocks.append(block)
                values.append(price)
            else:
                raise ValueError(f"price of {coin} at block {block} recorded after block {blocks[-1]}")

    def at(self, coin: str, block: int) -> float | None:
        blocks = self._blocks.get(coin)
        if not blocks:
            return None
        index = bisect.bisect_right(blocks, block) - 1
        return self._prices[coin][index] if index >= 0 else None

    def coins(self) -> list[str]:
        return sorted(self._blocks)

    def value(self, coin: str, amount: float, block: int) -> float | None:
        price = self.at(coin, block)
        return None if price is None else amount * price


def fold_prices(state: MarketState, chain: str, blocks: Sequence[Block], events: Iterable[Event]) -> PriceTape:
    """Fold blocks through the market state (pools and tokens registered beforehand) and record its prices."""
    by_block: dict[int, list[Event]] = defaultdict(list)
    for event in events:
        by_block[event.block_number].append(event)
    tape = PriceTape()
    for block in blocks:
        state.apply(chain, block, by_block.get(block.number, []))
        tape.record(block.number, {coin: price.price_usd for coin, price in state.prices.items()})
    return tape


def pool_tokens(state: MarketState) -> dict[str, PoolTokens]:
    """Pools of the market state whose two tokens' decimals are known."""
    out = {}
    for pool_id, pool in state.pools.items():
        first, second = state.tokens.get(pool.spec.token0), state.tokens.get(pool.spec.token1)
        if first is not None and second is not None:
            out[pool_id] = PoolTokens(first.coin, second.coin, first.decimals, second.decimals)
    return out
