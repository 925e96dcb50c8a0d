"""One wait for Act-On upload jobs, without the waiting itself: which job to poll next, what a poll taught,
when the wait is over.

The hook's blocking wait (``ActOnHook.wait_for_custom_event_jobs``) and the deferrable trigger
(:class:`~airflow_provider_events.triggers.acton.ActOnCustomEventJobTrigger`) poll the same way; only how
they sleep and fetch differs (``time.sleep`` in a worker, ``asyncio`` in the triggerer), so the rules live
here once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from airflow_provider_events.exceptions import EventsProviderError
from airflow_provider_events.hooks.acton_jobs import ActOnCustomEventJob


def is_transient_poll_error(exc: BaseException) -> bool:
    """429, 5xx and unreachable (after the hook's own retries) are worth another poll; the rest is not."""
    return isinstance(exc, EventsProviderError) and exc.retryable


class ActOnJobPoll:
    """The jobs of one wait and those seen terminal so far.

    :param job_ids: the jobs to wait for, in the order the result lists them.
    :param known: jobs already known terminal (an earlier attempt saw them finish): never polled.
    """

    def __init__(
        self, job_ids: Sequence[str], known: Mapping[str, ActOnCustomEventJob] | None = None
    ) -> None:
        self.job_ids = list(job_ids)
        self.done: dict[str, ActOnCustomEventJob] = {
            job_id: job for job_id, job in (known or {}).items() if job.terminal and job_id in self.job_ids
        }

    def pending(self) -> Iterator[str]:
        """The jobs to poll in this round (read lazily: a job seen terminal meanwhile is skipped)."""
        for job_id in self.job_ids:
            if job_id not in self.done:
                yield job_id

    def record(self, job_id: str, job: ActOnCustomEventJob) -> bool:
        """Take the polled status of ``job_id``; True when it has just become terminal."""
        if not job.terminal:
            return False
        self.done[job_id] = job
        return True

    def finished(self) -> bool:
        """Every job is terminal."""
        return len(self.done) == len(set(self.job_ids))

    def jobs(self) -> list[ActOnCustomEventJob]:
        """The terminal jobs, in the order of ``job_ids`` (those seen so far)."""
        return [self.done[job_id] for job_id in self.job_ids if job_id in self.done]

    def waiting(self) -> list[str]:
        """The jobs not terminal yet."""
        return [job_id for job_id in self.job_ids if job_id not in self.done]

    @staticmethod
    def out_of_time(now: float, poll_interval: float, deadline: float | None) -> bool:
        """The next poll would come after the deadline (``None``: no deadline)."""
        return deadline is not None and now + poll_interval > deadline
