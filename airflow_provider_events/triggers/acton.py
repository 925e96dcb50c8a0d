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
from airflow_provider_events.utils.deprecation import renamed_argument


def _is_transient(exc: BaseException) -> bool:
    """429, 5xx and unreachable (after the hook's own retries) are worth another poll; the rest is not."""
    return isinstance(exc, EventsProviderError) and exc.retryable


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
        done: dict[str, ActOnCustomEventJob] = {}
        try:
            while True:
                for job_id in self.job_ids:
                    if job_id in done:
                        continue
                    try:
                        job = await asyncio.to_thread(hook.get_custom_event_job, job_id)
                    except Exception as exc:
                        if _is_transient(exc):
                            self.log.warning("Polling Act-On job %s failed (%s); polling again", job_id, exc)
                            continue
                        yield TriggerEvent(self._event("error", done, f"{type(exc).__name__}: {exc}"))  # type: ignore[no-untyped-call]
                        return
                    if job.terminal:
                        done[job_id] = job
                if len(done) == len(set(self.job_ids)):
                    ok = all(job.status is ActOnJobStatus.SUCCEEDED for job in done.values())
                    failed = [j for j in done.values() if j.status is not ActOnJobStatus.SUCCEEDED]
                    message = (
                        ""
                        if ok
                        else "; ".join(f"job {j.job_id} {j.status.value}: {j.message}" for j in failed)
                    )
                    event = self._event("success" if ok else "failed", done, message)
                    yield TriggerEvent(event)  # type: ignore[no-untyped-call]
                    return
                if self.deadline is not None and time.time() + self.poll_interval > self.deadline:
                    waiting = [j for j in self.job_ids if j not in done]
                    event = self._event("timeout", done, f"Act-On jobs {waiting} not finished in time")
                    yield TriggerEvent(event)  # type: ignore[no-untyped-call]
                    return
                await asyncio.sleep(self.poll_interval)
        finally:
            hook.close()

    def _event(self, status: str, done: Mapping[str, ActOnCustomEventJob], message: str) -> dict[str, Any]:
        jobs = [done[j].to_dict() for j in self.job_ids if j in done]
        return {"status": status, "job_ids": list(self.job_ids), "jobs": jobs, "message": message}


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
