"""What a wallet did in a window of blocks, as numbers a model can read; and what it earned in the next one.

Positions are kept at average cost per coin and valued with our USD prices: a swap sells the coin
given (realising its gain over the average cost) and buys the coin received at the USD value given
for it. A trade's markout is what it received minus what it gave, both valued `horizon` blocks
later: positive when the wallet bought ahead of a move, net of the pool fee and its price impact.
Liquidity providers also get their LP profit net of impermanent loss (`liquidity.LiquidityBook`).
Features only read prices inside their window, so nothing leaks from the window a label comes from.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from onchain.analytics.smart_money.liquidity import LiquidityBook
from onchain.analytics.smart_money.trades import PriceTape, Trade

FEATURES: tuple[str, ...] = (
    "trade_count",
    "volume_usd_log",
    "mean_trade_usd_log",
    "realised_pnl_usd",
    "unrealised_pnl_usd",
    "roi",
    "win_rate",
    "markout_pnl_usd",
    "holding_blocks",
    "early_entry",
    "lp_net_pnl_usd",
)


@dataclass(slots=True)
class _Position:
    quantity: float = 0.0
    cost_usd: float = 0.0
    block_weight: float = 0.0  # quantity-weighted acquisition block


@dataclass(slots=True)
class WalletFeatures:
    """One wallet's activity in [start, end]; `vector()` orders it as `FEATURES`."""

    wallet: str
    start: int
    end: int
    trade_count: int = 0
    volume_usd: float = 0.0
    realised_pnl_usd: float = 0.0
    unrealised_pnl_usd: float = 0.0
    bought_usd: float = 0.0
    wins: int = 0
    marked: int = 0
    markout_pnl_usd: float = 0.0
    held_blocks_usd: float = 0.0
    sold_usd: float = 0.0
    entry_edge_usd: float = 0.0
    entry_usd: float = 0.0
    lp_net_pnl_usd: float = 0.0
    positions: dict[str, _Position] = field(default_factory=lambda: defaultdict(_Position))

    @property
    def roi(self) -> float:
        return (self.realised_pnl_usd + self.unrealised_pnl_usd) / max(self.bought_usd, 1.0)

    @property
    def win_rate(self) -> float:
        return self.wins / self.marked if self.marked else 0.5

    @property
    def holding_blocks(self) -> float:
        return self.held_blocks_usd / self.sold_usd if self.sold_usd else float(self.end - self.start)

    @property
    def early_entry(self) -> float:
        """USD-weighted relative move of the coin bought against the coin sold over the horizon, in percent."""
        return 100.0 * self.entry_edge_usd / self.entry_usd if self.entry_usd else 0.0

    def vector(self) -> tuple[float, ...]:
        return (
            float(self.trade_count),
            math.log1p(self.volume_usd),
            math.log1p(self.volume_usd / self.trade_count) if self.trade_count else 0.0,
            self.realised_pnl_usd,
            self.unrealised_pnl_usd,
            self.roi,
            self.win_rate,
            self.markout_pnl_usd,
            self.holding_blocks,
            self.early_entry,
            self.lp_net_pnl_usd,
        )

    def as_dict(self) -> dict[str, float]:
        return dict(zip(FEATURES, self.vector(), strict=True))


def markout(trade: Trade, tape: PriceTape, block: int) -> float | None:
    """USD value received minus USD value given, both at `block`'s prices."""
    received = tape.value(trade.coin_out, trade.amount_out, block)
    given = tape.value(trade.coin_in, trade.amount_in, block)
    if received is None or given is None:
        return None
    return received - given


def wallet_features(trades: Iterable[Trade], tape: PriceTape, start: int, end: int,
                    horizon: int, liquidity: LiquidityBook | None = None) -> dict[str, WalletFeatures]:
    """Features of every wallet that traded or added liquidity in blocks [start, end] (inclusive), reading
    prices up to `end`."""
    out: dict[str, WalletFeatures] = {}
    for trade in trades:
        if not start <= trade.block_number <= end:
            continue
        features = out.get(trade.wallet)
        if features is None:
            features = out[trade.wallet] = WalletFeatures(trade.wallet, start, end)
        _fold(features, trade, tape, min(trade.block_number + horizon, end))
    for features in out.values():
        for coin, position in features.positions.items():
            price = tape.at(coin, end)
            if price is not None and position.quantity > 0:
                features.unrealised_pnl_usd += position.quantity * price - position.cost_usd
    if liquidity is not None:
        for wallet, pnl in liquidity.net_pnl(tape, start, end).items():
            features = out.get(wallet)
            if features is None:
                features = out[wallet] = WalletFeatures(wallet, start, end)
            features.lp_net_pnl_usd = pnl
    return out


def _fold(features: WalletFeatures, trade: Trade, tape: PriceTape, later: int) -> None:
    block = trade.block_number
    price_in, price_out = tape.at(trade.coin_in, block), tape.at(trade.coin_out, block)
    if price_in is None and price_out is None:
        return
    given_usd = trade.amount_in * price_in if price_in is not None else trade.amount_out * (price_out or 0.0)
    features.trade_count += 1
    features.volume_usd += given_usd
    # Sell what was given, at average cost.
    sold = features.positions[trade.coin_in]
    matched = min(trade.amount_in, sold.quantity)
    if matched > 0 and price_in is not None:
        share = matched / sold.quantity
        features.realised_pnl_usd += matched * price_in - sold.cost_usd * share
        features.held_blocks_usd += (block - sold.block_weight / sold.quantity) * matched * price_in
        features.sold_usd += matched * price_in
        sold.quantity -= matched
        sold.cost_usd *= 1.0 - share
        sold.block_weight *= 1.0 - share
    # Buy what was received, at the value given for it.
    bought = features.positions[trade.coin_out]
    bought.quantity += trade.amount_out
    bought.cost_usd += given_usd
    bought.block_weight += trade.amount_out * block
    features.bought_usd += given_usd
    if later > block:
        pnl = markout(trade, tape, later)
        if pnl is not None:
            features.marked += 1
            features.wins += pnl > 0
            features.markout_pnl_usd += pnl
        edge = _relative_move(trade, tape, block, later)
        if edge is not None:
            features.entry_edge_usd += edge * given_usd
            features.entry_usd += given_usd


def _relative_move(trade: Trade, tape: PriceTape, block: int, later: int) -> float | None:
    prices = [tape.at(coin, at) for coin in (trade.coin_out, trade.coin_in) for at in (block, later)]
    out_now, out_later, in_now, in_later = prices
    if out_now is None or out_later is None or in_now is None or in_later is None or not out_now or not in_later:
        return None
    return (out_later / out_now) / (in_later / in_now) - 1.0


def forward_pnl(trades: Iterable[Trade], tape: PriceTape, start: int, end: int, horizon: int) -> dict[str, float]:
    """Each wallet's summed markout over trades in [start, end]: the label's raw value."""
    out: dict[str, float] = defaultdict(float)
    for trade in trades:
        if start <= trade.block_number <= end:
            pnl = markout(trade, tape, trade.block_number + horizon)
            if pnl is not None:
                out[trade.wallet] += pnl
    return dict(out)


@dataclass(frozen=True, slots=True)
class Sample:
    """Features of `wallet` in window `window`, and its markout in the next window (None: it did not trade)."""

    wallet: str
    window: int
    start: int
    end: int
    features: tuple[float, ...]
    forward_pnl_usd: float | None

    @property
    def label(self) -> int | None:
        return None if self.forward_pnl_usd is None else int(self.forward_pnl_usd > 0)


def windows(first: int, last: int, size: int) -> list[tuple[int, int]]:
    """Consecutive inclusive block ranges of `size` blocks from `first`; a short tail is dropped."""
    if size < 1:
        raise ValueError("window size must be at least one block")
    return [(low, low + size - 1) for low in range(first, last - size + 2, size)]


def build_samples(trades: Sequence[Trade], tape: PriceTape, spans: Sequence[tuple[int, int]],
                  horizon: int, liquidity: LiquidityBook | None = None) -> list[Sample]:
    """One sample per wallet per window; its label comes from the following window of `spans`, if any."""
    samples = []
    for index, (start, end) in enumerate(spans):
        features = wallet_features(trades, tape, start, end, horizon, liquidity)
        forward = forward_pnl(trades, tape, *spans[index + 1], horizon) if index + 1 < len(spans) else {}
        for wallet, wf in sorted(features.items()):
            samples.append(Sample(wallet, index, start, end, wf.vector(), forward.get(wallet)))
    return samples
