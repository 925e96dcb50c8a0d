"""A thread-safe token bucket that paces requests to a vendor's rate limit."""

from __future__ import annotations

import threading
import time


class TokenBucket:
    """Allow ``rate`` acquisitions per second on average, with bursts of at most ``burst``.

    :param rate: tokens added per second; ``None`` or ``0`` disables pacing.
    :param burst: bucket size; defaults to one second's worth of the rate capped at ``rate`` (at least 1).
    """

    def __init__(self, rate: float | None, burst: float | None = None) -> None:
        self.rate = float(rate or 0)
        self.capacity = float(burst if burst is not None else max(1.0, min(self.rate, 10.0)))
        self._tokens = self.capacity
        self._updated = time.monotonic()
        self._lock = threading.Lock()
        self.waited_seconds = 0.0

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
            self.waited_seconds += wait
        if wait > 0:
            time.sleep(wait)
        return wait
