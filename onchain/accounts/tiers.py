"""Subscription tiers: what each tier may do and how often (the seed's `UserPermissions`).

Pure data. Operators may override any number per tier in settings (`tiers = {"pro": {...}}`); the
defaults below are what a self-hosted instance offers out of the box.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from onchain.accounts.tier_names import TIER_NAMES as TIER_NAMES  # re-exported: the service reads it here
from onchain.alerts.rule_schema import MAX_CHANNELS, MAX_CONDITIONS
from onchain.errors import ConfigError

ANALYTICS = "analytics"
IP_ALLOWLIST = "ip_allowlist"
FEATURES: frozenset[str] = frozenset({"realtime", "alerts", ANALYTICS, IP_ALLOWLIST})

# Requests whose path matches need the feature; everything else under /v2 is open to every tier.
_FEATURE_PATHS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^/v2/analytics(/|$)"), ANALYTICS),
    (re.compile(r"^/v2/protocols/[^/]+/analytics/?$"), ANALYTICS),
)


@dataclass(frozen=True, slots=True)
class Tier:
    """One tier's limits. `requests_per_minute` is also the burst: a full bucket allows that many at once.
    `alert_channels` and `alert_conditions` bound one rule, so one firing's work stays small."""

    name: str
    requests_per_minute: int
    websocket_connections: int
    alerts: int
    api_keys: int
    alert_channels: int
    alert_conditions: int
    features: frozenset[str]

    def allows(self, feature: str) -> bool:
        return feature in self.features

    def to_json(self) -> dict[str, Any]:
        return {
            "tier": self.name,
            "requestsPerMinute": self.requests_per_minute,
            "websocketConnections": self.websocket_connections,
            "alerts": self.alerts,
            "apiKeys": self.api_keys,
            "alertChannels": self.alert_channels,
            "alertConditions": self.alert_conditions,
            "features": sorted(self.features),
        }


DEFAULT_TIERS: Mapping[str, Tier] = {
    "free": Tier("free", 60, 2, 3, 2, 3, 5, frozenset({"realtime", "alerts"})),
    "basic": Tier("basic", 300, 5, 25, 5, 5, 10, frozenset({"realtime", "alerts"})),
    "pro": Tier("pro", 1200, 25, 200, 20, 10, 25, frozenset({"realtime", "alerts", ANALYTICS})),
    "enterprise": Tier("enterprise", 6000, 200, 2000, 100, MAX_CHANNELS, MAX_CONDITIONS, frozenset(FEATURES)),
}

_NUMBERS = {f.name for f in fields(Tier)} - {"name", "features"}
# Per-rule caps cannot go past what any stored rule may hold (onchain.alerts.rule_schema).
_CEILINGS = {"alert_channels": MAX_CHANNELS, "alert_conditions": MAX_CONDITIONS}


def build_tiers(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Tier]:
    """The default tiers with `overrides` applied; unknown tiers, fields or bad values are a ConfigError."""
    tiers = dict(DEFAULT_TIERS)
    for name, changes in (overrides or {}).items():
        if name not in tiers:
            raise ConfigError(f"tiers: unknown tier {name!r}; tiers are {', '.join(TIER_NAMES)}")
        values: dict[str, Any] = {}
        for key, value in changes.items():
            if key in _NUMBERS:
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ConfigError(f"tiers.{name}.{key} must be a non-negative integer, got {value!r}")
                if value > _CEILINGS.get(key, value):
                    raise ConfigError(f"tiers.{name}.{key} must be at most {_CEILINGS[key]}, got {value}")
                values[key] = value
            elif key == "features":
                if not isinstance(value, list) or not set(value) <= FEATURES:
                    raise ConfigError(f"tiers.{name}.features must be a list drawn from {sorted(FEATURES)}")
                values[key] = frozenset(value)
            else:
                raise ConfigError(f"tiers.{name}: unknown limit {key!r}")
        tiers[name] = replace(tiers[name], **values)
    return tiers


def feature_for_path(path: str) -> str | None:
    """The feature a request path needs, if any."""
    for pattern, feature in _FEATURE_PATHS:
        if pattern.match(path):
            return feature
    return None


def lowest_tier_with(tiers: Mapping[str, Tier], feature: str) -> str | None:
    return next((name for name in TIER_NAMES if tiers[name].allows(feature)), None)
