"""Run by test_kill.py in a subprocess: a sync DAG that the test kills with SIGKILL mid-way.

Usage: ``python kill_job.py VENDOR DAG_ID LOGICAL_DATE_ISO``. Unlike ``tests/sync/crash_job.py`` (which
exits from inside the adapter after exactly N events), nothing here cooperates with the kill: the test
watches the emulator and kills the process from outside at an arbitrary moment, like the OOM killer.
"""

from __future__ import annotations

import sys
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_events.operators.carecloud import CareCloudCreateEventsOperator
from airflow_provider_events.operators.expertsender_cdp import ExpertSenderCdpScenarioEventsOperator
from airflow_provider_events.sync.rejects import state_root

#: 4 requests in flight; the test makes the vendor answer each 0.15 s after processing it, so at any moment
#: up to 4 events are stored at the vendor but not yet acknowledged: the window a kill can hit.
PACE = {"max_concurrency": 4, "max_requests_per_second": 100}
TOTAL = 120


def local_checkpoints() -> str:
    """A local checkpoint root: the test re-runs the DAG with dag.test(), which replaces the DAG run and so
    the task state store a real retry would keep (tests/sync/test_task_state.py covers that store)."""
    return str(state_root())


def build_dag(vendor: str, dag_id: str) -> DAG:
    with DAG(dag_id=dag_id, schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as dag:
        if vendor == "carecloud":
            CareCloudCreateEventsOperator(
                task_id="sync",
                conn_id="warehouse",
                sql="SELECT * FROM purchases ORDER BY id",
                event_type="purchase",
                mapping={"customer_id": "customer_id", "property_records": {"visit_count": "visits"}},
                key_columns=["id"],
                checkpoint_path=local_checkpoints(),
                **PACE,
            )
        else:
            ExpertSenderCdpScenarioEventsOperator(
                task_id="sync",
                conn_id="warehouse",
                sql="SELECT * FROM purchases ORDER BY id",
                custom_event_id=1,
                identifier="email",
                # the events in the air at the kill cannot be asked about: resend them, counted as
                # possible duplicates (the default, at-most-once, would count them in doubt and fail)
                retry_ambiguous=True,
                mapping={"email": "email", "dataFields": {"visits": "visits"}},
                key_columns=["id"],
                checkpoint_path=local_checkpoints(),
                **PACE,
            )
    return dag


if __name__ == "__main__":
    from tests.dag_runner import run_dag

    vendor, dag_id, when = sys.argv[1], sys.argv[2], datetime.fromisoformat(sys.argv[3])
    run_dag(build_dag(vendor, dag_id), logical_date=when, run_after=when)
    sys.exit(3)  # reached only if the test failed to kill the run in time
