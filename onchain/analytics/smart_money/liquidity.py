"""LP profit net of impermanent loss, from Uniswap V2 pairs' Mint, Burn, LP-token Transfer and Sync logs.

Definition, per wallet and window [start, end], over the liquidity it added inside the window:

    lp_net_pnl = (USD value of the tokens its Burns returned, at each Burn's block
                  + USD value at `end` of its remaining LP tokens' share of the pair's reserves)
               - (USD value of holding the tokens it deposited instead, valued at those same blocks)

with our prices (the `PriceTape`) on both sides. It is the fees earned minus the impermanent loss:
zero for a position that earned nothing while prices stood still, negative when the pool's price
moved away from the deposit's (more than fees made up). Liquidity added before the window is left
out, as trades before it are; a removal is matched against the window's deposits only.

Who provides: a Mint's `sender` is usually a router, so the provider is the recipient of the LP tokens
minted in the same transaction (`Transfer` from the zero address); a Burn's is the wallet that sent
LP tokens to the pair in its transaction (`Burn.to` when no such transfer is seen). The pair's total
LP supply is re-derived at every Mint and Burn from the amounts and the reserves after it (V2 mints
and burns pro rata), so positions are valued without reading the chain's state.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from onchain.analytics.smart_money.trades import PoolTokens, PriceTape
from onchain.domain.events import Event

ZERO = "0x0000000000000000000000000000000000000000"
# Event kinds beside the market's (which carry Sync) that LP actions are read from.
LP_KINDS = ("uniswap_v2.Mint", "uniswap_v2.Burn", "erc20.Transfer")


@dataclass(frozen=True, slots=True)
class LiquidityAction:
    """One Mint (`adds`) or Burn of `lp` LP-token units by `wallet`; amounts in whole tokens."""

    wallet: str
    block_number: int
    log_index: int
    pool: str
    adds: bool
    lp: int
    amount0: float
    amount1: float
    supply_after: int


@dataclass(slots=True)
class _Series:
    blocks: list[int] = field(default_factory=list)
    values: list[tuple[float, float]] = field(default_factory=list)

    def record(self, block: int, value: tuple[float, float]) -> None:
        if self.blocks and self.blocks[-1] == block:
            self.values[-1] = value
        else:
            self.blocks.append(block)
            self.values.append(value)

    def at(self, block: int) -> tuple[float, float] | None:
        index = bisect.bisect_right(self.blocks, block) - 1
        return self.values[index] if index >= 0 else None

    def extend(self, other: _Series) -> None:
        for block, value in zip(other.blocks, other.values, strict=True):
            self.record(block, value)

    def forget_before(self, block: int) -> None:
        """Drop values older than `block`, keeping the one that still stands at `block`."""
        index = bisect.bisect_right(self.blocks, block) - 1
        if index > 0:
            del self.blocks[:index], self.values[:index]


@dataclass(slots=True)
class LiquidityBook:
    """LP actions in chain order, and each pair's reserves (whole tokens) and LP supply after each block."""

    actions: list[LiquidityAction] = field(default_factory=list)
    reserves: dict[str, _Series] = field(default_factory=lambda: defaultdict(_Series))
    supply: dict[str, _Series] = field(default_factory=lambda: defaultdict(_Series))
    coins: dict[str, tuple[str, str]] = field(default_factory=dict)

    def extend(self, newer: LiquidityBook) -> None:
        """Append a later stretch of blocks (a live service reads them block by block)."""
        self.actions.extend(newer.actions)
        for pool, series in newer.reserves.items():
            self.reserves[pool].extend(series)
        for pool, series in newer.supply.items():
            self.supply[pool].extend(series)
        self.coins.update(newer.coins)

    def forget_before(self, block: int) -> None:
        """Keep memory bounded: drop actions before `block` and reserve and supply history it no longer needs."""
        self.actions = [action for action in self.actions if action.block_number >= block]
        for series in (*self.reserves.values(), *self.supply.values()):
            series.forget_before(block)

    def net_pnl(self, tape: PriceTape, start: int, end: int) -> dict[str, float]:
        """Each wallet's LP profit net of impermanent loss in [start, end] (see the module's definition)."""
        positions: dict[tuple[str, str], list[float]] = {}  # lp units, deposited token0, deposited token1
        out: dict[str, float] = defaultdict(float)
        for action in self.actions:
            if not start <= action.block_number <= end:
                continue
            key = (action.wallet, action.pool)
            if action.adds:
                held = positions.setdefault(key, [0.0, 0.0, 0.0])
                held[0] += action.lp
                held[1] += action.amount0
                held[2] += action.amount1
                continue
            held = positions.get(key, [0.0, 0.0, 0.0])
            if held[0] <= 0 or action.lp <= 0:
                continue
            removed = min(float(action.lp), held[0])
            prices = self._prices(tape, action.pool, action.block_number)
            if prices is None:
                continue
            p0, p1 = prices
            share_of_burn, share_of_position = removed / action.lp, removed / held[0]
            received = (action.amount0 * p0 + action.amount1 * p1) * share_of_burn
            holding = (held[1] * p0 + held[2] * p1) * share_of_position
            out[action.wallet] += received - holding
            held[0] -= removed
            held[1] *= 1.0 - share_of_position
            held[2] *= 1.0 - share_of_position
        for (wallet, pool), (lp, deposit0, deposit1) in positions.items():
            if lp <= 0:
                continue
            prices = self._prices(tape, pool, end)
            reserves, supply = self.reserves[pool].at(end), self.supply[pool].at(end)
            if prices is None or reserves is None or supply is None or not supply[0]:
                continue
            p0, p1 = prices
            share = lp / supply[0]
            out[wallet] += share * (reserves[0] * p0 + reserves[1] * p1) - (deposit0 * p0 + deposit1 * p1)
        return dict(out)

    def _prices(self, tape: PriceTape, pool: str, block: int) -> tuple[float, float] | None:
        coins = self.coins.get(pool)
        if coins is None:
            return None
        p0, p1 = tape.at(coins[0], block), tape.at(coins[1], block)
        return None if p0 is None or p1 is None else (p0, p1)


@dataclass(slots=True)
class _Pending:
    """LP-token movements seen earlier in the transaction the next Mint or Burn of a pair belongs to."""

    transaction: str = ""
    minted_to: str | None = None
    minted: int = 0
    sent_by: str | None = None
    burnt: int = 0
    locked: int = 0  # a pair's first mint locks minimum liquidity at the zero address
    raw_reserves: tuple[int, int] | None = None


def liquidity_from_events(events: Iterable[Event], pools: Mapping[str, PoolTokens]) -> LiquidityBook:
    """The LP actions and reserves of the Uniswap V2 pairs in `pools` (keyed by `chain:address`)."""
    book = LiquidityBook()
    pending: dict[str, _Pending] = {}
    for event in sorted(events, key=lambda e: (e.block_number, e.log_index)):
        pool_id = f"{event.chain}:{event.address}"
        tokens = pools.get(pool_id)
        if tokens is None:
            continue
        state = pending.get(pool_id)
        if state is None or state.transaction != event.transaction_hash:
            reserves = state.raw_reserves if state is not None else None
            state = pending[pool_id] = _Pending(event.transaction_hash, raw_reserves=reserves)
        book.coins[pool_id] = (tokens.token0, tokens.token1)
        args = event.args
        if event.kind == "uniswap_v2.Sync":
            raw = (int(args["reserve0"]), int(args["reserve1"]))
            state.raw_reserves = raw
            book.reserves[pool_id].record(
                event.block_number, (raw[0] / 10.0**tokens.decimals0, raw[1] / 10.0**tokens.decimals1))
        elif event.kind == "erc20.Transfer":
            source, target, value = str(args["from"]), str(args["to"]), int(args["value"])
            if source == ZERO and target == ZERO:
                state.locked += value
            elif source == ZERO:
                state.minted_to, state.minted = target, state.minted + value
            elif target == event.address and source != ZERO:
                state.sent_by = source
            elif source == event.address and target == ZERO:
                state.burnt += value
        elif event.kind in ("uniswap_v2.Mint", "uniswap_v2.Burn"):
            action = _action(event, tokens, state)
            if action is not None:
                book.actions.append(action)
                book.supply[pool_id].record(event.block_number, (float(action.supply_after), 0.0))
            state.minted_to, state.minted, state.sent_by, state.burnt, state.locked = None, 0, None, 0, 0
    return book


def _action(event: Event, tokens: PoolTokens, state: _Pending) -> LiquidityAction | None:
    """A Mint or Burn with its provider and the pair's LP supply after it, or None if either is unknown."""
    args = event.args
    raw0, raw1 = int(args["amount0"]), int(args["amount1"])
    reserves = state.raw_reserves
    if reserves is None or (raw0 == 0 and raw1 == 0):
        return None
    adds = event.kind == "uniswap_v2.Mint"
    if adds:
        wallet, lp = state.minted_to, state.minted
        # The binding side of a V2 mint gives the supply exactly; the other side underestimates it.
        candidates = [lp * r // a for r, a in ((reserves[0], raw0), (reserves[1], raw1)) if a]
        supply = max(candidates) + state.locked
    else:
        wallet = state.sent_by or str(args["to"])
        # A burn pays out pro rata: amount / reserve after = burnt / supply after; the side with the larger
        # reserve left loses least to the pair's rounding down.
        sides = [(reserve, raw) for reserve, raw in ((reserves[0], raw0), (reserves[1], raw1)) if raw]
        reserve, raw = max(sides)
        lp = state.burnt
        supply = lp * reserve // raw
    if wallet is None or lp <= 0:
        return None
    return LiquidityAction(wallet, event.block_number, event.log_index, f"{event.chain}:{event.address}", adds, lp,
                           raw0 / 10.0**tokens.decimals0, raw1 / 10.0**tokens.decimals1, supply)

