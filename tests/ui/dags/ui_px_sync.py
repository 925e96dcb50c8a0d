"""The DAG of the browser test: three records to Gainsight PX through the connection made in the UI."""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import DAG

from airflow_provider_events.operators.gainsight_px import GainsightPXSendCustomEventsOperator

with DAG("ui_px_sync", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc), catchup=False):
    GainsightPXSendCustomEventsOperator(
        task_id="send",
        destination_conn_id="ui_gainsight_px",
        records=[{"user": f"ui-user-{i}", "ts": 1_767_225_600_000 + i} for i in range(3)],
        mapping={"identifyId": "user", "date": "ts", "attributes": {"source": "{{ dag.dag_id }}"}},
        key_columns=["user"],
        event_name="ui_test_signup",
    )
