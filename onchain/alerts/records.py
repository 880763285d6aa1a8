"""What the rule book holds, takes and gives: rules and their conditions, the inputs (levels and
occurrences), and the firings they cause."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from onchain.alerts.conditions import CONDITIONS, ConditionSpec, Mode


@dataclass(frozen=True, slots=True)
class Condition:
    name: str
    threshold: float
    window: int = 0
    spec: ConditionSpec = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "spec", CONDITIONS[self.name])


@dataclass(frozen=True, slots=True)
class Rule:
    """A validated, active rule as the evaluator holds it."""

    id: str
    subject_type: str
    subject_id: str
    conditions: tuple[Condition, ...]
    mode: Mode = "single"
    cooldown: int = 0

    @property
    def label(self) -> str:
        """What the `condition` field of an alert message says: the condition, or `all`/`any`."""
        return self.conditions[0].name if self.mode == "single" else self.mode

    @property
    def is_simple_threshold(self) -> bool:
        """One `below`/`above` condition on a level: served by the sorted threshold index."""
        return self.mode == "single" and self.conditions[0].spec.operator in ("below", "above")


@dataclass(slots=True)
class Observation:
    """The newest value of a metric for a subject, with where it came from. Not frozen only because
    frozen dataclasses construct four times slower and one is built per market update; never mutated."""

    metric: str
    subject_id: str
    value: float
    timestamp: int
    block: int | None = None
    chain: str | None = None
    breakdown: Mapping[str, float] | None = None  # e.g. TVL by token, to say which tokens moved it


@dataclass(frozen=True, slots=True)
class Occurrence:
    """A one-off happening (a transfer, an MEV finding, an anomaly) touching several subjects at once;
    `value_usd` is its size (for an anomaly, its measure, not USD)."""

    kind: str
    subject_ids: tuple[str, ...]
    value_usd: float
    timestamp: int
    key: str  # unique per happening, e.g. `chain:tx:log_index`; dedupes redelivered inputs
    block: int | None = None
    chain: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Firing:
    """A rule fired: the input that made it fire, ready to store and deliver."""

    rule_id: str
    condition: str
    timestamp: int
    block: int | None
    chain: str | None
    dedupe_key: str
    data: dict[str, Any]
