"""Just-in-time liquidity on Uniswap V3 (and forks), from one block's decoded events. Pure.

A JIT provider adds a narrow position to a pool right before others' swaps and removes it right
after, so the swaps' fees go mostly to it. In the logs: a `Mint` then, in other transactions, one or
more `Swap`s in the same pool, then a `Burn` of the same position (pool, owner, tick range) of the
same liquidity, all in one block, the Mint and the Burn in different transactions.

The searcher is the position's owner (the address that minted and burned it). The fees the swaps
paid leave the position by `Collect`, which is not read here, so the finding states the token flows
the logs do show: what the Mint put in and the Burn took out, per pool token, and their difference
`net_amounts` (Burn minus Mint: the position's inventory change from trading against the swaps, fees
excluded). That difference is the finding's profit as reported; its USD value is added at the
service edge when both tokens are priced.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from onchain.analytics.mev.swaps import Swap
from onchain.domain.events import Event

MINT, BURN, SWAP = "uniswap_v3.Mint", "uniswap_v3.Burn", "uniswap_v3.Swap"


@dataclass(frozen=True, slots=True)
class JitLiquidity:
    searcher: str
    pool: str
    mint_transaction: str
    burn_transaction: str
    victim_transactions: tuple[str, ...]
    tick_lower: int
    tick_upper: int
    liquidity: int
    token0: str | None  # the pool's tokens as the victims' transfers reveal them (None when none does)
    token1: str | None
    mint_amounts: tuple[int, int]
    burn_amounts: tuple[int, int]

    @property
    def net_amounts(self) -> tuple[int, int]:
        return self.burn_amounts[0] - self.mint_amounts[0], self.burn_amounts[1] - self.mint_amounts[1]

    def to_json(self) -> dict[str, Any]:
        """The finding as stored, served and sent on the `mev` channel's `jit` list."""
        return {
            "searcher": self.searcher,
            "mint_tx": self.mint_transaction,
            "burn_tx": self.burn_transaction,
            "victim_txs": list(self.victim_transactions),
            "pool": self.pool,
            "tick_lower": self.tick_lower,
            "tick_upper": self.tick_upper,
            "liquidity": self.liquidity,
            "token0": self.token0,
            "token1": self.token1,
            "mint_amounts": list(self.mint_amounts),
            "burn_amounts": list(self.burn_amounts),
            "net_amounts": list(self.net_amounts),
        }


def get_jit(events: Iterable[Event], swaps: Sequence[Swap] = ()) -> list[JitLiquidity]:
    """JIT positions of one block in Mint order. `swaps` (as `swaps_from_events` reads them from the same
    events) name the pool's tokens; without them the finding's tokens are None."""
    ordered = sorted(events, key=lambda e: e.log_index)
    resolved = {(s.transaction_hash, s.trace_address): s for s in swaps}
    found: list[JitLiquidity] = []
    burned: set[int] = set()
    for start, mint in enumerate(ordered):
        if mint.kind != MINT:
            continue
        key = _position(mint)
        victims: list[Event] = []
        for event in ordered[start + 1 :]:
            if event.address != mint.address:
                continue
            if event.kind == SWAP and event.transaction_hash != mint.transaction_hash:
                victims.append(event)
            elif event.kind == BURN and _position(event) == key and event.log_index not in burned:
                if int(event.args["amount"]) != int(mint.args["amount"]):
                    break  # a partial removal is ordinary liquidity management, not a JIT round trip
                if event.transaction_hash != mint.transaction_hash:
                    victims = [v for v in victims if v.transaction_hash != event.transaction_hash]
                    if victims:
                        burned.add(event.log_index)
                        found.append(_finding(mint, event, victims, resolved))
                break
    return found


def _position(event: Event) -> tuple[str, str, int, int]:
    args = event.args
    return event.address, str(args["owner"]), int(args["tickLower"]), int(args["tickUpper"])


def _finding(
    mint: Event, burn: Event, victims: Sequence[Event], resolved: dict[tuple[str, tuple[int, ...]], Swap]
) -> JitLiquidity:
    token0 = token1 = None
    for victim in victims:
        swap = resolved.get((victim.transaction_hash, (victim.log_index,)))
        if swap is not None:
            # A positive amount0 is what the pool received: then token0 is the swap's input.
            paid0 = int(victim.args["amount0"]) > 0
            token0, token1 = (swap.token_in, swap.token_out) if paid0 else (swap.token_out, swap.token_in)
            break
    return JitLiquidity(
        searcher=str(mint.args["owner"]),
        pool=mint.address,
        mint_transaction=mint.transaction_hash,
        burn_transaction=burn.transaction_hash,
        victim_transactions=tuple(dict.fromkeys(v.transaction_hash for v in victims)),
        tick_lower=int(mint.args["tickLower"]),
        tick_upper=int(mint.args["tickUpper"]),
        liquidity=int(mint.args["amount"]),
        token0=token0,
        token1=token1,
        mint_amounts=(int(mint.args["amount0"]), int(mint.args["amount1"])),
        burn_amounts=(int(burn.args["amount0"]), int(burn.args["amount1"])),
    )
