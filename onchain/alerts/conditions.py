"""The rule vocabulary: the subjects a rule watches, the conditions it may name and what each reads.

A rule watches one subject (a protocol, coin, pool, wallet or chain) for one condition, or for
`all`/`any` of several. Two kinds of input reach it:

- levels (`Observation`): the newest value of a metric (`price`, `tvl`, `volume`, `risk`) for a subject;
- occurrences (`Occurrence`): one-off happenings (`transfer`, `mev`) with a USD size, and `anomaly`
  (an anomaly the analytics service flagged) sized by its measure (drop fraction, volume ratio, |price - 1|).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SubjectType = Literal["protocol", "coin", "pool", "wallet", "chain"]
Metric = Literal["price", "tvl", "volume", "risk"]
OccurrenceKind = Literal["transfer", "mev", "anomaly"]
Operator = Literal["below", "above", "change", "spike", "event"]
Mode = Literal["single", "all", "any"]

DAY = 86_400


@dataclass(frozen=True, slots=True)
class ConditionSpec:
    """What a condition name means: the input it reads, how it compares, and where it applies."""

    name: str
    source: str  # a Metric or an OccurrenceKind
    operator: Operator
    subjects: frozenset[str]
    default_window: int = 0


_LEVEL_SUBJECTS = frozenset({"protocol", "pool", "chain"})

CONDITIONS: dict[str, ConditionSpec] = {
    spec.name: spec
    for spec in (
        ConditionSpec("tvl_below", "tvl", "below", _LEVEL_SUBJECTS),
        ConditionSpec("tvl_above", "tvl", "above", _LEVEL_SUBJECTS),
        ConditionSpec("tvl_change_pct", "tvl", "change", _LEVEL_SUBJECTS, DAY),
        ConditionSpec("price_below", "price", "below", frozenset({"coin"})),
        ConditionSpec("price_above", "price", "above", frozenset({"coin"})),
        ConditionSpec("price_change_pct", "price", "change", frozenset({"coin"}), DAY),
        ConditionSpec("volume_spike", "volume", "spike", _LEVEL_SUBJECTS, DAY),
        ConditionSpec("large_transfer", "transfer", "event", frozenset({"wallet", "coin", "chain"})),
        ConditionSpec("mev_detected", "mev", "event", frozenset({"chain", "pool", "protocol", "wallet"})),
        ConditionSpec("risk_above", "risk", "above", frozenset({"protocol"})),
        ConditionSpec("anomaly", "anomaly", "event", frozenset({"protocol", "pool", "coin", "chain"})),
    )
}
LEVEL_METRICS: frozenset[str] = frozenset({"price", "tvl", "volume", "risk"})
