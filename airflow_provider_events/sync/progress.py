"""Progress log lines of a sync: counts, rate and ETA, at most every few seconds, never a payload."""

from __future__ import annotations

import time
from typing import Any

from airflow_provider_events.sync.report import DeliveryReport


class ProgressLogger:
    """Logs the report's counts at most every ``interval`` seconds.

    :param log: where to log (a ``logging.Logger`` or Airflow's task logger).
    :param report: the live report being filled by the engine.
    :param total: rows expected, when known (enables the ETA).
    :param interval: minimum seconds between two lines.
    """

    def __init__(
        self,
        log: Any,
        report: DeliveryReport,
        total: int | None = None,
        interval: float = 5.0,
    ) -> None:
        self.log = log
        self.report = report
        self.total = total
        self.interval = interval
        self.started = time.monotonic()
        self._last = self.started
        self.lines = 0

    def tick(self) -> None:
        """Log a line when the interval has passed since the last one."""
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._emit(now, final=False)

    def final(self) -> None:
        self._emit(time.monotonic(), final=True)

    def _emit(self, now: float, *, final: bool) -> None:
        r = self.report
        elapsed = max(now - self.started, 1e-9)
        rate = r.rows_read / elapsed
        eta = ""
        if not final and self.total and rate > 0 and r.rows_read < self.total:
            eta = f"; ETA {(self.total - r.rows_read) / rate:.0f}s"
        of_total = f"/{self.total}" if self.total else ""
        self.lines += 1
        self.log.info(
            "%s: %d%s rows read, %d %s, %d accepted, %d rejected, %d skipped as duplicates, %d failed; "
            "%.1f rows/s over %.1fs%s",
            "sync done" if final else "sync progress",
            r.rows_read,
            of_total,
            r.would_send if r.dry_run else r.sent,
            "would be sent" if r.dry_run else "sent",
            r.accepted + r.already_delivered,
            r.rejected,
            r.duplicates_skipped,
            r.failed,
            rate,
            elapsed,
            eta,
        )
