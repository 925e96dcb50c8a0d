"""Read a task instance's task state store (Airflow >= 3.3) straight from the metadata database, in tests.

What an operator's checkpoint wrote during ``dag.test()`` lives in the ``task_state_store`` table; tests
open it with :func:`open_task_checkpoint` to assert what was acknowledged before a kill.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_events.sync.checkpoint import CheckpointIdentity
from airflow_provider_events.sync.task_state import TaskStateCheckpoint


class DatabaseTaskState:
    """A read-mostly stand-in for ``context["task_state_store"]`` over the metadata database."""

    def __init__(self, identity: CheckpointIdentity) -> None:
        self.identity = identity

    def _rows(self) -> dict[str, Any]:
        from airflow.models.task_state_store import TaskStateStoreModel
        from airflow.utils.session import create_session
        from sqlalchemy import select

        ident = self.identity
        with create_session() as session:
            rows = session.execute(
                select(TaskStateStoreModel.key, TaskStateStoreModel.value).where(
                    TaskStateStoreModel.dag_id == ident.dag_id,
                    TaskStateStoreModel.run_id == ident.run_id,
                    TaskStateStoreModel.task_id == ident.task_id,
                    TaskStateStoreModel.map_index == ident.map_index,
                )
            ).all()
        result: dict[str, Any] = {}
        for key, value in rows:
            try:
                result[key] = json.loads(value)
            except (TypeError, ValueError):
                result[key] = value
        return result

    def get(self, key: str, default: Any = None) -> Any:
        return self._rows().get(key, default)

    def set(self, key: str, value: Any, **_: Any) -> None:
        raise AssertionError("tests only read the task state store")

    def keys(self) -> list[str]:
        return sorted(self._rows())

    def sizes(self) -> dict[str, int]:
        """Serialized size of each value, as Airflow measures it against ``max_value_storage_bytes``."""
        return {key: len(json.dumps(value)) for key, value in self._rows().items()}


def open_task_checkpoint(identity: CheckpointIdentity, spool: str = "/nonexistent") -> TaskStateCheckpoint:
    """The checkpoint a task instance keeps in its task state store, as a retry would load it."""
    return TaskStateCheckpoint(DatabaseTaskState(identity), spool_directory=spool)
