"""How a sync runs: :class:`SyncOptions`, the operator's arguments of the same names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.sync.thresholds import Threshold

__all__ = ["SyncOptions"]


@dataclass
class SyncOptions:
    """How a sync runs (the operator's arguments of the same names).

    :param key_columns: source columns (or top-level mapped fields) forming the idempotency key; ``None``:
        a hash of the rendered record.
    :param max_concurrency: concurrent requests (per-event vendors); ``None``: the adapter's default.
    :param max_requests_per_second: client-side pacing; ``None``: the connection's
        ``max_requests_per_second`` extra, else the adapter's default, else the hook's.
    :param dry_run: read, map, validate and write rejects; send nothing.
    :param retry_ambiguous: resend an event whose outcome is unknown once (at-least-once) instead of never
        (at-most-once, the default).
    :param wait_for_completion: batch vendors: wait for the submitted jobs.
    :param max_rejected: fail the task when more rows than this were rejected.
    :param max_rejected_ratio: fail the task when rejected / rows read exceeds this. Both ``None``: the
        default of :mod:`~airflow_provider_events.sync.thresholds` (any reject fails).
    :param max_in_doubt: fail the task when more events than this are in doubt (may or may not have reached
        the vendor and were not resent). Both in-doubt limits ``None``: the thresholds' default, any event in
        doubt fails the task, after everything else was delivered.
    :param max_in_doubt_ratio: fail the task when in doubt / rows read exceeds this.
    :param max_consecutive_failures: stop when this many events in a row could not be delivered.
    :param progress_interval: seconds between progress log lines.
    """

    key_columns: Sequence[str] | None = None
    max_concurrency: int | None = None
    max_requests_per_second: float | None = None
    dry_run: bool = False
    retry_ambiguous: bool = False
    wait_for_completion: bool = True
    max_rejected: int | None = None
    max_rejected_ratio: float | None = None
    max_in_doubt: int | None = None
    max_in_doubt_ratio: float | None = None
    max_consecutive_failures: int = 25
    progress_interval: float = 5.0

    def __post_init__(self) -> None:
        if isinstance(self.key_columns, str):
            self.key_columns = [self.key_columns]
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise ConfigurationError(f"max_concurrency must be at least 1, got {self.max_concurrency}")
        if self.max_requests_per_second is not None and self.max_requests_per_second < 0:
            raise ConfigurationError("max_requests_per_second must not be negative")
        Threshold.resolve(self.max_rejected, self.max_rejected_ratio)  # raises for a bad limit
        Threshold.resolve(self.max_in_doubt, self.max_in_doubt_ratio, name="in_doubt")
        if self.max_consecutive_failures < 1:
            raise ConfigurationError("max_consecutive_failures must be at least 1")
