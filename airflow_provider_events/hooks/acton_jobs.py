"""The Act-On upload-job vocabulary: job status, its classification, job errors and totals over jobs.

Shared by the hook, the delivery adapter, the operators, the sensor and the trigger: one status rule
(:func:`classify_job_status`) and one rejected-rows check (:func:`summarize_jobs`) serve them all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

from airflow_provider_events.exceptions import EventsProviderError, RejectedThresholdExceededError

#: the job-status error code for an unknown or expired job id.
EXPIRED_JOB_ERROR_CODE = 10017


class ActOnJobStatus(str, Enum):
    """Where an Act-On custom-event upload job stands."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: Act-On does not know the job id (never existed, or expired): errorCode 10017.
    EXPIRED = "expired"

    @property
    def terminal(self) -> bool:
        """True when the job will not change any more."""
        return self not in (ActOnJobStatus.PENDING, ActOnJobStatus.RUNNING)


@dataclass(frozen=True)
class ActOnCustomEventJob:
    """One upload job as Act-On reports it.

    :param job_id: the ``jobId`` returned by the upload.
    :param status: the classified status.
    :param append_count: rows appended (``details.appendCount``), once succeeded.
    :param rejected_count: rows rejected (``details.rejectedCount``), once succeeded.
    :param message: the vendor's status text, or its reason for a failed/expired job.
    """

    job_id: str
    status: ActOnJobStatus
    append_count: int | None = None
    rejected_count: int | None = None
    message: str = ""

    @property
    def terminal(self) -> bool:
        return self.status.terminal

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (trigger events, XCom)."""
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ActOnCustomEventJob:
        return cls(
            job_id=str(data["job_id"]),
            status=ActOnJobStatus(data["status"]),
            append_count=data.get("append_count"),
            rejected_count=data.get("rejected_count"),
            message=str(data.get("message") or ""),
        )


def as_int(value: Any) -> int | None:
    """``value`` as an int, or ``None`` when it is not one (vendor counts arrive as text or numbers)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def is_expired_job_error(body: Any) -> bool:
    """True for Act-On's "Invalid or expired Job Id" error body (errorCode 10017)."""
    if not isinstance(body, Mapping):
        return False
    return as_int(body.get("errorCode")) == EXPIRED_JOB_ERROR_CODE


def classify_job_status(job_id: str, body: Any, http_status: int = 200) -> ActOnCustomEventJob:
    """THE status rule, shared by hook, sensor, trigger and operators.

    - a 400 whose body has ``errorCode`` 10017 -> :attr:`ActOnJobStatus.EXPIRED`;
    - top-level ``status == "success"`` (case-insensitive) -> :attr:`ActOnJobStatus.SUCCEEDED`, with the
      counts read from ``details`` (or from the ``jobDetails`` JSON string when ``details`` is absent);
    - a ``status`` mentioning *pending* / *running* (case-insensitive) -> PENDING / RUNNING;
    - anything else -> :attr:`ActOnJobStatus.FAILED` with the body's message.

    :param job_id: the job id asked about.
    :param body: the decoded JSON body.
    :param http_status: the HTTP status of the answer.
    """
    if http_status >= 400:
        if is_expired_job_error(body):
            message = str(body.get("message") or "Invalid or expired Job Id")
            return ActOnCustomEventJob(job_id, ActOnJobStatus.EXPIRED, message=message)
        return ActOnCustomEventJob(job_id, ActOnJobStatus.FAILED, message=describe_job_body(body))
    if not isinstance(body, Mapping):
        return ActOnCustomEventJob(job_id, ActOnJobStatus.FAILED, message=describe_job_body(body))
    status_text = str(body.get("status") or "").strip()
    lowered = status_text.lower()
    if lowered == "success":
        details = body.get("details")
        if not isinstance(details, Mapping):
            details = _json_object(body.get("jobDetails"))
        return ActOnCustomEventJob(
            job_id,
            ActOnJobStatus.SUCCEEDED,
            append_count=as_int(details.get("appendCount")) or 0,
            rejected_count=as_int(details.get("rejectedCount")) or 0,
            message=status_text,
        )
    if "pending" in lowered:
        return ActOnCustomEventJob(job_id, ActOnJobStatus.PENDING, message=status_text)
    if "running" in lowered:
        return ActOnCustomEventJob(job_id, ActOnJobStatus.RUNNING, message=status_text)
    return ActOnCustomEventJob(job_id, ActOnJobStatus.FAILED, message=describe_job_body(body))


class ActOnJobFailedError(EventsProviderError):
    """An upload job ended without success (failed, or unknown/expired before it was seen succeeding).

    :param job: the job as last seen, with the vendor's reason in ``message``.
    """

    def __init__(self, job: ActOnCustomEventJob) -> None:
        self.job = job
        super().__init__(f"Act-On job {job.job_id} {job.status.value}: {job.message}")


class ActOnJobTimeoutError(EventsProviderError):
    """Jobs were still pending or running when the wait's deadline passed."""


@dataclass(frozen=True)
class JobsSummary:
    """Totals over finished jobs.

    :param job_ids: the jobs, in submission order.
    :param appended: rows appended by all jobs.
    :param rejected: rows rejected by all jobs.
    """

    job_ids: list[str]
    appended: int
    rejected: int

    @property
    def rejected_ratio(self) -> float:
        total = self.appended + self.rejected
        return self.rejected / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"job_ids": list(self.job_ids), "appended": self.appended, "rejected": self.rejected}


def summarize_jobs(
    jobs: Sequence[ActOnCustomEventJob],
    *,
    max_rejected: int | None = None,
    max_rejected_ratio: float | None = None,
) -> JobsSummary:
    """Totals of succeeded jobs; raise for a job that did not succeed or when too many rows were rejected.

    :param jobs: terminal jobs.
    :param max_rejected: most rejected rows tolerated over all jobs.
    :param max_rejected_ratio: most rejected rows tolerated as a fraction of appended + rejected.
        Both ``None`` (the default): totals only, no check. Otherwise the provider's threshold rule
        (:mod:`~airflow_provider_events.sync.thresholds`) applies.
    :raises ActOnJobFailedError: for the first job that failed or expired.
    :raises RejectedThresholdExceededError: when a threshold is exceeded.
    """
    for job in jobs:
        if job.status is not ActOnJobStatus.SUCCEEDED:
            raise ActOnJobFailedError(job)
    summary = JobsSummary(
        [job.job_id for job in jobs],
        sum(job.append_count or 0 for job in jobs),
        sum(job.rejected_count or 0 for job in jobs),
    )
    if max_rejected is None and max_rejected_ratio is None:
        return summary
    from airflow_provider_events.sync.thresholds import describe, exceeded_limits

    total = summary.appended + summary.rejected
    limits = exceeded_limits(summary.rejected, total, max_rejected, max_rejected_ratio)
    if limits:
        raise RejectedThresholdExceededError(
            f"Act-On jobs {summary.job_ids}: {describe(summary.rejected, total, limits)}"
        )
    return summary


def _json_object(value: Any) -> Mapping[str, Any]:
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            return {}
        return decoded if isinstance(decoded, Mapping) else {}
    return {}


def describe_job_body(body: Any) -> str:
    """A one-line reason from a job-status body (never the whole body of a huge answer)."""
    if isinstance(body, Mapping):
        parts = []
        for key in ("status", "message", "errorCode", "error", "error_description", "reason"):
            if body.get(key) not in (None, ""):
                parts.append(f"{key}={body[key]}")
        details = body.get("details")
        if isinstance(details, Mapping):
            for key in ("status", "message", "reason", "error"):
                if details.get(key) not in (None, ""):
                    parts.append(f"details.{key}={details[key]}")
        if parts:
            return "; ".join(parts)[:500]
    if isinstance(body, str) and body.strip():
        return body.strip().splitlines()[0][:300]
    return "job failed without a reason in the response"
