"""OutageLog: one line when failing starts, one when it ends, however many tries fail in between."""

from __future__ import annotations

import logging

import pytest

from onchain.outage import Backoff, OutageLog, SkipLog, one_line


def test_one_line_per_outage_with_duration_and_tries(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    outage = OutageLog(logging.getLogger("outage-test"), "polling", clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="outage-test")
    outage.succeeded()
    for _ in range(50):
        outage.failed(ConnectionRefusedError("refused"))
    now[0] = 112.5
    outage.succeeded()
    outage.succeeded()
    outage.failed(OSError("again"))
    assert [r.getMessage() for r in caplog.records] == [
        "polling failing: ConnectionRefusedError: refused; retrying, logged again once it works",
        "polling works again after 12.5s (50 failed tries)",
        "polling failing: OSError: again; retrying, logged again once it works",
    ]
    assert outage.failing and outage.failures == 1


def test_one_line_drops_the_statement_a_driver_error_carries() -> None:
    error = RuntimeError("(asyncpg.Error) database \"x\" does not exist\n[SQL: SELECT secret FROM keys]")
    assert one_line(error) == 'RuntimeError: (asyncpg.Error) database "x" does not exist'


def test_backoff_doubles_up_to_its_cap_and_starts_over_after_a_success() -> None:
    backoff = Backoff(0.5, 3.0)
    assert [backoff.delay() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.delay() == 0.5


def test_skips_are_logged_at_most_once_a_period_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    skipping = SkipLog(logging.getLogger("skip-test"), "feed", every=60.0, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="skip-test")
    for _ in range(1000):
        skipping.skip(ValueError("bad"))
    now[0] = 61.0
    skipping.skip(KeyError("id"))
    assert [r.getMessage() for r in caplog.records] == [
        "feed: skipped 1 (1 in all), the last for ValueError: bad",
        "feed: skipped 1000 (1001 in all), the last for KeyError: 'id'",
    ]
