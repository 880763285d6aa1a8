"""Anomalies on the block stream: exploit-like TVL drops, volume spikes, stablecoin depegs. Pure.

`AnomalyDetector.observe` takes one block's levels and flows (`BlockObservation`, read from the
market state by `observation`) and returns what became anomalous in that block, so an exploit is
flagged in the very block that drains the pool. Each anomaly fires once per episode:

- `tvl_drop`: a pool's or protocol's TVL fell more than `tvl_drop` (50%) below its highest level
  of the last `tvl_blocks` blocks (the level held when the window opened counts). The window then
  restarts from the new level, so a further halving fires again.
- `volume_spike`: a protocol's USD volume in one block exceeds `volume_spike` times its mean over
  the previous `volume_blocks` blocks (at least `volume_min_history` of them, and `min_spike_usd`).
- `depeg`: a stablecoin's price is off 1 USD by more than `depeg`; it re-arms once back within half that.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from onchain.metrics.state import BlockResult, MarketState

Kind = Literal["tvl_drop", "volume_spike", "depeg"]
SubjectType = Literal["protocol", "pool", "coin"]


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One anomaly; `value` is the measure compared with `threshold` (drop fraction, volume ratio, |price - 1|)."""

    kind: Kind
    subject_type: SubjectType
    subject: str
    chain: str
    block: int
    timestamp: int
    value: float
    threshold: float
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The bus and API shape (topic `anomalies`)."""
        return {
            "id": self.subject,
            "kind": self.kind,
            "subject": {"type": self.subject_type, "id": self.subject},
            "chain": self.chain,
            "block": self.block,
            "timestamp": self.timestamp,
            "value": self.value,
            "threshold": self.threshold,
            "details": self.details,
        }


@dataclass(frozen=True, slots=True)
class BlockObservation:
    """What one block left: TVL levels (protocols and the pools it touched), USD volume per protocol, stable prices."""

    chain: str
    block: int
    timestamp: int
    protocol_tvl: Mapping[str, float]
    pool_tvl: Mapping[str, float]
    protocol_volume: Mapping[str, float]
    stable_prices: Mapping[str, float]
    pool_protocol: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AnomalyConfig:
    tvl_drop: float = 0.5
    tvl_blocks: int = 5
    min_tvl_usd: float = 10_000.0
    volume_spike: float = 10.0
    volume_blocks: int = 50
    volume_min_history: int = 10
    min_spike_usd: float = 50_000.0
    depeg: float = 0.02


class _LevelWindow:
    """Levels of one subject over the last blocks, keeping the one in force when the window opened."""

    def __init__(self) -> None:
        self.points: deque[tuple[int, float]] = deque()

    def add(self, block: int, value: float, span: int) -> float:
        """Record `value` at `block`; returns the highest level seen in the window before it."""
        while len(self.points) > 1 and self.points[1][0] <= block - span:
            self.points.popleft()
        peak = max((v for _, v in self.points), default=value)
        self.points.append((block, value))
        return peak

    def restart(self, block: int, value: float) -> None:
        self.points.clear()
        self.points.append((block, value))


class AnomalyDetector:
    """Keeps the little history each rule needs; `observe` one block at a time, in order, per chain."""

    def __init__(self, config: AnomalyConfig | None = None) -> None:
        self.config = config or AnomalyConfig()
        self._levels: dict[tuple[str, str], _LevelWindow] = {}
        self._volumes: dict[tuple[str, str], deque[float]] = {}
        self._depegged: set[str] = set()

    def observe(self, observation: BlockObservation) -> list[Anomaly]:
        found: list[Anomaly] = []
        found += self._tvl(observation, "protocol", observation.protocol_tvl)
        found += self._tvl(observation, "pool", observation.pool_tvl)
        found += self._volume(observation)
        found += self._depeg(observation)
        return found

    def _tvl(self, obs: BlockObservation, subject_type: SubjectType, levels: Mapping[str, float]) -> list[Anomaly]:
        config = self.config
        found = []
        for subject, tvl in sorted(levels.items()):
            window = self._levels.setdefault((subject_type, subject), _LevelWindow())
            peak = window.add(obs.block, tvl, config.tvl_blocks)
            if peak < config.min_tvl_usd or tvl >= peak * (1.0 - config.tvl_drop):
                continue
            drop = 1.0 - tvl / peak
            details: dict[str, Any] = {"tvl": tvl, "peak": peak, "blocks": config.tvl_blocks}
            if subject_type == "pool" and subject in obs.pool_protocol:
                details["protocol"] = obs.pool_protocol[subject]
            found.append(Anomaly("tvl_drop", subject_type, subject, obs.chain, obs.block, obs.timestamp, drop,
                                 config.tvl_drop, details))
            window.restart(obs.block, tvl)
        return found

    def _volume(self, obs: BlockObservation) -> list[Anomaly]:
        config = self.config
        found = []
        slugs = set(obs.protocol_volume) | {slug for (chain, slug) in self._volumes if chain == obs.chain}
        for slug in sorted(slugs):
            volume = obs.protocol_volume.get(slug, 0.0)
            history = self._volumes.setdefault((obs.chain, slug), deque(maxlen=config.volume_blocks))
            if len(history) >= config.volume_min_history and volume >= config.min_spike_usd:
                baseline = sum(history) / len(history)
                ratio = volume / baseline if baseline > 0 else float("inf")
                if ratio > config.volume_spike:
                    found.append(Anomaly("volume_spike", "protocol", slug, obs.chain, obs.block, obs.timestamp,
                                         ratio, config.volume_spike, {"volume": volume, "baseline": baseline}))
            history.append(volume)
        return found

    def _depeg(self, obs: BlockObservation) -> list[Anomaly]:
        config = self.config
        found = []
        for coin, price in sorted(obs.stable_prices.items()):
            deviation = abs(price - 1.0)
            if coin in self._depegged:
                if deviation <= config.depeg / 2:
                    self._depegged.discard(coin)
                continue
            if deviation > config.depeg:
                self._depegged.add(coin)
                found.append(Anomaly("depeg", "coin", coin, obs.chain, obs.block, obs.timestamp, deviation,
                                     config.depeg, {"price": price}))
        return found


def touched_pools(state: MarketState, chain: str, block: int) -> list[str]:
    """Pools of `chain` whose last event is in `block`."""
    return sorted(pid for pid, pool in state.pools.items() if pool.spec.chain == chain and pool.block == block)


def block_volume(result: BlockResult) -> dict[str, float]:
    """USD volume per protocol in the block `result` describes, from its `volume` rows."""
    return {row.protocol: row.value for row in result.rows
            if row.metric == "volume" and row.resolution == "block" and row.chain == result.chain}


def observation(state: MarketState, chain: str, block: int, timestamp: int, pools: Iterable[str],
                volume: Mapping[str, float]) -> BlockObservation:
    """A block as the market state holds it now: TVL of every protocol on `chain` and of `pools`, stable prices."""
    pool_tvl: dict[str, float] = {}
    pool_protocol: dict[str, str] = {}
    for pool_id in pools:
        pool = state.pools.get(pool_id)
        tvl = state.pool_tvl(pool) if pool is not None else None
        if pool is not None and tvl is not None:
            pool_tvl[pool_id] = tvl
            pool_protocol[pool_id] = pool.spec.protocol
    protocol_tvl = {}
    for slug in state.protocol_slugs():
        chain_tvl = state.protocol_summary(slug)["chainTvls"].get(chain)
        if chain_tvl is not None:
            protocol_tvl[slug] = float(chain_tvl)
    anchors = state.anchors.get(chain)
    stables = {coin: state.prices[coin].price_usd for coin in (anchors.stablecoins if anchors else ())
               if coin in state.prices}
    return BlockObservation(chain, block, timestamp, protocol_tvl, pool_tvl, dict(volume), stables, pool_protocol)
