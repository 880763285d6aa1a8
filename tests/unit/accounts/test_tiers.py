"""The tier table and its overrides."""

from __future__ import annotations

import itertools

import pytest

from onchain.accounts.tiers import ANALYTICS, DEFAULT_TIERS, TIER_NAMES, build_tiers, feature_for_path, lowest_tier_with
from onchain.errors import ConfigError


def test_each_tier_gives_at_least_what_the_one_below_gives() -> None:
    tiers = [DEFAULT_TIERS[name] for name in TIER_NAMES]
    for lower, higher in itertools.pairwise(tiers):
        assert higher.requests_per_minute > lower.requests_per_minute
        assert higher.websocket_connections > lower.websocket_connections
        assert higher.alerts > lower.alerts
        assert higher.alert_channels > lower.alert_channels and higher.alert_conditions > lower.alert_conditions
        assert lower.features <= higher.features
    assert lowest_tier_with(DEFAULT_TIERS, ANALYTICS) == "pro"


def test_overrides_change_only_what_they_name() -> None:
    tiers = build_tiers({"pro": {"requests_per_minute": 7, "features": ["realtime"]}})
    assert tiers["pro"].requests_per_minute == 7 and tiers["pro"].features == frozenset({"realtime"})
    assert tiers["pro"].alerts == DEFAULT_TIERS["pro"].alerts and tiers["free"] == DEFAULT_TIERS["free"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"gold": {"alerts": 1}},
        {"pro": {"requests_per_minute": -1}},
        {"pro": {"requests_per_minute": True}},
        {"pro": {"rpm": 5}},
        {"pro": {"features": ["teleport"]}},
        {"enterprise": {"alert_channels": 21}},
        {"enterprise": {"alert_conditions": 51}},
    ],
)
def test_bad_overrides_are_configuration_errors(overrides: dict[str, dict[str, object]]) -> None:
    with pytest.raises(ConfigError):
        build_tiers(overrides)


def test_feature_paths() -> None:
    assert feature_for_path("/v2/analytics/mev") == ANALYTICS
    assert feature_for_path("/v2/analytics") == ANALYTICS
    assert feature_for_path("/v2/protocols/uniswap-v2/analytics") == ANALYTICS
    assert feature_for_path("/v2/protocols/uniswap-v2/metrics") is None
    assert feature_for_path("/v2/analyticsx") is None
