"""Alert rules as the API takes them: request models that validate and normalise names, subjects,
conditions, durations and channels, and `build_rule`, which turns one into the rule book's `Rule`."""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from onchain.alerts.conditions import CONDITIONS, DAY, Mode, SubjectType
from onchain.alerts.records import Condition, Rule
from onchain.alerts.targets import parse_webhook_url
from onchain.domain.ids import normalize_address, split_coin_id

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
