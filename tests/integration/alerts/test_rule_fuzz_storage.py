"""The rule schema's property test against real storage, SQLite and PostgreSQL: a rule that validates
is stored, read back (one and in the user's list, as the API reads them), replaced and deleted, equal
to itself throughout, and its answer renders as the API's JSON."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, Phase, example, given, settings
from pydantic import ValidationError

from onchain.alerts.rule_schema import RuleIn
from onchain.alerts.store import AlertStore
from onchain.api.errors import JSONBytesResponse
from onchain.storage.store import Store
from tests.fuzzing import WETH, rule_payloads

PRICE_RULE = {"name": "n", "subject": {"type": "coin", "id": WETH}, "condition": "price_below", "threshold": 1}


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(payload=rule_payloads())
@example(payload={**PRICE_RULE, "cooldown": 2**64})
@example(payload={**PRICE_RULE, "channels": [{"type": "websocket"}] * 5000, "cooldown": "1h"})
async def test_a_valid_rule_survives_the_store(store: Store, payload: dict[str, Any]) -> None:
    try:
        rule = RuleIn.model_validate(payload)
    except ValidationError:
        return
    alerts = AlertStore(store.engine)
    created = await alerts.create_alert("fuzz-user", rule, 1.0)
    try:
        read = await alerts.get_alert(created.id, "fuzz-user")
        assert read is not None and read.rule.to_json() == rule.to_json()
        listed = [alert for alert in await alerts.list_alerts("fuzz-user") if alert.id == created.id]
        assert [alert.rule.to_json() for alert in listed] == [rule.to_json()]
        JSONBytesResponse(read.to_json())
        replaced = await alerts.update_alert(created.id, "fuzz-user", rule, 2.0)
        assert replaced is not None and replaced.to_rule() == read.to_rule()
    finally:
        assert await alerts.delete_alert(created.id, "fuzz-user")
