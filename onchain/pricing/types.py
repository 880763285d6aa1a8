"""Records the price engine takes and gives: pool quotes and oracle answers in, prices out.

Amounts here are whole-token floats (raw integer / 10**decimals): USD figures are floats
anyway, and every input was already scaled by its token's decimals once, at the edge of
the engine, so no caller has to remember which side of a ratio to scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Quote = Literal["USD", "ETH"]


@dataclass(frozen=True, slots=True)
class PoolQuote:
    """One pool's two sides as the price engine sees them.

    For constant-product pools the amounts are the reserves; for concentrated-liquidity pools
    they are the virtual reserves at the current price (L/sqrtP, L*sqrtP), which give the same
    ratio and measure the depth that price impact actually meets.
    """

    pool: str
    token0: str
    token1: str
    amount0: float
    amount1: float
    block: int
    timestamp: int

    def other(self, token: str) -> tuple[str, float, float]:
        """(other token, amount of `token`, amount of the other) for a token of this pool."""
        if token == self.token0:
            return self.token1, self.amount0, self.amount1
        return self.token0, self.amount1, self.amount0


@dataclass(frozen=True, slots=True)
class OracleAnswer:
    """The latest answer of one price feed, already divided by the feed's decimals."""

    feed: str
    coin: str
    quote: Quote
    value: float
    updated_at: int
    block: int
    heartbeat: int = 3600


@dataclass(frozen=True, slots=True)
class Price:
    """A USD price with its provenance.

    `source` is `chainlink`, `dex` or `peg`; `sources` names what was used (the feed, or the
    pools that survived outlier rejection, deepest first). `timestamp` is the chain time of the
    newest input, `block` the block the price is as of.
    """

    coin: str
    price_usd: float
    confidence: float
    source: str
    sources: tuple[str, ...]
    timestamp: int
    block: int
    stale: bool = False
    depth_usd: float = 0.0
