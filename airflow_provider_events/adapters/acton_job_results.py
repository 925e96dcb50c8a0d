"""The Act-On resume state of upload jobs: the jobs already seen finished, kept in a checkpoint record.

Waiting for Act-On jobs can take hours; a task retried or resumed meanwhile must not poll (or judge again) a
job an earlier attempt already saw finish. Both waiters record each job's final status under ``results`` of
their checkpoint record (the upload operator under its own key, the adapter under ``acton_batch``) and hand
the recorded jobs to the hook's wait as ``known``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_events.hooks.acton_jobs import ActOnCustomEventJob

if TYPE_CHECKING:
    from airflow_provider_events.sync.adapter import CheckpointState


def recorded_results(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The finished jobs kept in a checkpoint record, by job id (their ``to_dict`` form)."""
    return dict(record.get("results") or {})


def record_result(record: dict[str, Any], job: ActOnCustomEventJob) -> None:
    """Keep a finished job in a checkpoint record (the caller writes the record)."""
    record["results"] = {**recorded_results(record), job.job_id: job.to_dict()}


class ActOnJobResults:
    """The finished jobs recorded in ``state`` under the record ``key``.

    :param state: the task's checkpoint.
    :param key: the checkpoint record holding the jobs (its other entries are left as they are).
    """

    def __init__(self, state: CheckpointState, key: str) -> None:
        self._state = state
        self._key = key

    def _record(self) -> dict[str, Any]:
        return dict(self._state.get(self._key) or {})

    def known(self) -> dict[str, ActOnCustomEventJob]:
        """The jobs an earlier poll saw finish, by job id."""
        results = recorded_results(self._record())
        return {job_id: ActOnCustomEventJob.from_dict(data) for job_id, data in results.items()}

    def remember(self, job: ActOnCustomEventJob) -> None:
        """Record a finished job durably (the hook's ``on_terminal`` callback)."""
        record = self._record()
        record_result(record, job)
        self._state.put(self._key, record)
