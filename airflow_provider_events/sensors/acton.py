"""Sensor waiting for Act-On custom-event upload jobs (poke, reschedule or deferrable)."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue, conf

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.hooks.acton import ActOnHook, JobsSummary, summarize_jobs
from airflow_provider_events.operators._common import check_rejected


def normalize_job_ids(job_id: object) -> list[str]:
    """Job ids from a string, a list, a rendered list (``"['1', '2']"``) or a comma-separated string.

    An empty *list* is valid (an upload with no valid rows submits no job); no job id at all is not.
    """
    if isinstance(job_id, (list, tuple)):
        return [j for j in (str(j).strip() for j in job_id) if j]
    text = str(job_id or "").strip()
    if text.startswith("["):
        return re.findall(r"[A-Za-z0-9_.-]+", text)
    ids = [j for j in (part.strip() for part in text.split(",")) if j]
    if not ids:
        raise ConfigurationError("job_id is empty")
    return ids


class ActOnCustomEventJobSensor(BaseSensorOperator):
    """Wait until Act-On upload job(s) finish; fail with the vendor's reason when one fails or expires.

    One status classification (:func:`~airflow_provider_events.hooks.acton.classify_job_status`) serves
    every mode: ``poke``, ``reschedule`` and ``deferrable``. Deferrable mode checks once before deferring
    (a finished job never costs a deferral), then hands over to :class:`ActOnCustomEventJobTrigger` with a
    deadline of now + ``timeout``. ``timeout`` is finite in every mode: ``BaseSensorOperator``'s default,
    ``[sensors] default_timeout`` (7 days), unless you give another.

    Returns (XCom) ``{"job_ids": [...], "appended": N, "rejected": M}``.

    :param job_id: the job id, or a list of job ids (templated).
    :param acton_conn_id: the ``acton`` connection id.
    :param max_rejected: fail when Act-On rejected more rows than this (templated).
    :param max_rejected_ratio: fail when the rejected fraction of appended + rejected rows exceeds this
        (templated). Neither given: any rejected row fails the task (the provider's one threshold rule,
        :mod:`~airflow_provider_events.sync.thresholds`); ``max_rejected_ratio=1`` sets no limit.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    """

    template_fields: Sequence[str] = ("job_id", "max_rejected", "max_rejected_ratio")
    ui_color = "#e8f1fb"

    def __init__(
        self,
        *,
        job_id: str | Sequence[str],
        acton_conn_id: str = ActOnHook.default_conn_name,
        max_rejected: int | str | None = None,
        max_rejected_ratio: float | str | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self.acton_conn_id = acton_conn_id
        self.max_rejected = max_rejected
        self.max_rejected_ratio = max_rejected_ratio
        self.deferrable = deferrable

    def poke(self, context: Context) -> PokeReturnValue:
        hook = ActOnHook(self.acton_conn_id)
        try:
            jobs = [hook.get_custom_event_job(job_id) for job_id in normalize_job_ids(self.job_id)]
        finally:
            hook.close()
        pending = [job.job_id for job in jobs if not job.terminal]
        if pending:
            self.log.info("Act-On jobs still pending or running: %s", pending)
            return PokeReturnValue(is_done=False)
        return PokeReturnValue(is_done=True, xcom_value=self._checked(summarize_jobs(jobs)))

    def _checked(self, summary: JobsSummary) -> dict[str, Any]:
        """The summary as XCom; raise when Act-On rejected more rows than the thresholds allow."""
        check_rejected(
            summary.rejected,
            summary.appended + summary.rejected,
            self.max_rejected,
            self.max_rejected_ratio,
            lambda over: f"Act-On jobs {summary.job_ids}: {over}",
        )
        return summary.to_dict()

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)  # also settles an empty job list at once: nothing to wait for
        if first.is_done:
            return first.xcom_value
        deadline = time.time() + float(self.timeout) if self.timeout else None
        from airflow_provider_events.triggers.acton import ActOnCustomEventJobTrigger

        self.defer(
            trigger=ActOnCustomEventJobTrigger(
                job_ids=normalize_job_ids(self.job_id),
                acton_conn_id=self.acton_conn_id,
                poll_interval=float(self.poke_interval),
                deadline=deadline,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        from airflow_provider_events.triggers.acton import jobs_from_event

        return self._checked(summarize_jobs(jobs_from_event(event)))
