"""How a run ends: the error raised when it stopped early, or when its outcome breaks a threshold.

:func:`check_outcome` fails the task, in this order, when events failed (retryable: a task retry resends
exactly those), when more events are in doubt than ``max_in_doubt`` / ``max_in_doubt_ratio`` allow, or when
more rows were rejected than ``max_rejected`` / ``max_rejected_ratio`` allow. Each error carries the report.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow_provider_events.exceptions import (
    DeliveryAbortedError,
    DeliveryIncompleteError,
    EventsProviderError,
    InDoubtThresholdExceededError,
    RejectedThresholdExceededError,
    VendorApiError,
    VendorRateLimitedError,
    VendorServerError,
    VendorUnavailableError,
)

if TYPE_CHECKING:
    from airflow_provider_events.sync.engine import SyncOptions
    from airflow_provider_events.sync.per_event import _Abort
from airflow_provider_events.sync.report import DeliveryReport
from airflow_provider_events.sync.thresholds import exceeded_limits

#: failures that survive the hook's retries and do not say anything about the event itself.
_TRANSIENT = (VendorRateLimitedError, VendorServerError, VendorUnavailableError)


def _aborted(abort: _Abort, report: DeliveryReport, log: Any) -> Exception:
    log.error("sync stopped; report so far: %s", json.dumps(report.to_dict()))
    if isinstance(abort.error, (VendorApiError, *_TRANSIENT)):
        error: Exception = DeliveryAbortedError(abort.message)
    else:
        error = abort.error
    if isinstance(error, EventsProviderError):
        # the provider's errors declare ``report``; an unexpected error (a bug) is raised as it is, and
        # the report so far is in the log line above
        error.report = report
    if error is not abort.error:
        error.__cause__ = abort.error
    return error


def check_outcome(report: DeliveryReport, options: SyncOptions, log: Any) -> None:
    """Raise when the run must fail: undelivered events first (retryable), then the rejects threshold.

    :raises DeliveryIncompleteError: when events failed (not acknowledged; a task retry resends them).
    :raises RejectedThresholdExceededError: when more rows were rejected than allowed.
    """
    error: EventsProviderError | None = None
    if report.failed:
        error = DeliveryIncompleteError(
            f"{report.failed} events could not be delivered to {report.vendor} after every retry; "
            "they were not acknowledged, so a task retry sends them (and only them) again"
        )
    elif exceeded_limits(
        report.in_doubt, report.rows_read, options.max_in_doubt, options.max_in_doubt_ratio, name="in_doubt"
    ):
        where = f" They are listed in {report.rejects_path} (stage in_doubt)." if report.rejects_path else ""
        error = InDoubtThresholdExceededError(
            f"{report.in_doubt} of {report.rows_read} events are in doubt: they may or may not have reached "
            f"{report.vendor} (a timeout or dropped connection after sending, or in the air when an attempt "
            f"was killed) and were not resent, to avoid duplicates (retry_ambiguous=False).{where} "
            "What to do: "
            "check them at the vendor and resend the missing ones; or accept possible duplicates with "
            "retry_ambiguous=True; or accept possible losses with max_in_doubt / max_in_doubt_ratio. "
            "Everything else was delivered."
        )
    else:
        limits = exceeded_limits(
            report.rejected, report.rows_read, options.max_rejected, options.max_rejected_ratio
        )
        if limits:
            where = f"; see {report.rejects_path}" if report.rejects_path else ""
            error = RejectedThresholdExceededError(
                f"{report.rejected} of {report.rows_read} rows rejected ({report.rejected_ratio:.2%}), "
                f"over {' and '.join(limits)}{where}. The valid rows were delivered."
            )
    if error is not None:
        log.error("sync report: %s", json.dumps(report.to_dict()))
        error.report = report
        raise error
