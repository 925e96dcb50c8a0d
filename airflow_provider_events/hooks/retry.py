"""Retry policy of the HTTP core: which failures are retried, how long to wait, and when a retry is safe."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclass(frozen=True)
class RetryPolicy:
    """How the HTTP core retries.

    :param max_attempts: total attempts per request, the first included (1 disables retries).
    :param backoff_initial: seconds of the first exponential backoff step.
    :param backoff_max: cap of one exponential backoff wait, in seconds.
    :param retry_after_max: cap of a wait asked for by a ``Retry-After`` header, in seconds.
    :param retry_statuses: HTTP statuses that are retried.
    :param unprocessed_statuses: statuses that prove the vendor did not process the request, so even a
        non-idempotent request may be sent again (429 and 503 are rejections before processing).
    """

    max_attempts: int = 6
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 120.0
    retry_statuses: frozenset[int] = field(default=frozenset({429, 500, 502, 503, 504}))
    unprocessed_statuses: frozenset[int] = field(default=frozenset({429, 503}))

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter for the given 1-based attempt that just failed."""
        ceiling = min(self.backoff_max, self.backoff_initial * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography

    def wait_for(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before the next attempt; a vendor's ``Retry-After`` wins over the backoff."""
        if retry_after is not None:
            return min(self.retry_after_max, retry_after) * random.uniform(1.0, 1.1)  # noqa: S311
        return self.backoff(attempt)

    @classmethod
    def from_extras(cls, extras: dict[str, Any], **overrides: Any) -> RetryPolicy:
        """Build a policy from connection extras (``max_retries``, ``backoff_max``, ``retry_after_max``)."""
        values: dict[str, Any] = {}
        if extras.get("max_retries") not in (None, ""):
            values["max_attempts"] = int(extras["max_retries"]) + 1
        for name in ("backoff_initial", "backoff_max", "retry_after_max"):
            if extras.get(name) not in (None, ""):
                values[name] = float(extras[name])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Parse a ``Retry-After`` header given as delta-seconds or as an HTTP date; ``None`` when absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)
