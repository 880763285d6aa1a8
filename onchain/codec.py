"""JSON with exact integers of any size, shared by the bus, the store and the API.

uint256 amounts routinely exceed 64 bits. JSON itself has no integer limit, so bus payloads, API bodies
and stored event `args` are JSON text whose integers keep every digit, on SQLite and PostgreSQL alike.
It sits below both edges so the bus does not import storage. Read it back with
`decode_args` (stdlib `json`): `orjson.loads` would silently turn big integers into floats.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import orjson

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def _exact(value: Any) -> Any:
    """Integers orjson cannot write become raw JSON number fragments; containers are walked."""
    if type(value) is int:
        return value if _INT64_MIN <= value <= _INT64_MAX else orjson.Fragment(str(value))
    if isinstance(value, dict):
        return {key: _exact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_exact(item) for item in value]
    return value


def dumps(value: Any, option: int = 0) -> bytes:
    """Compact JSON bytes, exact for integers of any size (orjson, with big ints as number fragments).
    The walk runs only when orjson refuses the value as it is, so the common case costs one call."""
    try:
        return orjson.dumps(value, option=option)
    except TypeError:
        return orjson.dumps(_exact(value), option=option)


def encode_args(args: dict[str, Any]) -> str:
    """Compact JSON text of one event's args, on the write path. msgspec writes integers of any size
    exactly and in one pass (about 40% of mainnet events carry a uint256 above 2**63, which orjson
    refuses); the text is the same as `dumps` gives."""
    return _ARGS_ENCODER.encode(args).decode()


_ARGS_ENCODER = msgspec.json.Encoder()


def decode_args(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"event args must be a JSON object, got {type(value).__name__}")
    return value
