"""Alert rules: what a rule says, and when it fires. Pure: no I/O.

A rule watches one subject (a protocol, coin, pool, wallet or chain) for one condition, or for
`all`/`any` of several. Two kinds of input reach it:

- levels (`Observation`): the newest value of a metric (`price`, `tvl`, `volume`, `risk`) for a subject;
- occurrences (`Occurrence`): one-off happenings (`transfer`, `mev`) with a USD size, and `anomaly`
  (an anomaly the analytics service flagged) sized by its measure (drop fraction, volume ratio, |price - 1|).

Firing uses crossing semantics: a rule fires when an input makes its condition true while the previous
input made it false, never again while it stays true. A rule created while its condition already holds
waits for it to reset and cross again. Occurrences are true only for the input that carries them.
Times are chain time (the block timestamp), so a backtest over history fires exactly as live did.
"""

from __future__ import annotations

import bisect
import math
import re
import unicodedata
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from onchain.alerts.targets import parse_webhook_url
from onchain.domain.ids import normalize_address, split_coin_id

SubjectType = Literal["protocol", "coin", "pool", "wallet", "chain"]
Metric = Literal["price", "tvl", "volume", "risk"]
OccurrenceKind = Literal["transfer", "mev", "anomaly"]
Operator = Literal["below", "above", "change", "spike", "event"]
Mode = Literal["single", "all", "any"]

DAY = 86_400

# Hard bounds on what one rule may hold, whatever the tier table says (tiers may allow less): a firing
# queues one delivery per channel, and every input on the subject evaluates every condition.
MAX_CHANNELS = 20
MAX_CONDITIONS = 50
# Sane ranges for the numbers of a rule, so every stored rule renders and evaluates: a window is also
# how much history a level keeps, and no price, TVL or USD size comes near 1e15.
MAX_COOLDOWN = 365 * DAY
MAX_WINDOW = 30 * DAY
MAX_THRESHOLD = 1e15
MAX_NAME = 200


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

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": DAY, "w": 7 * DAY}
_SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def parse_duration(value: int | float | str | None, what: str, most: int) -> int | None:
    """Seconds from `3600`, `"3600"`, `"60m"`, `"1h"`, `"7d"`; negative, malformed or above `most`
    seconds raises ValueError."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{what} must be seconds or a duration like '1h', got {value!r}")
    if isinstance(value, int | float):
        if (isinstance(value, float) and not math.isfinite(value)) or value < 0:  # an int may exceed a float
            raise ValueError(f"{what} must not be negative, got {_short(value)}")
        seconds = int(value)
    else:
        if value.strip().startswith("-"):
            raise ValueError(f"{what} must not be negative, got {_short(value)}")
        match = _DURATION.match(value.lower())
        if match is None:
            raise ValueError(f"{what} must be seconds or a duration like '15m', '1h', '7d', got {_short(value)}")
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds > most:
        raise ValueError(f"{what} must be at most {most} seconds ({most // DAY} days), got {_short(value)}")
    return seconds


def _short(value: object, limit: int = 40) -> str:
    """A value as an error message quotes it: cut short, so a huge input is not echoed whole."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_name(value: str) -> str:
    """A rule name as channels carry it (an email subject, a webhook field): trimmed, one line, printable."""
    name = value.strip()
    if not name:
        raise ValueError("name must not be empty")
    if len(name) > MAX_NAME:
        raise ValueError(f"name must be at most {MAX_NAME} characters, got {len(name)}")
    if any(unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") for char in name):
        raise ValueError("name must not contain control characters or line breaks")
    return name


def normalize_subject_id(subject_type: str, raw: str) -> str:
    """The canonical id for a subject: lower-case coin/pool ids, addresses and slugs."""
    text = raw.strip().lower()
    if subject_type in ("coin", "pool"):
        try:
            chain, address = split_coin_id(text)
        except ValueError:
            raise ValueError(f"{subject_type} id must be chain:0xaddress (40 hex digits), got {raw!r}") from None
        return f"{chain}:{address}"
    if subject_type == "wallet":
        chain, sep, address = text.rpartition(":")
        try:
            normalized = normalize_address(address)
        except ValueError:
            raise ValueError(f"wallet id must be 0xaddress or chain:0xaddress, got {raw!r}") from None
        return f"{chain}:{normalized}" if sep else normalized
    if not _SLUG.match(text):
        raise ValueError(f"{subject_type} id must be a slug like 'uniswap-v2' or 'ethereum', got {raw!r}")
    return text


# Request models. They validate and normalise; `build_rule` turns them into the evaluator's `Rule`.


class SubjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: SubjectType
    id: str

    @model_validator(mode="after")
    def _normalize(self) -> SubjectIn:
        self.id = normalize_subject_id(self.type, self.id)
        return self


class ConditionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    condition: str
    threshold: float | None = None
    window: int | str | None = None

    @field_validator("condition")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in CONDITIONS:
            raise ValueError(f"unknown condition {value!r}; expected one of {', '.join(sorted(CONDITIONS))}")
        return value

    @field_validator("window")
    @classmethod
    def _window(cls, value: int | str | None) -> int | None:
        return parse_duration(value, "window", MAX_WINDOW)

    @field_validator("threshold")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and abs(value) <= MAX_THRESHOLD):
            raise ValueError(f"threshold must be a finite number between -{MAX_THRESHOLD:g} and {MAX_THRESHOLD:g}")
        return value


class WebsocketChannel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["websocket"]


class WebhookChannel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["webhook"]
    url: str

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parse_webhook_url(value.strip())  # RefusedTarget is a ValueError: a 422 naming the problem
        return value.strip()


class EmailChannel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["email"]
    to: str

    @field_validator("to")
    @classmethod
    def _address(cls, value: str) -> str:
        if not _EMAIL.match(value.strip()):
            raise ValueError(f"email 'to' must be an address like ops@example.com, got {value!r}")
        return value.strip()


Channel = Annotated[WebsocketChannel | WebhookChannel | EmailChannel, Field(discriminator="type")]


def _default_channels() -> list[WebsocketChannel | WebhookChannel | EmailChannel]:
    return [WebsocketChannel(type="websocket")]


def channel_key(channel: WebsocketChannel | WebhookChannel | EmailChannel) -> tuple[str, str]:
    """What makes two channels the same destination: the type and where it sends (addresses ignore case)."""
    if isinstance(channel, WebhookChannel):
        return channel.type, channel.url
    if isinstance(channel, EmailChannel):
        return channel.type, channel.to.casefold()
    return channel.type, ""


class RuleIn(BaseModel):
    """A rule as the API takes it (design.md "Alerts"): one condition, or `all`/`any` of several."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str
    subject: SubjectIn
    condition: str | None = None
    threshold: float | None = None
    window: int | str | None = None
    all_: list[ConditionIn] | None = Field(default=None, alias="all")
    any_: list[ConditionIn] | None = Field(default=None, alias="any")
    cooldown: int | str | None = None
    channels: list[Channel] = Field(default_factory=_default_channels, min_length=1)
    active: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)

    @field_validator("cooldown")
    @classmethod
    def _cooldown(cls, value: int | str | None) -> int | None:
        return parse_duration(value, "cooldown", MAX_COOLDOWN)

    @field_validator("channels")
    @classmethod
    def _merge_channels(
        cls, value: list[WebsocketChannel | WebhookChannel | EmailChannel]
    ) -> list[WebsocketChannel | WebhookChannel | EmailChannel]:
        """Channels to the same destination become one (one delivery each per firing), in first-seen order."""
        merged: dict[tuple[str, str], WebsocketChannel | WebhookChannel | EmailChannel] = {}
        for channel in value:
            merged.setdefault(channel_key(channel), channel)
        if len(merged) > MAX_CHANNELS:
            raise ValueError(f"a rule takes at most {MAX_CHANNELS} distinct channels, got {len(merged)}")
        return list(merged.values())

    @model_validator(mode="after")
    def _check(self) -> RuleIn:
        given = [self.condition is not None, self.all_ is not None, self.any_ is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of 'condition', 'all' or 'any'")
        several = self.all_ if self.all_ is not None else self.any_
        if several is not None and len(several) > MAX_CONDITIONS:
            raise ValueError(f"'all'/'any' takes at most {MAX_CONDITIONS} conditions, got {len(several)}")
        if self.condition is not None:
            self.all_ = None
            single = ConditionIn(condition=self.condition, threshold=self.threshold, window=self.window)
            conditions = [single]
        else:
            if self.threshold is not None or self.window is not None:
                raise ValueError("with 'all'/'any', put threshold and window inside each condition")
            conditions = self.all_ or self.any_ or []
            if not conditions:
                raise ValueError("'all'/'any' needs at least one condition")
        for item in conditions:
            check_condition(item, self.subject.type)
        if self.condition is not None:
            self.window = conditions[0].window
            self.threshold = conditions[0].threshold
        return self

    def conditions(self) -> list[ConditionIn]:
        if self.condition is not None:
            return [ConditionIn(condition=self.condition, threshold=self.threshold, window=self.window)]
        return list(self.all_ or self.any_ or [])

    @property
    def mode(self) -> Mode:
        if self.condition is not None:
            return "single"
        return "all" if self.all_ is not None else "any"

    def to_json(self) -> dict[str, Any]:
        """The normalised rule as stored and returned (camel-case keys as in design.md)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def check_condition(item: ConditionIn, subject_type: str) -> None:
    """Raise ValueError when a condition does not fit its subject, threshold or window rules."""
    spec = CONDITIONS[item.condition]
    if subject_type not in spec.subjects:
        raise ValueError(
            f"condition {spec.name!r} does not apply to a {subject_type} subject; "
            f"use one of: {', '.join(sorted(spec.subjects))}"
        )
    threshold = item.threshold
    if spec.operator in ("below", "above"):
        if threshold is None or threshold < 0:
            raise ValueError(f"{spec.name} needs a threshold >= 0")
    elif spec.operator == "change":
        if threshold is None or threshold == 0 or threshold <= -100:
            raise ValueError(
                f"{spec.name} needs a non-zero threshold in percent: negative for a fall (> -100), positive for a rise"
            )
    elif spec.operator == "spike":
        if threshold is None or threshold <= 1:
            raise ValueError(f"{spec.name} needs a threshold > 1 (a multiple of the window's average)")
    elif spec.name == "anomaly":
        if threshold is not None and threshold < 0:
            raise ValueError("anomaly takes an optional threshold >= 0: the least anomaly value that fires")
    elif threshold is None and spec.name == "large_transfer":
        raise ValueError("large_transfer needs a threshold in USD")
    elif threshold is not None and threshold < 0:
        raise ValueError(f"{spec.name} needs a threshold >= 0 (USD)")
    if spec.operator in ("change", "spike"):
        if item.window is None:
            item.window = spec.default_window
        elif int(item.window) <= 0:
            raise ValueError(f"{spec.name} needs a window > 0")


# Evaluator records.


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


def build_rule(rule_id: str, rule_in: RuleIn) -> Rule:
    conditions = tuple(
        Condition(item.condition, float(item.threshold or 0.0), int(item.window or 0)) for item in rule_in.conditions()
    )
    return Rule(
        id=rule_id,
        subject_type=rule_in.subject.type,
        subject_id=rule_in.subject.id,
        conditions=conditions,
        mode=rule_in.mode,
        cooldown=int(rule_in.cooldown or 0),
    )


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
