"""Arbitrages: swaps inside one transaction that carry a token around a cycle back to where it started."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from onchain.analytics.mev.swaps import Swap


@dataclass(frozen=True, slots=True)
class Arbitrage:
    transaction_hash: str
    searcher: str
    profit_token: str
    start_amount: int
    end_amount: int
    swaps: tuple[Swap, ...]

    @property
    def profit_amount(self) -> int:
        """What came back minus what went in, in the start token (negative for a losing trade)."""
        return self.end_amount - self.start_amount


def get_arbitrages(swaps: Iterable[Swap]) -> list[Arbitrage]:
    """Arbitrages among executed swaps, grouped per transaction in block order.

    A route opens with a swap paid by an account that is not itself one of the transaction's pools
    and closes with a swap paying that same account in the token it paid in. Between them each
    hop's input token is the previous hop's output token, and the tokens physically travel: the
    next swap is paid by the previous pool or recipient, or the previous swap paid the next pool.
    Two shapes cover nearly all searchers: tokens routed pool to pool (A/B -> B/C -> C/A), and a
    bot that receives every output and pays every input itself. The second shape also reads as
    rotated cycles (B->C->A->B ...); of several routes only those that open before they close in
    execution order are kept. Only cycles that end with more than they started count: a losing
    round trip (a user buying and selling through a router) is not an arbitrage.
    """
    by_tx: dict[str, list[Swap]] = {}
    for swap in swaps:
        if not swap.reverted:
            by_tx.setdefault(swap.transaction_hash, []).append(swap)
    found: list[Arbitrage] = []
    for tx_swaps in by_tx.values():
        tx_swaps.sort(key=lambda s: s.trace_address)
        found.extend(a for a in _transaction_arbitrages(tx_swaps) if a.profit_amount > 0)
    return found


def _transaction_arbitrages(swaps: Sequence[Swap]) -> list[Arbitrage]:
    if len(swaps) < 2:
        return []
    pools = {s.pool for s in swaps}
    routes: list[tuple[Swap, ...]] = []
    for first in swaps:
        if first.from_address in pools:
            continue
        for last in swaps:
            if last is first or last.token_out != first.token_in or last.to_address != first.from_address:
                continue
            middle = [s for s in swaps if s is not first and s is not last]
            routes.extend(_routes(first, last, middle))
    if len(routes) > 1:
        routes = [r for r in routes if r[0].trace_address < r[-1].trace_address]
    return [
        Arbitrage(
            transaction_hash=route[0].transaction_hash,
            searcher=route[0].from_address,
            profit_token=route[0].token_in,
            start_amount=route[0].amount_in,
            end_amount=route[-1].amount_out,
            swaps=route,
        )
        for route in routes
    ]


def _connected(a: Swap, b: Swap) -> bool:
    """True when `b` can take `a`'s output: same token and the tokens' path joins them."""
    return a.token_out == b.token_in and (
        b.from_address == a.pool or a.to_address == b.pool or a.to_address == b.from_address
    )


def _routes(start: Swap, end: Swap, middle: Sequence[Swap]) -> list[tuple[Swap, ...]]:
    if start.token_out == end.token_in:
        return [(start, end)]
    found: list[tuple[Swap, ...]] = []
    for hop in middle:
        if not _connected(start, hop):
            continue
        rest = [s for s in middle if s is not hop]
        found.extend((start, *tail) for tail in _routes(hop, end, rest))
    return found
