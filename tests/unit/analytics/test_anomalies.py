"""Anomalies: a drained pool is flagged in the very block it is drained (real mainnet blocks, then a block
in which the WETH/USDT pair logs a Sync with 20% of its reserves); volume spikes and depegs on streams."""

from __future__ import annotations

from pathlib import Path

import pytest

from onchain.analytics.anomalies import (
    AnomalyConfig,
    AnomalyDetector,
    BlockObservation,
    block_volume,
    observation,
    touched_pools,
)
from onchain.metrics.state import BlockResult
from tests.unit.analytics.drained import CHAIN, WETH_USDT_ID, Replayed, drain, replay


def observe(detector: AnomalyDetector, replayed: Replayed, result: BlockResult) -> list[dict[str, object]]:
    state = replayed.state
    seen = observation(state, CHAIN, result.block, result.timestamp, touched_pools(state, CHAIN, result.block),
                       block_volume(result))
    return [a.as_dict() for a in detector.observe(seen)]


def test_exploit_like_tvl_drop_is_flagged_within_the_block(chaindata: Path) -> None:
    replayed = replay(chaindata)
    detector = AnomalyDetector()
    for result in replayed.results:
        assert observe(detector, replayed, result) == []  # an ordinary mainnet block is no anomaly
    before = replayed.state.pool_tvl(replayed.state.pools[WETH_USDT_ID])
    assert before is not None and before > 50_000_000

    drained = drain(replayed, keep=0.2)
    found = observe(detector, replayed, drained)
    pools = [a for a in found if a["subject"] == {"type": "pool", "id": WETH_USDT_ID}]
    assert len(pools) == 1
    anomaly = pools[0]
    assert anomaly["kind"] == "tvl_drop" and anomaly["block"] == drained.block
    assert anomaly["value"] == pytest.approx(0.8, abs=0.01)
    assert anomaly["details"]["protocol"] == "uniswap-v2"  # type: ignore[index]
    # The protocol lost most of its TVL too: 59M of its 67M sat in this pair.
    assert any(a["subject"] == {"type": "protocol", "id": "uniswap-v2"} for a in found)
    # Flagged once: the window restarts at the drained level, the next block is calm.
    assert observe(detector, replayed, drain(replayed, keep=1.0)) == []


def test_a_fall_under_half_is_not_an_exploit(chaindata: Path) -> None:
    replayed = replay(chaindata)
    detector = AnomalyDetector()
    for result in replayed.results:
        observe(detector, replayed, result)
    assert observe(detector, replayed, drain(replayed, keep=0.6)) == []


def test_a_drop_spread_over_more_blocks_than_the_window_is_not_flagged() -> None:
    detector = AnomalyDetector(AnomalyConfig(tvl_blocks=3))
    levels = [100e6, 80e6, 64e6, 51e6, 41e6, 33e6]  # -20% a block: -67% overall, never -50% within 3 blocks
    for number, tvl in enumerate(levels):
        assert detector.observe(BlockObservation(CHAIN, number, number * 12, {"p": tvl}, {}, {}, {})) == []
    flagged = detector.observe(BlockObservation(CHAIN, 6, 72, {"p": 10e6}, {}, {}, {}))
    assert [a.kind for a in flagged] == ["tvl_drop"] and flagged[0].details["peak"] == 51e6


def test_volume_spike_against_the_recent_mean() -> None:
    detector = AnomalyDetector(AnomalyConfig(volume_spike=10, volume_blocks=20, volume_min_history=10))

    def step(number: int, volume: float) -> list[str]:
        seen = BlockObservation(CHAIN, number, number * 12, {}, {}, {"uniswap-v2": volume}, {})
        return [f"{a.kind}:{a.value:.0f}" for a in detector.observe(seen)]

    assert [step(n, 20_000.0) for n in range(5)] == [[]] * 5
    assert step(5, 1_000_000.0) == []  # too little history yet
    assert [step(n, 20_000.0) for n in range(6, 20)] == [[]] * 14
    mean = (19 * 20_000.0 + 1_000_000.0) / 20
    assert step(20, 2_000_000.0) == [f"volume_spike:{2_000_000.0 / mean:.0f}"]
    assert step(21, 40_000.0) == []  # the spike joined the baseline


def test_depeg_fires_on_entering_and_rearms_after_recovery() -> None:
    detector = AnomalyDetector(AnomalyConfig(depeg=0.02))
    usdc = "ethereum:0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
    prices = [1.0, 0.999, 0.97, 0.96, 0.985, 0.995, 0.95]
    fired = []
    for number, price in enumerate(prices):
        for anomaly in detector.observe(BlockObservation(CHAIN, number, number, {}, {}, {}, {usdc: price})):
            fired.append((anomaly.block, anomaly.kind, round(anomaly.value, 3)))
    assert fired == [(2, "depeg", 0.03), (6, "depeg", 0.05)]
