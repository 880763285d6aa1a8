"""Reading call traces: the dialects' spellings of a value are read, anything else is named, not guessed."""

from __future__ import annotations

from typing import Any

import pytest

from onchain.analytics.mev import parse_calls
from onchain.errors import MalformedResponseError

TX = "0x" + "ab" * 32


def _call(**changes: Any) -> dict[str, Any]:
    trace: dict[str, Any] = {
        "type": "call", "transaction_hash": TX, "transaction_position": 0, "trace_address": [],
        "action": {"from": "0x" + "11" * 20, "to": "0x" + "22" * 20, "value": "0x10", "input": "0xA9059CBB"},
        "result": {"output": "0x"},
    }  # fmt: skip
    for key, value in changes.items():
        if key.startswith("action_"):
            trace["action"][key.removeprefix("action_")] = value
        else:
            trace[key] = value
    return trace


@pytest.mark.parametrize("value", ["0x10", "16", 16, None])
def test_values_in_every_dialect(value: object) -> None:
    [call] = parse_calls([_call(action_value=value)])
    assert call.value == (0 if value is None else 16)
    assert call.input == "0xa9059cbb"


@pytest.mark.parametrize(
    ("trace", "message"),
    [
        (_call(action_value="0xZZ"), "trace 1: action.value: expected a quantity, got '0xZZ'"),
        (_call(action_value=-1), "trace 1: action.value"),
        (_call(action_value=True), "trace 1: action.value"),
        (_call(action="bad"), "trace 1: action and result must be JSON objects"),
        (_call(result=[1]), "trace 1: action and result must be JSON objects"),
        (_call(action_input="0xnothex"), "trace 1: action.input: expected hex data"),
        (_call(trace_address=["0"]), "trace 1: trace address"),
        (_call(transaction_position="first"), "trace 1: transaction position"),
        ("not a trace", "trace 1: expected a JSON object"),
    ],
)
def test_a_malformed_trace_is_named(trace: Any, message: str) -> None:
    with pytest.raises(MalformedResponseError, match=message.replace("(", r"\(")):
        parse_calls([_call(), trace])
