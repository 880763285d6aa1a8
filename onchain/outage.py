"""One log line per outage for loops that retry a failing dependency, instead of one per try; and few
lines for streams that skip bad messages, instead of one per message."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


def one_line(exc: BaseException) -> str:
    """The error's first line: driver messages follow it with the SQL statement and its parameters."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


class OutageLog:
    """Say once that `what` started failing (and why), and once that it works again (after how long and
    how many failed tries); the tries in between are counted, not logged."""

    def __init__(self, logger: logging.Logger, what: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.what = what
        self.clock = clock
        self.failures = 0
        self._since: float | None = None

    @property
    def failing(self) -> bool:
        return self._since is not None

    def failed(self, exc: BaseException) -> None:
        self.failures += 1
        if self._since is None:
            self._since = self.clock()
            self.logger.warning("%s failing: %s; retrying, logged again once it works", self.what, one_line(exc))

    def succeeded(self) -> None:
        if self._since is None:
            return
        self.logger.warning("%s works again after %.1fs (%d failed tries)", self.what,
                            self.clock() - self._since, self.failures)
        self._since, self.failures = None, 0


class Backoff:
    """Capped exponential delays between tries of a failing dependency: `first`, doubling up to `most`,
    back to `first` after a success (`reset`)."""

    def __init__(self, first: float = 0.5, most: float = 30.0) -> None:
        self.first = first
        self.most = most
        self._next = first

    def delay(self) -> float:
        """The wait before the next try; each call doubles the one after, up to `most`."""
        delay, self._next = self._next, min(self._next * 2, self.most)
        return delay

    def reset(self) -> None:
        self._next = self.first


class SkipLog:
    """For a stream that skips what it cannot handle (a malformed message) and goes on: the first skip is
    logged at once, later ones at most one line per `every` seconds with how many were skipped since, so
    a sender of bad messages cannot flood the log."""

    def __init__(self, logger: logging.Logger, what: str, every: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.what = what
        self.every = every
        self.clock = clock
        self.skipped = 0
        self._unlogged = 0
        self._logged_at: float | None = None

    def skip(self, exc: BaseException) -> None:
        self.skipped += 1
        self._unlogged += 1
        now = self.clock()
        if self._logged_at is not None and now - self._logged_at < self.every:
            return
        self.logger.warning("%s: skipped %d (%d in all), the last for %s", self.what, self._unlogged,
                            self.skipped, one_line(exc))
        self._logged_at, self._unlogged = now, 0
