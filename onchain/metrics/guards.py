"""Data-quality guard: a deep pool whose price leaps within one block is held back, not believed.

A pool with millions of dollars in it does not move tenfold in twelve seconds unless something
is wrong (a bad decode, a misattributed pool, a manipulation inside one block). The guard keeps
the last accepted level; a leap beyond `max_jump` on a pool deeper than `min_depth_usd` is
flagged and the old level stays in use. If the new level holds for `confirm_blocks` blocks in a
row it is accepted: markets do move, and a guard must not freeze a price forever.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GuardConfig:
    max_jump: float = 3.0
    min_depth_usd: float = 1_000_000.0
    confirm_blocks: int = 3


@dataclass(frozen=True, slots=True)
class Flag:
    """Why a value was held back."""

    id: str
    block: int
    previous: float
    observed: float
    reason: str


@dataclass(slots=True)
class _Track:
    accepted: float
    pending: float | None = None
    pending_blocks: int = 0


class JumpGuard:
    def __init__(self, config: GuardConfig | None = None) -> None:
        self.config = config or GuardConfig()
        self._tracks: dict[str, _Track] = {}

    def check(self, key: str, value: float, block: int, depth_usd: float | None) -> Flag | None:
        """Accept `value` (None) or flag it; `depth_usd` None means unknown depth, which is not guarded."""
        track = self._tracks.get(key)
        if track is None or value <= 0:
            self._tracks[key] = _Track(value)
            return None
        ratio = max(value / track.accepted, track.accepted / value) if track.accepted > 0 else 1.0
        if ratio <= self.config.max_jump or depth_usd is None or depth_usd < self.config.min_depth_usd:
            self._tracks[key] = _Track(value)
            return None
        if track.pending is not None and max(value / track.pending, track.pending / value) <= self.config.max_jump:
            track.pending_blocks += 1
        else:
            track.pending, track.pending_blocks = value, 1
        if track.pending_blocks >= self.config.confirm_blocks:
            self._tracks[key] = _Track(value)
            return None
        reason = f"jump x{ratio:.1f} in one block on a pool of {depth_usd:,.0f} USD"
        return Flag(key, block, track.accepted, value, reason)

    def accepted(self, key: str) -> float | None:
        track = self._tracks.get(key)
        return track.accepted if track else None
