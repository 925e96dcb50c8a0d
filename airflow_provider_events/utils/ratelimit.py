"""Client-side pacing: a token bucket (average rate, small bursts) and a sliding window (hard cap)."""

from __future__ import annotations

import collections
import math
import threading
import time
from typing import Protocol


class RateLimiter(Protocol):
    """What a hook needs from a pacer: a ``rate`` (0 = unpaced) and a blocking :meth:`acquire`."""

    rate: float

    def acquire(self, tokens: float = 1.0) -> float:
        """Block until a call may go; return the seconds spent waiting."""


class TokenBucket:
    """Allow ``rate`` acquisitions per second on average, with bursts of at most ``burst``.

    A full bucket lets ``burst`` calls go at once and then refills at ``rate``, so one second can hold up
    to ``burst + rate`` calls: use :class:`SlidingWindowLimiter` where the vendor counts calls per second.

    :param rate: tokens added per second; ``None`` or ``0`` disables pacing.
    :param burst: bucket size; defaults to one second's worth of the rate capped at ``rate`` (at least 1).
    """

    def __init__(self, rate: float | None, burst: float | None = None) -> None:
        self.rate = float(rate or 0)
        self.capacity = float(burst if burst is not None else max(1.0, min(self.rate, 10.0)))
        self._tokens = self.capacity
        self._updated = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self, tokens: float = 1.0) -> float:
        """Block until ``tokens`` are available; return the seconds spent waiting."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= tokens
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            time.sleep(wait)
        return wait


class SlidingWindowLimiter:
    """At most ``rate`` calls in any one-second window (``limit`` calls per ``window`` seconds in general).

    Unlike a token bucket, a burst never borrows from the next second: the call after ``limit`` calls waits
    until the oldest of them is ``window`` (plus ``margin``, to absorb the delay between this clock and the
    vendor's) seconds old. For a rate below 1/s the window is stretched to hold one call.

    :param rate: calls per second; ``None`` or ``0`` disables pacing.
    :param window: the counting window in seconds (the vendor's: 1 s for "N calls per second").
    :param margin: seconds added to the window.
    """

    def __init__(self, rate: float | None, *, window: float = 1.0, margin: float = 0.05) -> None:
        self.rate = float(rate or 0)
        self.limit = max(1, math.floor(self.rate * window)) if self.rate > 0 else 0
        self.window = self.limit / self.rate if self.rate > 0 else window
        self.margin = margin
        self._times: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def acquire(self, tokens: float = 1.0) -> float:
        """Block until one more call fits in the window; return the seconds spent waiting.

        The waiting happens under the lock, so concurrent callers go out in order, one slot each.
        """
        if self.rate <= 0:
            return 0.0
        waited = 0.0
        with self._lock:
            for _ in range(max(1, math.ceil(tokens))):
                now = time.monotonic()
                if len(self._times) >= self.limit:
                    wait = self._times[0] + self.window + self.margin - now
                    if wait > 0:
                        time.sleep(wait)
                        waited += wait
                        now = time.monotonic()
                    self._times.popleft()
                self._times.append(now)
        return waited
