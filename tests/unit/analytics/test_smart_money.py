"""Smart money on a real day of the Uniswap V3 USDC/WETH 0.05% pool (6,046 swaps), and on trades built to
have a known answer: trades from swaps, features, the time split, training, explanations, stored versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from onchain.analytics.smart_money.features import (
    FEATURES,
    build_samples,
    forward_pnl,
    wallet_features,
    windows,
)
from onchain.analytics.smart_money.model import ModelStore, time_split, train
from onchain.analytics.smart_money.trades import PriceTape, Trade, fold_prices, pool_tokens, trades_from_events
from onchain.domain.chain import Block
from onchain.domain.events import Event
from onchain.metrics.state import MarketState
from onchain.pricing.feeds import WETH
from tests.unit.metrics.realdata import USDC_WETH_005, demeter_blocks, market_for

USDC = "ethereum:0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
POOL_ID = f"ethereum:{USDC_WETH_005}"


class Day:
    def __init__(self, chaindata: Path) -> None:
        self.state: MarketState
        self.state, decoder = market_for()
        self.blocks: list[Block] = []
        self.events: list[Event] = []
        for block, logs in demeter_blocks(chaindata):
            self.blocks.append(block)
            self.events.extend(decoder.decode(logs).events)
        self.tape = fold_prices(self.state, "ethereum", self.blocks, self.events)
        self.trades = trades_from_events(self.events, pool_tokens(self.state))


@pytest.fixture(scope="module")
def day(chaindata: Path) -> Day:
    return Day(chaindata)


def test_every_swap_is_one_trade_of_its_recipient_with_the_logged_amounts(day: Day) -> None:
    swaps = [e for e in day.events if e.kind == "uniswap_v3.Swap"]
    assert len(swaps) == 6046
    pools = pool_tokens(day.state)
    hops = [s for s in swaps if f"ethereum:{s.args['recipient']}" in pools]
    assert len(hops) == 17  # paid to another known pool: a hop inside a route, no wallet's trade
    by_log = {(t.transaction_hash, t.log_index): t for t in day.trades}
    assert len(by_log) == len(day.trades) == 6046 - 17
    for swap in swaps:
        if swap in hops:
            continue
        trade = by_log[(swap.transaction_hash, swap.log_index)]
        amount0, amount1 = swap.args["amount0"], swap.args["amount1"]
        assert trade.wallet == swap.args["recipient"]
        if amount0 > 0:  # USDC into the pool, WETH out to the wallet
            assert (trade.coin_in, trade.coin_out) == (USDC, WETH)
            assert trade.amount_in == amount0 / 1e6 and trade.amount_out == -amount1 / 1e18
        else:
            assert (trade.coin_in, trade.coin_out) == (WETH, USDC)
            assert trade.amount_in == amount1 / 1e18 and trade.amount_out == -amount0 / 1e6


def test_prices_on_the_tape_follow_the_pool(day: Day) -> None:
    first, last = day.blocks[0].number, day.blocks[-1].number
    assert day.tape.at(WETH, first - 1) is None
    opening, closing = day.tape.at(WETH, first), day.tape.at(WETH, last)
    assert opening is not None and closing is not None
    assert 2_000 < opening < 2_500 and 2_000 < closing < 2_500  # ETH on 2024-01-05
    assert day.tape.at(WETH, last) == day.state.prices[WETH].price_usd


def test_features_of_a_real_window_add_up(day: Day) -> None:
    first = day.blocks[0].number
    start, end = first, first + 599
    inside = [t for t in day.trades if start <= t.block_number <= end]
    features = wallet_features(day.trades, day.tape, start, end, horizon=5)
    assert sum(f.trade_count for f in features.values()) == len(inside)
    assert set(features) == {t.wallet for t in inside}
    volume = sum(f.volume_usd for f in features.values())
    usdc_given = sum(t.amount_in for t in inside if t.coin_in == USDC)
    assert volume > usdc_given  # every USDC-in trade counts its USDC; WETH-in ones add theirs
    for wallet in features.values():
        vector = wallet.as_dict()
        assert list(vector) == list(FEATURES)
        assert 0.0 <= vector["win_rate"] <= 1.0
        assert vector["trade_count"] >= 1


def test_a_wallet_that_buys_before_a_rise_shows_it() -> None:
    tape = PriceTape()
    tape.record(1, {WETH: 2_000.0, USDC: 1.0})
    tape.record(10, {WETH: 2_100.0, USDC: 1.0})
    early = Trade("0xa", 5, "0x1", 0, POOL_ID, USDC, 2_000.0, WETH, 1.0)
    late = Trade("0xb", 5, "0x2", 1, POOL_ID, WETH, 1.0, USDC, 2_000.0)
    sells = Trade("0xa", 15, "0x3", 0, POOL_ID, WETH, 0.5, USDC, 1_050.0)
    trades = [early, late, sells]
    features = wallet_features(trades, tape, 1, 20, horizon=10)
    a, b = features["0xa"], features["0xb"]
    # WETH gained 5% on USDC after the buy, nothing after the sale: USD-weighted over both trades.
    assert a.early_entry == pytest.approx(100 * 0.05 * 2_000 / (2_000 + 1_050))
    assert b.early_entry == pytest.approx(100 * (1 / 1.05 - 1))
    assert a.realised_pnl_usd == pytest.approx(0.5 * 2_100 - 1_000)  # half the position, bought for 2,000
    assert a.unrealised_pnl_usd == pytest.approx(0.5 * 2_100 - 1_000)
    assert a.holding_blocks == pytest.approx(10.0)
    assert a.win_rate == 0.5 and b.win_rate == 0.0  # the sale at the fair price earns nothing
    assert forward_pnl(trades, tape, 1, 9, horizon=10) == pytest.approx({"0xa": 100.0, "0xb": -100.0})
    # Features read no price after their window: the rise at block 10 is invisible to window 1..9.
    assert wallet_features(trades, tape, 1, 9, horizon=10)["0xa"].early_entry == 0.0


def test_time_split_tests_only_on_later_windows(day: Day) -> None:
    spans = windows(day.blocks[0].number, day.blocks[-1].number, 600)
    samples = build_samples(day.trades, day.tape, spans, horizon=5)
    train_set, test_set = time_split(samples, 0.3)
    assert train_set and test_set
    assert max(s.window for s in train_set) < min(s.window for s in test_set)
    assert all(s.label is not None for s in [*train_set, *test_set])
    assert all(s.label is None for s in samples if s.window == len(spans) - 1)  # no next window, no label


def test_trained_model_scores_explains_and_is_stored_in_versions(day: Day, tmp_path: Path) -> None:
    spans = windows(day.blocks[0].number, day.blocks[-1].number, 600)
    model = train(build_samples(day.trades, day.tape, spans, horizon=5), window=600, horizon=5)
    metrics = model.metrics
    assert metrics.test_samples > 0 and metrics.train_samples > metrics.test_samples
    assert sum(metrics.feature_importances.values()) == pytest.approx(1.0)
    assert metrics.auc is None or 0.0 <= metrics.auc <= 1.0
    last = spans[-1]
    scores = model.score(wallet_features(day.trades, day.tape, *last, horizon=5))
    assert scores and [s.score for s in scores] == sorted((s.score for s in scores), reverse=True)
    for scored in scores:
        assert len(scored.top_features) == 3 and {c.feature for c in scored.top_features} <= set(FEATURES)
        assert abs(scored.top_features[0].effect) >= abs(scored.top_features[-1].effect)
    store = ModelStore(tmp_path / "models")
    assert store.load() is None
    store.save(model)
    store.save(model)
    assert store.versions() == [1, 2]
    loaded = store.load()
    assert loaded is not None and loaded.version == 2
    vectors = [s.features for s in build_samples(day.trades, day.tape, spans[-1:], horizon=5)]
    assert loaded.predict(vectors) == model.predict(vectors)
