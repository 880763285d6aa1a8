"""Rule validation and evaluation, driven by a real day of ETH prices (Uniswap V3 USDC/WETH, 2024-01-05)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from onchain.alerts.book import RuleBook, backtest
from onchain.alerts.records import Condition, Observation, Occurrence, Rule
from onchain.alerts.rule_schema import RuleIn, build_rule, parse_duration

WETH = "ethereum:0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
PRICE_FILE = "demeter-fetch/ethereum-0x88e6a0c2ddd26feeb64f039a2c41296fcb3f5640-2024-01-05.rel-price.csv"


@pytest.fixture(scope="module")
def eth_minutes(chaindata: Path) -> list[Observation]:
    """1,440 per-minute ETH prices in USDC as price observations (block = minute index)."""
    rows = list(csv.DictReader((chaindata / PRICE_FILE).open()))
    out = []
    for minute, row in enumerate(rows):
        ts = int(datetime.strptime(row["block_timestamp"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp())
        out.append(Observation("price", WETH, float(row["eth"]), ts, block=minute, chain="ethereum"))
    return out


def rule(condition: str, threshold: float, window: int = 0, cooldown: int = 0, rule_id: str = "r1") -> Rule:
    return Rule(rule_id, "coin", WETH, (Condition(condition, threshold, window),), "single", cooldown)


def naive_crossings(prices: list[float], threshold: float, below: bool) -> list[int]:
    """Indexes where the condition turns true; the first price is the baseline."""
    hits = []
    for i in range(1, len(prices)):
        before = prices[i - 1] < threshold if below else prices[i - 1] > threshold
        now = prices[i] < threshold if below else prices[i] > threshold
        if now and not before:
            hits.append(i)
    return hits


def test_price_below_fires_on_each_crossing_not_while_true(eth_minutes: list[Observation]) -> None:
    fired = backtest(rule("price_below", 2250.0), eth_minutes)
    prices = [obs.value for obs in eth_minutes]
    assert [f.block for f in fired] == naive_crossings(prices, 2250.0, below=True)
    assert len(fired) == 9
    first = fired[0]
    assert first.data["previous"] >= 2250.0 > first.data["value"]
    assert first.data["block"] == first.block and first.data["condition"] == "price_below"
    assert first.dedupe_key == f"price:{WETH}:{first.block}"


def test_price_above_and_unreached_thresholds(eth_minutes: list[Observation]) -> None:
    prices = [obs.value for obs in eth_minutes]
    assert [f.block for f in backtest(rule("price_above", 2240.0), eth_minutes)] == naive_crossings(
        prices, 2240.0, below=False
    )
    assert backtest(rule("price_below", 2200.0), eth_minutes) == []  # the day's low is 2209.98


def test_cooldown_suppresses_refiring(eth_minutes: list[Observation]) -> None:
    free = backtest(rule("price_below", 2240.0), eth_minutes)
    cooled = backtest(rule("price_below", 2240.0, cooldown=3600), eth_minutes)
    assert len(free) == 17
    assert 0 < len(cooled) < len(free)
    times = [f.timestamp for f in cooled]
    assert all(b - a >= 3600 for a, b in pairwise(times))


def test_price_change_pct_over_window(eth_minutes: list[Observation]) -> None:
    fired = backtest(rule("price_change_pct", -1.0, window=3600), eth_minutes)
    assert fired, "ETH fell more than 1% within an hour that day"
    for firing in fired:
        detail = firing.data["conditions"][0]
        assert detail["changePct"] <= -1.0
        assert firing.timestamp - detail["referenceTimestamp"] >= 3600 or detail["referenceTimestamp"] == (
            eth_minutes[0].timestamp
        )
    # crossing semantics: between two firings the condition went false again
    assert len(fired) < sum(1 for _ in eth_minutes) // 10


def test_stale_and_repeated_updates_are_ignored() -> None:
    book = RuleBook()
    book.add(rule("price_below", 100.0))
    assert book.observe(Observation("price", WETH, 120.0, 10, block=1)) == []
    assert len(book.observe(Observation("price", WETH, 90.0, 20, block=2))) == 1
    assert book.observe(Observation("price", WETH, 90.0, 20, block=2)) == []  # redelivered
    assert book.observe(Observation("price", WETH, 130.0, 5, block=0)) == []  # older than held
    assert book.observe(Observation("price", WETH, 95.0, 30, block=3)) == []  # still true


def test_rule_created_while_true_waits_for_reset() -> None:
    book = RuleBook()
    book.observe(Observation("price", WETH, 90.0, 10, block=1))
    book.add(rule("price_below", 100.0))
    assert book.observe(Observation("price", WETH, 80.0, 20, block=2)) == []
    assert book.observe(Observation("price", WETH, 110.0, 30, block=3)) == []
    assert [f.block for f in book.observe(Observation("price", WETH, 99.0, 40, block=4))] == [4]


def test_only_rules_on_the_updated_subject_are_touched() -> None:
    book = RuleBook()
    other = "ethereum:0xdac17f958d2ee523a2206206994597c13d831ec7"
    book.add(rule("price_below", 100.0, rule_id="weth"))
    book.add(Rule("usdt", "coin", other, (Condition("price_below", 0.99),)))
    book.observe(Observation("price", other, 1.0, 1))
    book.observe(Observation("price", WETH, 120.0, 1))
    assert [f.rule_id for f in book.observe(Observation("price", other, 0.98, 2))] == ["usdt"]
    book.remove("usdt")
    assert book.observe(Observation("price", other, 1.0, 3)) == []
    assert book.observe(Observation("price", other, 0.5, 4)) == []


def test_large_transfer_dedupes_and_matches_any_party() -> None:
    wallet = "0x28c6c06298d514db089934071355e5743bf21d60"
    book = RuleBook()
    book.add(Rule("big", "wallet", wallet, (Condition("large_transfer", 1_000_000.0),)))
    occ = Occurrence(
        "transfer",
        (wallet, f"ethereum:{wallet}", WETH, "ethereum"),
        2_500_000.0,
        1_700_000_000,
        key="ethereum:0xabc:7",
        block=17173049,
        chain="ethereum",
        data={"token": WETH, "from": wallet},
    )
    fired = book.occur(occ)
    assert [f.rule_id for f in fired] == ["big"]
    assert fired[0].data["valueUsd"] == 2_500_000.0 and fired[0].dedupe_key == "transfer:ethereum:0xabc:7"
    assert book.occur(occ) == []
    small = Occurrence("transfer", (wallet,), 10.0, 1_700_000_001, key="ethereum:0xabd:1")
    assert book.occur(small) == []


def test_all_of_two_metrics_fires_once_both_hold() -> None:
    book = RuleBook()
    both = Rule(
        "both",
        "protocol",
        "uniswap-v2",
        (Condition("tvl_below", 1000.0), Condition("volume_spike", 3.0, 3600)),
        "all",
    )
    book.add(both)
    book.observe(Observation("tvl", "uniswap-v2", 900.0, 0, block=1))
    for i, volume in enumerate([10.0, 11.0, 9.0]):
        assert book.observe(Observation("volume", "uniswap-v2", volume, 60 * (i + 1), block=2 + i)) == []
    fired = book.observe(Observation("volume", "uniswap-v2", 50.0, 240, block=5))
    assert [f.condition for f in fired] == ["all"]
    kinds = {item["condition"] for item in fired[0].data["conditions"]}
    assert kinds == {"tvl_below", "volume_spike"}
    assert book.observe(Observation("volume", "uniswap-v2", 60.0, 300, block=6)) == []


def test_any_with_an_occurrence() -> None:
    book = RuleBook()
    book.add(
        Rule(
            "any",
            "chain",
            "ethereum",
            (Condition("tvl_below", 10.0), Condition("mev_detected", 0.0)),
            "any",
        )
    )
    book.observe(Observation("tvl", "ethereum", 100.0, 0))
    mev = Occurrence("mev", ("ethereum",), 1234.0, 12, key="sandwich:0x1", data={"kind": "sandwich"})
    fired = book.occur(mev)
    assert [f.condition for f in fired] == ["any"] and fired[0].data["kind"] == "sandwich"
    again = Occurrence("mev", ("ethereum",), 5.0, 24, key="sandwich:0x2")
    assert len(book.occur(again)) == 1  # an occurrence is true only for itself, so each one crosses


def test_tvl_firing_says_which_tokens_moved_it() -> None:
    book = RuleBook()
    book.add(Rule("tvl", "protocol", "uniswap-v2", (Condition("tvl_below", 1000.0),)))
    book.observe(Observation("tvl", "uniswap-v2", 1500.0, 0, breakdown={"weth": 1000.0, "usdt": 500.0}))
    fired = book.observe(Observation("tvl", "uniswap-v2", 700.0, 12, breakdown={"weth": 250.0, "usdt": 450.0}))
    assert fired[0].data["moved"] == [{"token": "weth", "delta": -750.0}, {"token": "usdt", "delta": -50.0}]


@settings(max_examples=60, deadline=None)
@given(
    thresholds=st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=30),
    prices=st.lists(st.floats(0, 100, allow_nan=False), min_size=2, max_size=40),
)
def test_threshold_index_agrees_with_naive_evaluation(thresholds: list[float], prices: list[float]) -> None:
    book = RuleBook()
    for i, threshold in enumerate(thresholds):
        book.add(rule("price_below" if i % 2 else "price_above", threshold, rule_id=f"r{i}"))
    fired: list[tuple[int, str]] = []
    for step, price in enumerate(prices):
        fired.extend((step, f.rule_id) for f in book.observe(Observation("price", WETH, price, step, block=step)))
    expected = []
    for i, threshold in enumerate(thresholds):
        expected.extend((step, f"r{i}") for step in naive_crossings(prices, threshold, below=bool(i % 2)))
    assert sorted(fired) == sorted(expected)


def payload(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "weth under 2000",
        "subject": {"type": "coin", "id": WETH.upper().replace("ETHEREUM", "Ethereum")},
        "condition": "price_below",
        "threshold": 2000,
        "channels": [{"type": "webhook", "url": "https://hooks.example.com/a"}, {"type": "email", "to": "a@b.io"}],
    }
    base.update(overrides)
    return base


def test_valid_rule_is_normalized() -> None:
    parsed = RuleIn.model_validate(payload(cooldown="15m"))
    assert parsed.subject.id == WETH and parsed.cooldown == 900 and parsed.mode == "single"
    built = build_rule("id1", parsed)
    assert built.conditions == (Condition("price_below", 2000.0, 0),) and built.cooldown == 900
    doc = parsed.to_json()
    assert doc["subject"] == {"type": "coin", "id": WETH} and "all" not in doc
    composite = RuleIn.model_validate(
        payload(
            subject={"type": "protocol", "id": "Uniswap-V2"},
            condition=None,
            threshold=None,
            any=[{"condition": "tvl_change_pct", "threshold": -20}, {"condition": "tvl_below", "threshold": 5e6}],
        )
    )
    assert composite.mode == "any" and composite.to_json()["any"][0]["window"] == 86400


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"condition": "price_bellow"}, "unknown condition 'price_bellow'"),
        ({"subject": {"type": "coin", "id": "weth"}}, "coin id must be chain:0xaddress"),
        ({"subject": {"type": "coin", "id": "ethereum:0x1234"}}, "coin id must be chain:0xaddress"),
        ({"condition": "price_change_pct", "threshold": -5, "window": -60}, "window must not be negative"),
        ({"condition": "price_change_pct", "threshold": -5, "window": "soon"}, "duration like"),
        ({"cooldown": -1}, "cooldown must not be negative"),
        ({"condition": "tvl_below"}, "does not apply to a coin subject"),
        ({"threshold": None}, "price_below needs a threshold"),
        ({"condition": "price_change_pct", "threshold": -100}, "non-zero threshold"),
        ({"all": [{"condition": "price_below", "threshold": 1}]}, "exactly one of"),
        ({"channels": [{"type": "webhook", "url": "ftp://x"}]}, "absolute http(s) URL"),
        ({"channels": [{"type": "email", "to": "nobody"}]}, "email 'to'"),
        ({"channels": [{"type": "sms", "to": "1"}]}, "sms"),
        ({"channels": []}, "at least 1"),
        ({"cooldown": 18446744073709551616}, "cooldown must be at most 31536000 seconds"),
        ({"cooldown": "99999999999999999999w"}, "cooldown must be at most"),
        ({"cooldown": "400d"}, "cooldown must be at most"),
        ({"condition": "price_change_pct", "threshold": -5, "window": 18446744073709551616}, "window must be at most"),
        ({"condition": "price_change_pct", "threshold": -5, "window": "31d"}, "window must be at most 2592000"),
        ({"threshold": 18446744073709551616}, "threshold must be a finite number between"),
        ({"threshold": -1e300}, "threshold must be a finite number between"),
        ({"name": "ok\r\nBcc: everyone@example.com"}, "control characters"),
        ({"name": "red\x1b[31m"}, "control characters"),
        ({"name": "one\u2028two"}, "control characters"),
        ({"name": "  "}, "name must not be empty"),
        ({"name": "x" * 201}, "at most 200 characters"),
        (
            {"channels": [{"type": "webhook", "url": f"https://example.com/{i}"} for i in range(21)]},
            "at most 20 distinct channels, got 21",
        ),
        (
            {
                "condition": None,
                "threshold": None,
                "any": [{"condition": "price_below", "threshold": i} for i in range(51)],
            },
            "at most 50 conditions, got 51",
        ),
    ],
)
def test_invalid_rules_say_what_is_wrong(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        RuleIn.model_validate(payload(**overrides))
    assert message in str(info.value)


def test_duplicate_channels_merge_into_one_each() -> None:
    hook = {"type": "webhook", "url": "https://example.com/hook"}
    channels = [
        *[{"type": "websocket"}] * 5000,
        *[hook] * 5000,
        {"type": "email", "to": "Ops@Example.com"},
        {"type": "email", "to": "ops@example.com"},
        {"type": "webhook", "url": "https://example.com/other"},
    ]
    parsed = RuleIn.model_validate(payload(channels=channels, name="  weth low  "))
    assert [channel.model_dump() for channel in parsed.channels] == [
        {"type": "websocket"},
        hook,
        {"type": "email", "to": "Ops@Example.com"},
        {"type": "webhook", "url": "https://example.com/other"},
    ]
    assert parsed.name == "weth low"


def test_durations() -> None:
    week = 7 * 86_400
    assert parse_duration("1h", "w", week) == 3600 and parse_duration(90, "w", week) == 90
    assert parse_duration("7d", "w", week) == week and parse_duration(None, "w", week) is None


def test_anomaly_condition_fires_on_its_subject_and_the_pools_protocol() -> None:
    """An `anomaly` rule reads the analytics service's `anomalies` topic; a pool's anomaly also touches
    its protocol and chain, and the optional threshold is the least anomaly value that fires."""
    from onchain.alerts.engine import Evaluator
    from onchain.analytics.anomalies import Anomaly
    from onchain.domain.topics import ANOMALIES as ANOMALIES_TOPIC

    pool = "ethereum:0xb4e16d0168e52d35cacd2c6185b44281ec28c9dc"
    evaluator = Evaluator()
    evaluator.book.add(Rule("on-pool", "pool", pool, (Condition("anomaly", 0.0),)))
    evaluator.book.add(Rule("on-protocol", "protocol", "uniswap-v2", (Condition("anomaly", 0.9),)))
    evaluator.book.add(Rule("elsewhere", "protocol", "curve", (Condition("anomaly", 0.0),)))
    drop = Anomaly("tvl_drop", "pool", pool, "ethereum", 17173049, 1683000000, 0.85, 0.5,
                   {"protocol": "uniswap-v2", "from": 2.0e7, "to": 3.0e6})
    fired = evaluator.evaluate(ANOMALIES_TOPIC, drop.as_dict())
    assert [f.rule_id for f in fired] == ["on-pool"]  # 0.85 is under on-protocol's threshold
    [firing] = fired
    assert firing.block == 17173049 and firing.data["kind"] == "tvl_drop" and firing.data["value"] == 0.85
    assert firing.data["anomaly"] == {"type": "pool", "id": pool} and "valueUsd" not in firing.data
    assert evaluator.evaluate(ANOMALIES_TOPIC, drop.as_dict()) == []  # the same anomaly redelivered
    deeper = Anomaly("tvl_drop", "pool", pool, "ethereum", 17173050, 1683000012, 0.95, 0.5, {"protocol": "uniswap-v2"})
    assert sorted(f.rule_id for f in evaluator.evaluate(ANOMALIES_TOPIC, [deeper.as_dict()])) == [
        "on-pool", "on-protocol"
    ]
    with pytest.raises(ValidationError, match="does not apply to a wallet subject"):
        RuleIn.model_validate(payload(subject={"type": "wallet", "id": "0x" + "11" * 20}, condition="anomaly",
                                      threshold=None))
    with pytest.raises(ValidationError, match="least anomaly value"):
        RuleIn.model_validate(payload(subject={"type": "pool", "id": pool}, condition="anomaly", threshold=-1))
