"""Event arguments as JSON text with exact integers of any size.

uint256 amounts routinely exceed 64 bits. JSON itself has no integer limit, so `args` is stored as
JSON text whose integers keep every digit, on SQLite and PostgreSQL alike. Read it back with
`decode_args` (stdlib `json`): `orjson.loads` would silently turn big integers into floats.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def encode_args(args: dict[str, Any]) -> str:
    """Compact JSON; orjson for speed, stdlib json when an integer exceeds 64 bits."""
    try:
        return orjson.dumps(args).decode()
    except TypeError:
        return json.dumps(args, separators=(",", ":"), ensure_ascii=False)


def decode_args(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"event args must be a JSON object, got {type(value).__name__}")
    return value

