"""Chain-time windows: rolling 24 h sums, hourly buckets, and values as of a past instant.

Every window ends at the newest block's timestamp, never at the wall clock, so replayed
history answers the same whenever it is asked.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque

DAY = 86_400
HOUR = 3_600


def hour_start(timestamp: int) -> int:
    return timestamp - timestamp % HOUR


def change_pct(now_value: float | None, then_value: float | None) -> float | None:
    """Percent change, None when either side is missing or the base is zero."""
    if now_value is None or then_value is None or then_value == 0:
        return None
    return (now_value / then_value - 1) * 100


class RollingSum:
    """Amounts at chain timestamps: the last 24 h, the 24 h before that, and per-hour totals."""

    def __init__(self, span: int = DAY) -> None:
        self.span = span
        self._points: deque[tuple[int, float]] = deque()
        self.hourly: dict[int, float] = {}

    def add(self, timestamp: int, amount: float) -> None:
        if self._points and self._points[-1][0] == timestamp:
            self._points[-1] = (timestamp, self._points[-1][1] + amount)
        else:
            self._points.append((timestamp, amount))
        bucket = hour_start(timestamp)
        self.hourly[bucket] = self.hourly.get(bucket, 0.0) + amount

    def total(self, now: int) -> float:
        """Sum over (now - span, now]."""
        self._prune(now)
        return sum(amount for ts, amount in self._points if now - self.span < ts <= now)

    def previous_total(self, now: int) -> float | None:
        """Sum over (now - 2 span, now - span], None while history does not reach that far back."""
        self._prune(now)
        if not self._points or self._points[0][0] > now - 2 * self.span + HOUR:
            return None
        return sum(amount for ts, amount in self._points if now - 2 * self.span < ts <= now - self.span)

    def _prune(self, now: int) -> None:
        while self._points and self._points[0][0] <= now - 2 * self.span - HOUR:
            self._points.popleft()


class LevelHistory:
    """A level (price, TVL) over chain time, to answer what it was 24 h ago."""

    def __init__(self, keep: int = DAY + HOUR) -> None:
        self.keep = keep
        self._times: list[int] = []
        self._values: list[float] = []

    def record(self, timestamp: int, value: float) -> None:
        if self._times and self._times[-1] == timestamp:
            self._values[-1] = value
            return
        self._times.append(timestamp)
        self._values.append(value)
        if len(self._times) > 64 and self._times[32] < timestamp - self.keep:
            cut = bisect_right(self._times, timestamp - self.keep) - 1
            if cut > 0:
                del self._times[:cut]
                del self._values[:cut]

    def at(self, timestamp: int) -> float | None:
        """The last value recorded at or before `timestamp`."""
        index = bisect_right(self._times, timestamp)
        return self._values[index - 1] if index else None

    def change24h(self, now: int, value: float | None) -> float | None:
        return change_pct(value, self.at(now - DAY))
