"""Credentials never reach a log line: API keys, bearer tokens and secret query parameters are replaced
by `[redacted]` in every record, whichever logger made it (uvicorn's `WebSocket /v2/realtime?api_key=...`
line, its access log, ours, libraries').

Installed as a log record factory, so it covers every handler, including those uvicorn configures
after us; only text changes, so formatters that expect a record's arguments (uvicorn's access log
unpacks five) still get them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"
_SECRETS = (
    # key=value in URLs and forms: ?api_key=..., &token=..., access_token, id_token, client_secret, password
    (
        re.compile(
            r"(?i)\b((?:x[-_])?api[-_]?key|(?:access_|id_|refresh_|auth_)?token|jwt|client_secret|secret|password)"
            r"=[^&\s\"'#;,]+"
        ),
        rf"\1={REDACTED}",
    ),
    # header-style: "Authorization: Bearer ...", "X-API-Key: ...", ('authorization', 'Basic ...')
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), rf"\1 {REDACTED}"),
    (re.compile(r"(?i)\b(x-api-key['\"]?\s*[:,]\s*['\"]?)[^\s'\",]+"), rf"\1{REDACTED}"),
    # anything shaped like one of our keys (longer than the displayed prefix) or a JWT, wherever it is
    (re.compile(r"onk_[A-Za-z0-9_-]{16,}"), f"onk_{REDACTED}"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), REDACTED),
)


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    shown = str(value)  # URLs, headers, exceptions: formatted with %s, so their text is what counts
    cleaned = redact(shown)
    return value if cleaned == shown else cleaned


def redact_record(record: logging.LogRecord) -> None:
    """Redact a record's message, arguments, exception text and stack in place."""
    if isinstance(record.msg, str):
        record.msg = redact(record.msg)
    elif record.msg is not None and not isinstance(record.msg, (int, float)):
        record.msg = _redacted(record.msg)
    if isinstance(record.args, Mapping):
        record.args = {name: _redacted(value) for name, value in record.args.items()}
    elif isinstance(record.args, tuple):
        record.args = tuple(_redacted(value) for value in record.args)
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def redact_credentials_in_logs() -> None:
    """Make every log record of this process redacted from now on (idempotent)."""
    make = logging.getLogRecordFactory()
    if getattr(make, "redacts_credentials", False):
        return

    def redacting(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        redact_record(record)
        return record

    redacting.redacts_credentials = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacting)
