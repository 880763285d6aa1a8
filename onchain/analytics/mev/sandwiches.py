"""Sandwiches: a searcher trades into a pool just before victims trade the same way, then trades out."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from onchain.analytics.mev.swaps import Swap

PUBLIC_ROUTERS = frozenset(
    {
        "0x7a250d5630b4cf539739df2c5dacb4c659f2488d",  # Uniswap V2 Router02
        "0xd9e1ce17f2641f24ae83637ab66a2cca9c378b9f",  # SushiSwap router
        "0xe592427a0aece92de3edee1f18e0157c05861564",  # Uniswap V3 SwapRouter
        "0x68b3465833fb72a70ecdf485e0e4c7bd8665fc45",  # Uniswap SwapRouter02
        "0xef1c6e67703c7bd7107eed8303fbe6ec2554bf6b",  # Uniswap Universal Router (2022)
        "0x3fc91a3afd70395cd496c647d5a6cc9d4b2b7fad",  # Uniswap Universal Router
    }
)
"""Shared routers hold swap output for their users (to unwrap ether), so they are never searchers."""


@dataclass(frozen=True, slots=True)
class Sandwich:
    searcher: str
    frontrun: Swap
    backrun: Swap
    victims: tuple[Swap, ...]

    @property
    def pool(self) -> str:
        return self.frontrun.pool

    @property
    def _closes_in_start_token(self) -> bool:
        """Whether the searcher kept the balance of the token it bought and took profit in the other one.

        Usually the back-run sells exactly what the front-run bought, so profit shows in the start
        token. Some searchers instead buy back exactly what they sold; then the start token nets to
        zero and the profit sits in the token the front-run bought.
        """
        front, back = self.frontrun, self.backrun
        return not (back.amount_out == front.amount_in and back.amount_in != front.amount_out)

    @property
    def profit_token(self) -> str:
        return self.frontrun.token_in if self._closes_in_start_token else self.frontrun.token_out

    @property
    def profit_amount(self) -> int:
        """What the round trip left the searcher with, in `profit_token` (negative for a loss)."""
        front, back = self.frontrun, self.backrun
        if self._closes_in_start_token:
            return back.amount_out - front.amount_in
        return front.amount_out - back.amount_in

    @property
    def victim_transactions(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for victim in self.victims:
            seen.setdefault(victim.transaction_hash, None)
        return tuple(seen)


def get_sandwiches(swaps: Iterable[Swap]) -> list[Sandwich]:
    """Sandwiches among executed swaps in block order.

    The front-run's recipient is the searcher. Victims are later swaps, in other transactions, on
    the same pool in the same direction, not paid by the searcher; the back-run is the first later
    swap on that pool in the opposite direction paid by the searcher, once at least one victim
    traded in between. A front-run that pays its output into another pool is a hop inside a route,
    not a searcher's position, so pools are never searchers; nor are the public routers.
    """
    ordered = sorted((s for s in swaps if not s.reverted), key=lambda s: (s.transaction_position, s.trace_address))
    pools = {s.pool for s in ordered}
    found: list[Sandwich] = []
    for index, front in enumerate(ordered):
        if front.to_address in pools or front.to_address in PUBLIC_ROUTERS:
            continue
        sandwich = _sandwich_from(front, ordered[index + 1 :])
        if sandwich is not None:
            found.append(sandwich)
    return found


def _sandwich_from(front: Swap, later: Sequence[Swap]) -> Sandwich | None:
    searcher = front.to_address
    victims: list[Swap] = []
    for swap in later:
        if swap.transaction_hash == front.transaction_hash or swap.pool != front.pool:
            continue
        same_way = swap.token_in == front.token_in and swap.token_out == front.token_out
        opposite = swap.token_in == front.token_out and swap.token_out == front.token_in
        if same_way and swap.from_address != searcher:
            victims.append(swap)
        elif opposite and swap.from_address == searcher and victims:
            return Sandwich(searcher=searcher, frontrun=front, backrun=swap, victims=tuple(victims))
    return None
