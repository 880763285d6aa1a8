"""Pool state kept from events alone: V2 reserves from `Sync`, V3 price and balances from its events.

A V2 pair announces its reserves after every change, so one `Sync` is the whole truth. A V3
pool never does: its price and active liquidity come with every `Swap`, but its balances are
only known by summing every flow since `Initialize` (Mint in, Swap either way, Collect out;
Burn only moves tokens to the owner's claim). Without the pool's first event the balances
are unknown and its TVL is reported as unknown rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from onchain.pricing.types import PoolQuote

Q96 = 2**96


@dataclass(frozen=True, slots=True)
class TokenSpec:
    coin: str
    symbol: str
    decimals: int


@dataclass(frozen=True, slots=True)
class PoolSpec:
    """What is known of a pool before any event: its tokens (coin ids), protocol and fee."""

    id: str
    chain: str
    address: str
    protocol: str
    family: str
    token0: str
    token1: str
    fee: float


@dataclass(slots=True)
class PoolState:
    spec: PoolSpec
    reserve0: int = 0
    reserve1: int = 0
    reserves_known: bool = False
    sqrt_price_x96: int = 0
    liquidity: int = 0
    tick: int | None = None
    block: int = 0
    timestamp: int = 0
    updated: bool = False

    def apply(self, name: str, args: dict[str, Any], block: int, timestamp: int) -> tuple[int, int] | None:
        """Fold one event in; returns the swap's (token0 moved, token1 moved) raw amounts for a swap."""
        self.block, self.timestamp, self.updated = block, timestamp, True
        if self.spec.family == "uniswap_v3":
            return self._apply_v3(name, args)
        if name == "Sync":
            self.reserve0, self.reserve1, self.reserves_known = int(args["reserve0"]), int(args["reserve1"]), True
        elif name == "Swap":
            moved0 = int(args["amount0In"]) + int(args["amount0Out"])
            moved1 = int(args["amount1In"]) + int(args["amount1Out"])
            return moved0, moved1
        return None

    def _apply_v3(self, name: str, args: dict[str, Any]) -> tuple[int, int] | None:
        if name == "Initialize":
            self.sqrt_price_x96, self.tick = int(args["sqrtPriceX96"]), int(args["tick"])
            self.reserve0 = self.reserve1 = 0
            self.reserves_known = True
        elif name == "Swap":
            amount0, amount1 = int(args["amount0"]), int(args["amount1"])
            self.reserve0 += amount0
            self.reserve1 += amount1
            self.sqrt_price_x96, self.liquidity = int(args["sqrtPriceX96"]), int(args["liquidity"])
            self.tick = int(args["tick"])
            return abs(amount0), abs(amount1)
        elif name == "Mint":
            self.reserve0 += int(args["amount0"])
            self.reserve1 += int(args["amount1"])
            if self._in_range(args):
                self.liquidity += int(args["amount"])
        elif name == "Burn":
            if self._in_range(args):
                self.liquidity -= int(args["amount"])
        elif name == "Collect":
            self.reserve0 -= int(args["amount0"])
            self.reserve1 -= int(args["amount1"])
        elif name == "Flash":
            self.reserve0 += int(args.get("paid0", 0))
            self.reserve1 += int(args.get("paid1", 0))
        return None

    def _in_range(self, args: dict[str, Any]) -> bool:
        if self.tick is None or "tickLower" not in args:
            return False
        return int(args["tickLower"]) <= self.tick < int(args["tickUpper"])

    def amounts(self, tokens: dict[str, TokenSpec]) -> tuple[float, float] | None:
        """Reserves in whole tokens, or None while unknown."""
        decimals = self._decimals(tokens)
        if decimals is None or not self.reserves_known:
            return None
        return self.reserve0 / 10.0**decimals[0], self.reserve1 / 10.0**decimals[1]

    def mid_price(self, tokens: dict[str, TokenSpec]) -> float | None:
        """token1 per token0 in whole units."""
        quote = self.quote(tokens)
        if quote is None:
            return None
        return quote.amount1 / quote.amount0

    def quote(self, tokens: dict[str, TokenSpec]) -> PoolQuote | None:
        """The pool as the price engine sees it (V3: virtual reserves of the active range)."""
        decimals = self._decimals(tokens)
        if decimals is None:
            return None
        if self.spec.family == "uniswap_v3":
            if self.sqrt_price_x96 <= 0 or self.liquidity <= 0:
                return None
            sqrt_price = self.sqrt_price_x96 / Q96
            amount0 = self.liquidity / sqrt_price / 10.0**decimals[0]
            amount1 = self.liquidity * sqrt_price / 10.0**decimals[1]
        else:
            if self.reserve0 <= 0 or self.reserve1 <= 0:
                return None
            amount0, amount1 = self.reserve0 / 10.0**decimals[0], self.reserve1 / 10.0**decimals[1]
        return PoolQuote(self.spec.id, self.spec.token0, self.spec.token1, amount0, amount1, self.block, self.timestamp)

    def _decimals(self, tokens: dict[str, TokenSpec]) -> tuple[int, int] | None:
        first, second = tokens.get(self.spec.token0), tokens.get(self.spec.token1)
        if first is None or second is None:
            return None
        return first.decimals, second.decimals
