"""The Act-On upload operator's resume state: one checkpoint record per task instance.

The record holds the job ids submitted (``job_ids``; ``None`` for a part not uploaded yet), whether every
part was submitted (``submitted``), the jobs seen finished (``results``, see
:class:`~airflow_provider_events.adapters.acton_job_results.ActOnJobResults`) and, for a SQL source, what the
delivery engine read and rejected before the upload (``rows_read``, ``invalid_rows``, ``rejects_path``). A
retried or cleared task of the same DAG run reads it to re-attach to its jobs instead of uploading again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_events.adapters.acton_job_results import ActOnJobResults

if TYPE_CHECKING:
    from airflow_provider_events.sync.adapter import CheckpointState

#: the checkpoint key of the operator (the job ids submitted, the results seen, the validation counts).
STATE_KEY = "acton_upload_operator"


def upload_record(state: CheckpointState) -> dict[str, Any]:
    """A copy of the operator's record (empty on the first attempt)."""
    return dict(state.get(STATE_KEY) or {})


def save_upload_record(state: CheckpointState, record: dict[str, Any]) -> None:
    """Write the operator's record durably."""
    state.put(STATE_KEY, record)


def job_results(state: CheckpointState) -> ActOnJobResults:
    """The operator's finished jobs, recorded in its record."""
    return ActOnJobResults(state, STATE_KEY)
