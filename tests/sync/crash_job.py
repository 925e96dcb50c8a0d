"""Run by test_crash.py in a subprocess: a sync that dies with ``os._exit`` after N events were delivered.

Usage: ``python crash_job.py DAG_ID LOGICAL_DATE_ISO CRASH_AFTER``.
"""

from __future__ import annotations

import os
import sys
import threading
from datetime import datetime
from typing import Any

from airflow.sdk import DAG

from airflow_provider_events import vendors
from airflow_provider_events.adapters.gainsight_px import GainsightPXAdapter
from airflow_provider_events.operators.sync import SqlToEventsOperator
from airflow_provider_events.sync.adapter import SendOutcome
from airflow_provider_events.sync.rejects import state_root

MAPPING = {"identifyId": "user_id", "eventName": "event", "date": "{{ row.ts_ms }}"}


class CrashingPXAdapter(GainsightPXAdapter):
    """The real Gainsight PX adapter, killing its process once ``CRASH_AFTER`` events were accepted."""

    _lock = threading.Lock()
    _sent = 0

    def send(self, payload: Any) -> SendOutcome:
        with self._lock:
            if CrashingPXAdapter._sent >= int(os.environ["CRASH_AFTER"]):
                os._exit(137)  # a hard kill: no finally block, no flush, like an OOM kill
            outcome = super().send(payload)
            CrashingPXAdapter._sent += 1
            return outcome


def build_dag(dag_id: str) -> DAG:
    with DAG(dag_id=dag_id, schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as dag:
        SqlToEventsOperator(
            task_id="sync",
            conn_id="warehouse",
            sql="SELECT * FROM events ORDER BY id",
            destination_conn_id="gainsight_px_default",
            mapping=MAPPING,
            key_columns=["id"],
            max_concurrency=1,
            destination_options={"readback_visibility_seconds": 0},
            checkpoint_path=str(state_root()),  # kept when the test re-runs the DAG (see test_crash.py)
        )
    return dag


if __name__ == "__main__":
    from tests.dag_runner import run_dag

    dag_id, when, crash_after = sys.argv[1], datetime.fromisoformat(sys.argv[2]), sys.argv[3]
    os.environ["CRASH_AFTER"] = crash_after
    crashing = vendors.vendor("gainsight_px")._replace(adapter_class="tests.sync.crash_job:CrashingPXAdapter")
    vendors.register_vendor(crashing, replace=True)
    run_dag(build_dag(dag_id), logical_date=when, run_after=when)
    sys.exit(3)  # not reached: the sync must have crashed
