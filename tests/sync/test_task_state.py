"""State that follows the task (issue 14): the checkpoint in Airflow 3.3's task state store.

- a ``dag.test()`` run with ``retries=1`` whose first try dies mid-way *and* whose local state directory is
  deleted before the retry (what another Celery host or a fresh Kubernetes pod sees): the retry resends
  nothing, because the checkpoint lives in ``context["task_state_store"]``, not on the worker's disk;
- the layout stays under the store's per-value limit, and its size per event is what the docs say.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG
from helpers.sync import px_received

from airflow_provider_events import vendors
from airflow_provider_events.adapters.gainsight_px import GainsightPXAdapter
from airflow_provider_events.hooks.gainsight_px import event_id_for_key
from airflow_provider_events.operators.sync import SqlToEventsOperator
from airflow_provider_events.sync.adapter import SendOutcome
from airflow_provider_events.sync.checkpoint import ACKED, ATTEMPTED, CheckpointIdentity
from airflow_provider_events.sync.digests import key_digest
from airflow_provider_events.sync.rejects import safe_part, state_root
from airflow_provider_events.sync.report import DeliveryReport
from airflow_provider_events.sync.task_state import CHUNK_RECORDS, TaskStateCheckpoint
from tests.dag_runner import run_dag, task_states, xcom

from .task_state_db import DatabaseTaskState

TOTAL, DIE_AFTER = 60, 25
#: the default ``[state_store] max_value_storage_bytes``
MAX_VALUE_BYTES = 65535


class DiesOncePXAdapter(GainsightPXAdapter):
    """The real Gainsight PX adapter; on the first try only, after ``DIE_AFTER`` accepted events, the worker
    "dies": its local state directory is wiped and the send raises (the retry runs on a clean host)."""

    lock = threading.Lock()
    sent = 0
    died = False

    def send(self, payload: Any) -> SendOutcome:
        with self.lock:
            if not DiesOncePXAdapter.died and DiesOncePXAdapter.sent >= DIE_AFTER:
                DiesOncePXAdapter.died = True
                shutil.rmtree(state_root(), ignore_errors=True)
                raise RuntimeError("worker lost")
            outcome = super().send(payload)
            DiesOncePXAdapter.sent += 1
            return outcome


@pytest.mark.usefixtures("airflow_db", "tmp_state")
def test_retry_on_an_empty_disk_resends_nothing(emulator, warehouse, monkeypatch, request) -> None:  # type: ignore[no-untyped-def]
    warehouse(TOTAL)
    original = vendors.vendor("gainsight_px")
    vendors.register_vendor(original._replace(adapter_class=f"{__name__}:DiesOncePXAdapter"), replace=True)
    request.addfinalizer(lambda: vendors.register_vendor(original, replace=True))
    with DAG(dag_id="task_state_retry", schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as dag:
        SqlToEventsOperator(
            task_id="sync",
            conn_id="warehouse",
            sql="SELECT * FROM events ORDER BY id",
            destination_conn_id="gainsight_px_default",
            mapping={"identifyId": "user_id", "eventName": "event", "date": "{{ row.ts_ms }}"},
            key_columns=["id"],
            max_concurrency=2,
            destination_options={"readback_visibility_seconds": 0},
            retries=1,
            retry_delay=0,
        )
    when = datetime(2024, 7, 1, tzinfo=timezone.utc)
    dr = run_dag(dag, logical_date=when, run_after=when)

    assert DiesOncePXAdapter.died
    assert task_states(dr) == {"sync": "success"}
    ti = next(t for t in dr.get_task_instances() if t.task_id == "sync")
    assert ti.try_number == 2
    report = xcom(dr, "sync")
    received = Counter(e["eventId"] for e in px_received(emulator))
    assert set(received) == {event_id_for_key(str(i)) for i in range(1, TOTAL + 1)}  # nothing lost
    assert max(received.values()) == 1  # nothing resent, although the retry's disk was empty
    assert (
        report["checkpoint"]
        == f"task_state_store:task_state_retry/{safe_part(dr.run_id)}/sync/task/events.checkpoint"
    )
    assert report["accepted"] == report["rows_read"] == TOTAL  # one report for the task instance
    assert DeliveryReport.from_dict(report).unaccounted == 0
    assert report["attempts"] == 2
    store = DatabaseTaskState(CheckpointIdentity("task_state_retry", dr.run_id, "sync"))
    sizes = store.sizes()
    assert "events.checkpoint" in sizes
    assert max(sizes.values()) < MAX_VALUE_BYTES
    checkpoint = TaskStateCheckpoint(store, spool_directory="/nonexistent")
    assert all(checkpoint.is_done(key_digest(str(i))) for i in range(1, TOTAL + 1))
    assert not checkpoint.in_doubt


class DictStore:
    """The task state store's interface over a dict, measuring values as Airflow does (JSON length)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.writes = 0

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else default

    def set(self, key: str, value: Any, **_: Any) -> None:
        self.values[key] = json.dumps(value)
        self.writes += 1


def test_layout_stays_under_the_value_limit_and_reloads(tmp_path: Path) -> None:
    store = DictStore()
    n = 3 * CHUNK_RECORDS + 100
    checkpoint = TaskStateCheckpoint(store, tmp_path)
    for start in range(0, n, 16):  # like the engine: write ahead a group, then acknowledge it
        group = [key_digest(str(i)) for i in range(start, min(n, start + 16))]
        checkpoint.begin(group)
        for digest in group:
            checkpoint.ack(digest, ATTEMPTED if digest % 97 == 0 else ACKED)
    in_air = [key_digest(f"air-{i}") for i in range(8)]
    checkpoint.begin(in_air)  # the attempt dies here
    sizes = {key: len(value) for key, value in store.values.items()}
    assert max(sizes.values()) < MAX_VALUE_BYTES
    assert sum(1 for key in sizes if key.startswith("events.acks.")) == 3

    again = TaskStateCheckpoint(store, tmp_path)  # the retry, anywhere
    assert len(again.done) == n
    assert again.in_doubt == set(in_air)
    assert again.doubted == {key_digest(str(i)) for i in range(n) if key_digest(str(i)) % 97 == 0}
    per_event = sum(sizes.values()) / n
    print(
        f"\ntask state checkpoint: {per_event:.1f} bytes per event, largest value {max(sizes.values())} bytes"
    )
    assert per_event < 16


def test_rejects_path_takes_an_object_storage_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``file://`` goes through ``ObjectStoragePath`` like ``s3://`` (Airflow registers no ``memory`` fs)."""
    from airflow_provider_events.sync.rejects import RejectsWriter, read_rejects

    monkeypatch.chdir(tmp_path)  # the old code made a local folder named "file:" here
    uri = f"file://{tmp_path}/remote/run/sync.jsonl"
    writer = RejectsWriter(uri)
    writer.discard_previous()
    writer.write(3, "email", "not an email", {"id": 3, "email": "x"}, stage="validation", key="3")
    writer.close()
    assert writer.written_path == uri
    lines = read_rejects(uri)
    assert [(r["row_number"], r["field"], r["stage"]) for r in lines] == [(3, "email", "validation")]
    assert not any(p.name.endswith(":") for p in tmp_path.iterdir())
    assert (tmp_path / "remote" / "run" / "sync.jsonl").is_file()
    again = RejectsWriter(uri)  # the next attempt with no rejects removes the stale file
    again.discard_previous()
    from airflow.sdk import ObjectStoragePath

    assert not ObjectStoragePath(uri).exists()


def test_local_checkpoint_on_a_distributed_executor_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from airflow_provider_events.sync.checkpoint import LocalCheckpoint, open_checkpoint

    identity = CheckpointIdentity("dag", "run", "task")
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    with caplog.at_level("WARNING", logger="airflow_provider_events.sync.checkpoint"):
        local = open_checkpoint(identity, str(tmp_path))
    local.close()
    assert isinstance(local, LocalCheckpoint)
    assert "another worker will not find it" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="airflow_provider_events.sync.checkpoint"):
        in_store = open_checkpoint(identity, None, DictStore())  # Airflow >= 3.3 inside a task: no warning
    assert isinstance(in_store, TaskStateCheckpoint)
    assert "another worker" not in caplog.text
