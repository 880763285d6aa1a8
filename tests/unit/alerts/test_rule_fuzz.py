"""Property test of the rule schema: any payload, however odd its numbers, names and list sizes, is either
refused with a ValidationError (the API's 422 `invalid_rule`) or gives a rule that survives everything a
stored rule goes through: the JSON the store writes and reads back, the JSON the API answers with
(orjson, as `GET /v2/alerts` renders it), and evaluation of levels and occurrences at the edges."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from pydantic import ValidationError

from onchain.alerts.book import RuleBook, backtest
from onchain.alerts.conditions import LEVEL_METRICS
from onchain.alerts.records import Observation, Occurrence
from onchain.alerts.rule_schema import RuleIn
from onchain.alerts.store import AlertRecord, alert_message
from onchain.api.errors import JSONBytesResponse
from onchain.bus.base import encode
from tests.fuzzing import EDGE_FLOATS, EDGE_INTS, WETH, rule_payloads

EDGE_VALUES = [*EDGE_FLOATS, *(float(n) for n in EDGE_INTS if abs(n) < 1e308)]
BOUNDED = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


def inputs(subject_id: str, metrics: set[str], kinds: set[str]) -> list[Observation | Occurrence]:
    """Every edge value as a level of each metric and as the size of each occurrence kind, in chain-time
    order, with timestamps at the edges too (0, 2**31, 2**63 - 1)."""
    items: list[Observation | Occurrence] = []
    for step, value in enumerate(EDGE_VALUES + EDGE_VALUES[::-1]):
        timestamp = (0, 1, 2**31, 2**32 + step, 2**63 - 1)[min(step // 8, 4)]
        for metric in sorted(metrics):
            items.append(Observation(metric, subject_id, value, timestamp, block=step, chain="ethereum"))
        for kind in sorted(kinds):
            items.append(Occurrence(kind, (subject_id,), value, timestamp, f"{kind}:{step}", step, "ethereum"))
    return items


def served(content: Any) -> bytes:
    """The body the API answers with (its default response class)."""
    return JSONBytesResponse(content).body


PAST_64_BITS = {"name": "n", "subject": {"type": "coin", "id": WETH}, "condition": "price_below", "threshold": 1}


@BOUNDED
@given(payload=rule_payloads())
@example(payload={**PAST_64_BITS, "cooldown": 2**64})
@example(payload={**PAST_64_BITS, "cooldown": "9999999999999999999999999w"})
@example(payload={**PAST_64_BITS, "condition": "price_change_pct", "window": 10**400})
@example(payload={**PAST_64_BITS, "cooldown": "1" + "0" * 400})
def test_a_rule_payload_is_refused_or_stored_served_and_evaluated(payload: dict[str, Any]) -> None:
    try:
        rule_in = RuleIn.model_validate(payload)
    except ValidationError:
        return
    stored = json.dumps(rule_in.to_json(), separators=(",", ":"))  # as AlertStore writes the `rule` column
    again = RuleIn.model_validate(json.loads(stored))
    assert again.to_json() == rule_in.to_json()
    record = AlertRecord("alert-1", "user-1", again, again.active, None, 0.0, None, "secret")
    served(record.to_json())
    served({"alerts": [record.to_json()]})

    rule = record.to_rule()
    specs = [condition.spec for condition in rule.conditions]
    metrics = {spec.source for spec in specs if spec.source in LEVEL_METRICS}
    kinds = {spec.source for spec in specs} - metrics
    book = RuleBook()
    book.add(rule)
    fired = []
    for item in inputs(rule.subject_id, metrics, kinds):
        fired.extend(book.observe(item) if isinstance(item, Observation) else book.occur(item))
    assert len(fired) == len(backtest(rule, inputs(rule.subject_id, metrics, kinds)))
    for firing in fired:
        message = alert_message(rule.id, "firing-1", again.name, firing)
        encode(message)  # what the bus and the outbox carry
        served(message)
