"""Log redaction: every credential form we know of, in a message, its arguments and its traceback, with
uvicorn's access formatter (which unpacks the arguments) still working."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest
from uvicorn.logging import AccessFormatter

from onchain.accounts.keys import generate_key
from onchain.accounts.redact import redact, redact_credentials_in_logs, redact_record

KEY = generate_key()
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLWJ5dGVz"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"/v2/realtime?api_key={KEY}", "/v2/realtime?api_key=[redacted]"),
        (f"/v2/realtime?chains=eth&token={JWT}&x=1", "/v2/realtime?chains=eth&token=[redacted]&x=1"),
        (
            "?access_token=abc&client_secret=s3&password=pw",
            "?access_token=[redacted]&client_secret=[redacted]&password=[redacted]",
        ),
        (f"Authorization: Bearer {JWT}", "Authorization: Bearer [redacted]"),
        ("(b'authorization', b'Basic dXNlcjpwdw==')", "(b'authorization', b'Basic [redacted]')"),
        (f"{{'X-API-Key': '{KEY}'}}", "{'X-API-Key': '[redacted]'}"),
        (f"key {KEY} failed", "key onk_[redacted] failed"),
        (f"token {JWT}", "token [redacted]"),
        ("prefix onk_abcdefgh... tokens=5 cursor_token=3", "prefix onk_abcdefgh... tokens=5 cursor_token=3"),
    ],
)
def test_redact(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_uvicorn_access_line_keeps_its_shape() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/v2/chains?api_key={KEY}", "1.1", 200), None,
    )
    redact_record(record)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False).format(record)
    assert line == '127.0.0.1:5000 - "GET /v2/chains?api_key=[redacted] HTTP/1.1" 200 OK'


def test_traceback_and_object_arguments() -> None:
    try:
        raise ValueError(f"bad key {KEY}")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed for %s: %r", (KEY, {"k": KEY}), sys.exc_info()
        )
    redact_record(record)
    text = logging.Formatter().format(record)
    assert KEY not in text and KEY[4:] not in text and "ValueError: bad key onk_[redacted]" in text


@pytest.fixture
def restored_factory() -> Iterator[None]:
    original = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(original)


def test_installed_for_every_logger_once(restored_factory: None, caplog: pytest.LogCaptureFixture) -> None:
    redact_credentials_in_logs()
    redact_credentials_in_logs()
    with caplog.at_level(logging.INFO), caplog.at_level(logging.INFO, logger="uvicorn.error"):
        accepted = '%s - "WebSocket %s" [accepted]'
        logging.getLogger("uvicorn.error").info(accepted, "127.0.0.1:1", f"/v2/realtime?api_key={KEY}")
        logging.getLogger("onchain.anything").warning(f"header X-API-Key: {KEY}")
    assert KEY not in caplog.text and caplog.text.count("[redacted]") == 2
