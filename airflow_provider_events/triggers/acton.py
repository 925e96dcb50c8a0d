"""Deferrable wait for Act-On custom-event upload jobs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_events.exceptions import EventsProviderError
from airflow_provider_events.hooks.acton import (
    ActOnCustomEventJob,
    ActOnHook,
    ActOnJobStatus,
    ActOnJobTimeoutError,
)
from airflow_provider_events.hooks.acton_job_poll import ActOnJobPoll, is_transient_poll_error
from airflow_provider_events.utils.deprecation import renamed_argument


class ActOnCustomEventJobTrigger(BaseTrigger):
    """Poll Act-On jobs until every one is terminal, then fire one event.

    Serialises only the job ids, the connection id, the poll interval and a wall-clock deadline: no token
    and no payload. Tokens come from the shared token store, so polling never costs a password login.
    A transient error while polling (429, 5xx, unreachable) is logged and polled again at the next
    interval instead of failing the task.

    The event: ``{"status": "success" | "failed" | "timeout" | "error", "jobs": [job dicts],
    "message": str}``; ``success`` when every job succeeded, ``failed`` when one failed or expired.

    :param job_ids: the job id(s) to wait for.
    :param acton_conn_id: the ``acton`` connection id (formerly ``conn_id``, still accepted with a
        deprecation warning, so a trigger serialised by an earlier version still runs).
    :param poll_interval: seconds between polls.
    :param deadline: epoch seconds after which the trigger gives up (``timeout`` event); ``None``: never.
    """

    def __init__(
        self,
        job_ids: Sequence[str] | str,
        acton_conn_id: str = ActOnHook.default_conn_name,
        poll_interval: float = 30.0,
        deadline: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.acton_conn_id = renamed_argument(
            type(self).__name__,
            kwargs,
            old="conn_id",
            new="acton_conn_id",
            value=acton_conn_id,
            default=ActOnHook.default_conn_name,
        )
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected arguments {sorted(kwargs)}")
        self.job_ids = [job_ids] if isinstance(job_ids, str) else [str(j) for j in job_ids]
        self.poll_interval = float(poll_interval)
        self.deadline = None if deadline is None else float(deadline)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_ids": list(self.job_ids),
                "acton_conn_id": self.acton_conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = ActOnHook(self.acton_conn_id)
        poll = ActOnJobPoll(self.job_ids)
        try:
            while True:
                for job_id in poll.pending():
                    try:
                        job = await asyncio.to_thread(hook.get_custom_event_job, job_id)
                    except Exception as exc:
                        if is_transient_poll_error(exc):
                            self.log.warning("Polling Act-On job %s failed (%s); polling again", job_id, exc)
                            continue
                        yield self._event("error", poll, f"{type(exc).__name__}: {exc}")
                        return
                    poll.record(job_id, job)
                if poll.finished():
                    yield self._finished_event(poll)
                    return
                if poll.out_of_time(time.time(), self.poll_interval, self.deadline):
                    yield self._event("timeout", poll, f"Act-On jobs {poll.waiting()} not finished in time")
                    return
                await asyncio.sleep(self.poll_interval)
        finally:
            hook.close()

    def _finished_event(self, poll: ActOnJobPoll) -> TriggerEvent:
        """``success`` when every job succeeded, else ``failed`` with each failed job's reason."""
        failed = [job for job in poll.done.values() if job.status is not ActOnJobStatus.SUCCEEDED]
        if not failed:
            return self._event("success", poll, "")
        message = "; ".join(f"job {j.job_id} {j.status.value}: {j.message}" for j in failed)
        return self._event("failed", poll, message)

    def _event(self, status: str, poll: ActOnJobPoll, message: str) -> TriggerEvent:
        jobs = [job.to_dict() for job in poll.jobs()]
        payload = {"status": status, "job_ids": list(self.job_ids), "jobs": jobs, "message": message}
        # TriggerEvent is a pydantic model whose __init__ is untyped; model_validate is its typed constructor
        return TriggerEvent.model_validate({"payload": payload})


def jobs_from_event(event: Mapping[str, Any] | None) -> list[ActOnCustomEventJob]:
    """The terminal jobs of a trigger event; raise for a ``timeout`` or ``error`` event.

    A ``failed`` event returns its jobs: :func:`~airflow_provider_events.hooks.acton.summarize_jobs` raises
    with the vendor's reason.
    """
    if not event:
        raise EventsProviderError("Act-On job trigger returned no event")
    status = event.get("status")
    if status == "timeout":
        raise ActOnJobTimeoutError(str(event.get("message") or "Act-On jobs not finished in time"))
    if status not in ("success", "failed"):
        raise EventsProviderError(f"Act-On job wait failed: {event.get('message')}")
    return [ActOnCustomEventJob.from_dict(job) for job in event.get("jobs") or []]
