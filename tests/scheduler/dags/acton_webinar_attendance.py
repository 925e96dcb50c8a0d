"""The scheduler test's stand-in for ``dags_examples/acton_webinar_attendance.py``.

Same shape as the example: the warehouse rows of the ``@daily`` data interval -> an Act-On CSV upload job
(not waited for) -> a deferrable job sensor that fails when too many rows were rejected. It exists because
the example's sensor currently takes ``job_id=upload.output["job_ids"]``, which in Airflow 3 pulls the XCom
*key* ``job_ids`` (never pushed) instead of the ``job_ids`` item of ``return_value``: the sensor fails with
``XComNotFound``. Once the example is fixed, the test points at ``dags_examples/`` and this file goes.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import DAG, CronDataIntervalTimetable

from airflow_provider_events.operators.acton import ActOnUploadCustomEventsOperator
from airflow_provider_events.sensors.acton import ActOnCustomEventJobSensor

# The warehouse keeps UTC timestamps as text "YYYY-MM-DDTHH:MM:SS": compare the data interval in that form.
SQL = """
    SELECT id, email, webinar_title, attended_at, note
    FROM webinar_attendance
    WHERE attended_at >= '{{ data_interval_start.strftime('%Y-%m-%dT%H:%M:%S') }}'
      AND attended_at < '{{ data_interval_end.strftime('%Y-%m-%dT%H:%M:%S') }}'
    ORDER BY id
"""

with DAG(
    dag_id="acton_webinar_attendance",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"retries": 0},
    tags=["acton", "scheduler-test"],
) as dag:
    upload = ActOnUploadCustomEventsOperator(
        task_id="upload_attendance",
        conn_id="events_warehouse",
        sql=SQL,
        mapping={"email": "email", "date": "attended_at", "title": "webinar_title", "note": "note"},
        destination="Webinars",
        customeventaction="CUSTOM_ATTENDED",
        dateformat="yyyy-MM-dd",
        wait_for_completion=False,  # the deferrable sensor waits
    )
    wait = ActOnCustomEventJobSensor(
        task_id="wait_for_jobs",
        job_id="{{ ti.xcom_pull(task_ids='upload_attendance')['job_ids'] }}",
        deferrable=True,
        poke_interval=2,
        timeout=600,
        max_rejected_ratio=0.05,
    )
    upload >> wait
