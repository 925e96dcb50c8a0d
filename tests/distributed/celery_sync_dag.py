"""The DAG the Celery test runs: one Act-On sync task with a retry, which writes its pid when it starts.

Copied into the test's private DAGs folder. ``PE_TEST_PID_DIR`` (set for every Airflow process by the test)
is where each try writes ``<try_number>-<pid>``, so the test can SIGKILL the first try's process.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow.sdk import DAG

from airflow_provider_events.operators.sync import SqlToEventsOperator


def record_pid(context: Any) -> None:
    """Leave ``<try_number>-<pid>`` in the test's pid folder (runs in the task's own process)."""
    folder = Path(os.environ["PE_TEST_PID_DIR"])
    (folder / f"{context['ti'].try_number}-{os.getpid()}").touch()


with DAG(
    dag_id="celery_acton_sync",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
):
    SqlToEventsOperator(
        task_id="sync",
        conn_id="warehouse",
        sql="SELECT id, email, happened_at, title FROM events ORDER BY id",
        destination_conn_id="acton_default",
        destination_options={
            "destination": "Distributed",
            "customeventaction": "CUSTOM_GENERAL",
            "dateformat": "yyyy-MM-dd",
            "poll_interval": 0.5,
        },
        mapping={"email": "email", "date": "happened_at", "title": "title"},
        key_columns=["id"],
        retries=1,
        retry_delay=timedelta(seconds=15),
        on_execute_callback=record_pid,
    )
