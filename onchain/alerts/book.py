"""The rule book: active rules indexed by what can fire them, and when they fire. Pure: no I/O.

Firing uses crossing semantics: a rule fires when an input makes its condition true while the previous
input made it false, never again while it stays true. A rule created while its condition already holds
waits for it to reset and cross again. Occurrences are true only for the input that carries them.
Times are chain time (the block timestamp), so a backtest over history fires exactly as live did.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from onchain.alerts.conditions import LEVEL_METRICS
from onchain.alerts.records import Condition, Firing, Observation, Occurrence, Rule


class _ThresholdIndex:
    """Thresholds of simple below/above rules on one level, sorted lazily on first use after a change."""

    __slots__ = ("_by_rule", "_ids", "_sorted", "_thresholds")

    def __init__(self) -> None:
        self._by_rule: dict[str, float] = {}
        self._thresholds: list[float] = []
        self._ids: list[str] = []
        self._sorted = True

    def __len__(self) -> int:
        return len(self._by_rule)

    def add(self, rule_id: str, threshold: float) -> None:
        self._by_rule[rule_id] = threshold
        self._sorted = False

    def discard(self, rule_id: str) -> None:
        if self._by_rule.pop(rule_id, None) is not None:
            self._sorted = False

    def _ensure_sorted(self) -> None:
        if not self._sorted:
            pairs = sorted(self._by_rule.items(), key=lambda item: item[1])
            self._ids = [rule_id for rule_id, _ in pairs]
            self._thresholds = [threshold for _, threshold in pairs]
            self._sorted = True

    def crossed_below(self, previous: float, value: float) -> list[str]:
        """Rules `x < t` that `previous` left false and `value` makes true: t in (value, previous]."""
        self._ensure_sorted()
        ths = self._thresholds
        return self._ids[bisect.bisect_right(ths, value) : bisect.bisect_right(ths, previous)]

    def crossed_above(self, previous: float, value: float) -> list[str]:
        """Rules `x > t` that `previous` left false and `value` makes true: t in [previous, value)."""
        self._ensure_sorted()
        ths = self._thresholds
        return self._ids[bisect.bisect_left(ths, previous) : bisect.bisect_left(ths, value)]

    def at_most(self, value: float) -> list[str]:
        """Rules whose threshold `value` reaches (occurrence size >= threshold)."""
        self._ensure_sorted()
        return self._ids[: bisect.bisect_right(self._thresholds, value)]


class _Level:
    """What the book knows about one (metric, subject): its last value, history, and the rules on it."""

    __slots__ = (
        "above",
        "below",
        "block",
        "breakdown",
        "generic",
        "history",
        "history_sum",
        "history_window",
        "timestamp",
        "value",
    )

    def __init__(self) -> None:
        self.value: float | None = None
        self.timestamp = 0
        self.block: int | None = None
        self.breakdown: Mapping[str, float] | None = None
        self.below = _ThresholdIndex()
        self.above = _ThresholdIndex()
        self.generic: dict[str, int] = {}  # rule id -> longest window it needs here
        self.history: deque[tuple[int, float]] | None = None
        self.history_sum = 0.0
        self.history_window = 0

    def retune_history(self) -> None:
        self.history_window = max(self.generic.values(), default=0)
        if self.history_window and self.history is None:
            self.history = deque()
            self.history_sum = 0.0
        elif not self.history_window:
            self.history = None
            self.history_sum = 0.0

    def prune(self, now: int) -> None:
        """Drop samples older than the window, keeping the newest one at or before its start as reference."""
        history = self.history
        if history is None:
            return
        start = now - self.history_window
        while len(history) >= 2 and history[1][0] <= start:
            self.history_sum -= history.popleft()[1]

    def remember(self, timestamp: int, value: float) -> None:
        if self.history is not None:
            self.history.append((timestamp, value))
            self.history_sum += value
            self.prune(timestamp)

    def past(self) -> tuple[tuple[int, float] | None, float | None]:
        """Reference sample and average before the current value (the newest sample is the current value)."""
        history = self.history
        if not history or len(history) < 2:
            return None, None
        return history[0], (self.history_sum - history[-1][1]) / (len(history) - 1)


class _EventIndex:
    __slots__ = ("generic", "thresholds")

    def __init__(self) -> None:
        self.thresholds = _ThresholdIndex()
        self.generic: set[str] = set()


class RuleBook:
    """Active rules indexed by what can fire them; feed it inputs, get firings back.

    A level update looks at the rules on its own (metric, subject) only; simple threshold rules are found
    by bisecting sorted thresholds between the previous and the new value, so an update costs
    O(log n + fired), whatever the number of rules. Composite, change and spike rules on a subject are
    evaluated one by one when their subject moves.
    """

    def __init__(self, seen_capacity: int = 100_000) -> None:
        self._rules: dict[str, Rule] = {}
        self._levels: dict[tuple[str, str], _Level] = {}
        self._events: dict[tuple[str, str], _EventIndex] = {}
        self._state: dict[str, bool | None] = {}  # composite rules: last evaluated truth
        self._last_fired: dict[str, int] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_capacity = seen_capacity
        self._watching: dict[str, int] = {}  # occurrence kind -> rules reading it

    def __len__(self) -> int:
        return len(self._rules)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._rules

    def get(self, rule_id: str) -> Rule | None:
        return self._rules.get(rule_id)

    def watches(self, kind: str) -> bool:
        """Whether any rule reads occurrences of `kind` (lets callers skip building them)."""
        return self._watching.get(kind, 0) > 0

    def add(self, rule: Rule, last_fired: int | None = None) -> None:
        """Add or replace a rule. `last_fired` (chain time) carries its cooldown across restarts."""
        self.remove(rule.id)
        self._rules[rule.id] = rule
        if last_fired is not None:
            self._last_fired[rule.id] = last_fired
        if rule.is_simple_threshold:
            cond = rule.conditions[0]
            level = self._level(cond.spec.source, rule.subject_id)
            (level.below if cond.spec.operator == "below" else level.above).add(rule.id, cond.threshold)
            return
        for cond in rule.conditions:
            spec = cond.spec
            if spec.source in LEVEL_METRICS:
                level = self._level(spec.source, rule.subject_id)
                level.generic[rule.id] = max(level.generic.get(rule.id, 0), cond.window)
                level.retune_history()
            else:
                self._watching[spec.source] = self._watching.get(spec.source, 0) + 1
                index = self._event(spec.source, rule.subject_id)
                if rule.mode == "single":
                    index.thresholds.add(rule.id, cond.threshold)
                else:
                    index.generic.add(rule.id)
        if rule.mode != "single" or rule.conditions[0].spec.operator != "event":
            self._state[rule.id] = self._evaluate(rule, None)

    def remove(self, rule_id: str) -> None:
        rule = self._rules.pop(rule_id, None)
        if rule is None:
            return
        self._state.pop(rule_id, None)
        self._last_fired.pop(rule_id, None)
        for cond in rule.conditions:
            spec = cond.spec
            key = (spec.source, rule.subject_id)
            if spec.source in LEVEL_METRICS:
                level = self._levels.get(key)
                if level is not None:
                    level.below.discard(rule_id)
                    level.above.discard(rule_id)
                    if level.generic.pop(rule_id, None) is not None:
                        level.retune_history()
            else:
                self._watching[spec.source] -= 1
                index = self._events.get(key)
                if index is not None:
                    index.thresholds.discard(rule_id)
                    index.generic.discard(rule_id)

    def last_fired(self, rule_id: str) -> int | None:
        return self._last_fired.get(rule_id)

    def _level(self, metric: str, subject_id: str) -> _Level:
        level = self._levels.get((metric, subject_id))
        if level is None:
            level = self._levels[(metric, subject_id)] = _Level()
        return level

    def _event(self, kind: str, subject_id: str) -> _EventIndex:
        index = self._events.get((kind, subject_id))
        if index is None:
            index = self._events[(kind, subject_id)] = _EventIndex()
        return index

    def observe(self, obs: Observation) -> list[Firing]:
        """Take a level update; return the rules it made fire."""
        level = self._levels.get((obs.metric, obs.subject_id))
        if level is None:
            level = self._levels[(obs.metric, obs.subject_id)] = _Level()
        previous = level.value
        value = obs.value
        if previous is not None and (
            obs.timestamp < level.timestamp or (obs.block == level.block and value == previous)
        ):
            return []  # older than what we hold, or the same update delivered again
        fired: list[Firing] = []
        if previous is not None:
            if value < previous and level.below:
                for rule_id in level.below.crossed_below(previous, value):
                    self._fire_level(fired, rule_id, obs, previous, level.breakdown)
            elif value > previous and level.above:
                for rule_id in level.above.crossed_above(previous, value):
                    self._fire_level(fired, rule_id, obs, previous, level.breakdown)
        if level.generic:
            reference: tuple[int, float] | None = None
            baseline: float | None = None
            history = level.history
            if history:
                level.prune(obs.timestamp)
                reference = history[0]
                baseline = level.history_sum / len(history)
            level.value, level.timestamp, level.block = value, obs.timestamp, obs.block
            context = _Context(obs, reference, baseline, None, level)
            for rule_id in level.generic:
                self._step_level(fired, rule_id, context)
            level.remember(obs.timestamp, value)
        else:
            level.value, level.timestamp, level.block = value, obs.timestamp, obs.block
        if obs.breakdown is not None:
            level.breakdown = obs.breakdown
        return fired

    def occur(self, occ: Occurrence) -> list[Firing]:
        """Take a one-off happening; return the rules it made fire (each happening counted once)."""
        if occ.key in self._seen:
            return []
        self._seen[occ.key] = None
        if len(self._seen) > self._seen_capacity:
            self._seen.popitem(last=False)
        fired: list[Firing] = []
        for subject_id in occ.subject_ids:
            index = self._events.get((occ.kind, subject_id))
            if index is None:
                continue
            for rule_id in index.thresholds.at_most(occ.value_usd):
                rule = self._rules[rule_id]
                cond = rule.conditions[0]
                data = {
                    **occ.data,
                    "subject": {"type": rule.subject_type, "id": rule.subject_id},
                    _size_key(occ.kind): occ.value_usd,
                    "threshold": cond.threshold,
                }
                self._emit(fired, rule, occ.timestamp, occ.block, occ.chain, f"{occ.kind}:{occ.key}", data)
            for rule_id in list(index.generic):
                self._step_occurrence(fired, rule_id, occ)
        return fired

    def _fire_level(
        self,
        fired: list[Firing],
        rule_id: str,
        obs: Observation,
        previous: float,
        breakdown: Mapping[str, float] | None,
    ) -> None:
        rule = self._rules[rule_id]
        cond = rule.conditions[0]
        data: dict[str, Any] = {
            "subject": {"type": rule.subject_type, "id": rule.subject_id},
            "metric": obs.metric,
            "value": obs.value,
            "previous": previous,
            "threshold": cond.threshold,
        }
        moved = moved_by(breakdown, obs.breakdown)
        if moved:
            data["moved"] = moved
        self._emit(fired, rule, obs.timestamp, obs.block, obs.chain, _level_key(obs), data)

    def _step_level(self, fired: list[Firing], rule_id: str, context: _Context) -> None:
        """Re-evaluate a composite/change/spike rule after its subject moved; fire on false -> true."""
        rule = self._rules[rule_id]
        obs = context.obs
        assert obs is not None
        now = self._evaluate(rule, context)
        before = self._state.get(rule_id)
        self._state[rule_id] = now
        if now is not True or before is not False:
            return
        data: dict[str, Any] = {"subject": {"type": rule.subject_type, "id": rule.subject_id}}
        data["conditions"] = self._details(rule, context)
        moved = moved_by(self._levels[(obs.metric, obs.subject_id)].breakdown, obs.breakdown)
        if moved:
            data["moved"] = moved
        self._emit(fired, rule, obs.timestamp, obs.block, obs.chain, _level_key(obs), data)

    def _step_occurrence(self, fired: list[Firing], rule_id: str, occ: Occurrence) -> None:
        """Evaluate a composite rule with an occurrence, which is true for this input only."""
        rule = self._rules[rule_id]
        context = _Context(None, None, None, occ, None)
        now = self._evaluate(rule, context)
        before = self._state.get(rule_id)
        self._state[rule_id] = self._evaluate(rule, None)
        if now is not True or before is True:
            return
        data: dict[str, Any] = {**occ.data, "subject": {"type": rule.subject_type, "id": rule.subject_id}}
        data["conditions"] = self._details(rule, context)
        data[_size_key(occ.kind)] = occ.value_usd
        self._emit(fired, rule, occ.timestamp, occ.block, occ.chain, f"{occ.kind}:{occ.key}", data)

    def _evaluate(self, rule: Rule, context: _Context | None) -> bool | None:
        """The rule's truth now; None when some level it reads has no value yet."""
        if rule.mode == "single":
            return self._condition(rule, rule.conditions[0], context, None)
        unknown = False
        if rule.mode == "any":
            for cond in rule.conditions:
                result = self._condition(rule, cond, context, None)
                if result:
                    return True
                unknown = unknown or result is None
            return None if unknown else False
        for cond in rule.conditions:
            result = self._condition(rule, cond, context, None)
            if result is False:
                return False
            unknown = unknown or result is None
        return None if unknown else True

    def _details(self, rule: Rule, context: _Context) -> list[dict[str, Any]]:
        """What each true condition saw, for the firing record (computed only when a rule fires)."""
        details: list[dict[str, Any]] = []
        for cond in rule.conditions:
            detail: dict[str, Any] = {"condition": cond.name, "threshold": cond.threshold}
            if self._condition(rule, cond, context, detail):
                details.append(detail)
        return details

    def _condition(
        self, rule: Rule, cond: Condition, context: _Context | None, detail: dict[str, Any] | None
    ) -> bool | None:
        spec = cond.spec
        if spec.operator == "event":
            occ = context.occ if context is not None else None
            hit = occ is not None and occ.kind == spec.source and occ.value_usd >= cond.threshold
            if hit and detail is not None and occ is not None:
                detail[_size_key(occ.kind)] = occ.value_usd
            return hit
        moving = context is not None and context.obs is not None and context.obs.metric == spec.source
        level = context.level if moving and context is not None else self._levels.get((spec.source, rule.subject_id))
        if level is None or level.value is None:
            return None
        value = level.value
        if detail is not None:
            detail["value"] = value
        operator = spec.operator
        if operator == "below":
            return value < cond.threshold
        if operator == "above":
            return value > cond.threshold
        if moving and context is not None:
            reference, baseline = context.reference, context.baseline
        else:
            reference, baseline = level.past()
        if operator == "change":
            if reference is None or reference[1] == 0:
                return None
            change = (value - reference[1]) / abs(reference[1]) * 100.0
            if detail is not None:
                detail.update(reference=reference[1], referenceTimestamp=reference[0], changePct=change)
            return change <= cond.threshold if cond.threshold < 0 else change >= cond.threshold
        if baseline is None or baseline <= 0:
            return None
        if detail is not None:
            detail.update(average=baseline, ratio=value / baseline)
        return value >= cond.threshold * baseline

    def _emit(
        self,
        fired: list[Firing],
        rule: Rule,
        timestamp: int,
        block: int | None,
        chain: str | None,
        dedupe_key: str,
        data: dict[str, Any],
    ) -> None:
        last = self._last_fired.get(rule.id)
        if last is not None and timestamp - last < rule.cooldown:
            return
        self._last_fired[rule.id] = timestamp
        data["condition"] = rule.label
        data["timestamp"] = timestamp
        if block is not None:
            data["block"] = block
        if chain is not None:
            data["chain"] = chain
        fired.append(Firing(rule.id, rule.label, timestamp, block, chain, dedupe_key, data))


@dataclass(slots=True)
class _Context:
    obs: Observation | None
    reference: tuple[int, float] | None
    baseline: float | None
    occ: Occurrence | None
    level: _Level | None  # the level `obs` updated


def _size_key(kind: str) -> str:
    """Where a firing records an occurrence's size: USD for transfers and MEV, the measure for anomalies."""
    return "value" if kind == "anomaly" else "valueUsd"


def _level_key(obs: Observation) -> str:
    at = obs.block if obs.block is not None else obs.timestamp
    return f"{obs.metric}:{obs.subject_id}:{at}"


def moved_by(
    before: Mapping[str, float] | None, after: Mapping[str, float] | None, limit: int = 5
) -> list[dict[str, Any]]:
    """The tokens whose share changed most between two breakdowns (for TVL: which tokens moved it)."""
    if not before or not after:
        return []
    deltas = [(key, after.get(key, 0.0) - before.get(key, 0.0)) for key in set(before) | set(after)]
    deltas = [item for item in deltas if item[1] != 0.0]
    deltas.sort(key=lambda item: abs(item[1]), reverse=True)
    return [{"token": key, "delta": delta} for key, delta in deltas[:limit]]


def backtest(rule: Rule, inputs: Iterable[Observation | Occurrence]) -> list[Firing]:
    """Run one rule over past inputs (in chain-time order) with the live evaluator: when it would have fired."""
    book = RuleBook()
    book.add(rule)
    fired: list[Firing] = []
    for item in inputs:
        fired.extend(book.observe(item) if isinstance(item, Observation) else book.occur(item))
    return fired
