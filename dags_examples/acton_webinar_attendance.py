"""
### Webinar attendance -> Act-On custom events

Every day, the webinar attendances of the data interval are read from the warehouse
(`webinar_attendance`), mapped, validated and written to CSV by the delivery engine, and uploaded to
Act-On as a custom-event upload job (`CUSTOM_ATTENDED`) on the listing named by the `destination` param.

1. **upload_attendance** streams the rows and submits the job(s) without waiting; it returns the delivery
   report (rows read, rows rejected before the upload, the rejects file, the job ids).
2. **wait_for_jobs** waits for the jobs in the triggerer (`deferrable=True`), so no worker slot is held
   while Act-On processes the file.
3. **check_rejects** adds the rows Act-On rejected to those rejected before the upload, and fails the run
   when they exceed `max_rejected_ratio` of the rows read.

Connections: `events_warehouse` (any SQL connection) and `acton_default`. Pool: `acton_default`, one slot
(`airflow pools set acton_default 1 "Act-On account"`): Act-On allows 5 calls per second per account and
each process paces itself, so one Act-On task of the account runs at a time, whichever worker runs it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, Param, dag, task
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_events.operators.sync import SqlToEventsOperator
from airflow_provider_events.sensors.acton import ActOnCustomEventJobSensor

WAREHOUSE_CONN_ID = "events_warehouse"
#: one slot per Act-On account (see docs/tokens-and-pacing.md)
ACTON_POOL = "acton_default"
# The warehouse keeps UTC timestamps as text "YYYY-MM-DDTHH:MM:SS": bind the data interval in that form.
WINDOW = {
    "start": "{{ data_interval_start.strftime('%Y-%m-%dT%H:%M:%S') }}",
    "end": "{{ data_interval_end.strftime('%Y-%m-%dT%H:%M:%S') }}",
}


@dag(
    dag_id="acton_webinar_attendance",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    params={
        "destination": Param("Webinars", type="string", description="Act-On custom-event listing name"),
        "max_rejected_ratio": Param(0.05, type="number", minimum=0, maximum=1),
    },
    tags=["events", "acton", "example"],
    doc_md=__doc__,
)
def acton_webinar_attendance() -> None:
    upload = SqlToEventsOperator(
        task_id="upload_attendance",
        conn_id=WAREHOUSE_CONN_ID,
        sql="""
            SELECT id, email, webinar_title, attended_at, note
            FROM webinar_attendance
            WHERE attended_at >= :start AND attended_at < :end
            ORDER BY id
        """,
        parameters=WINDOW,
        destination_conn_id="acton_default",
        destination_options={
            "destination": "{{ params.destination }}",
            "customeventaction": "CUSTOM_ATTENDED",
            "dateformat": "yyyy-MM-dd",
        },
        mapping={"email": "email", "date": "attended_at", "title": "webinar_title", "note": "note"},
        key_columns=["id"],
        wait_for_completion=False,  # the deferrable sensor below waits
        max_rejected_ratio=1,  # no limit here: check_rejects judges, together with Act-On's own rejects
        pool=ACTON_POOL,  # 5 calls/s per account across workers: one Act-On task at a time
    )

    wait = ActOnCustomEventJobSensor(
        task_id="wait_for_jobs",
        job_id="{{ ti.xcom_pull(task_ids='upload_attendance')['job_ids'] }}",
        deferrable=True,
        poke_interval=30,
        timeout=2 * 3600,
        max_rejected_ratio=1,  # no limit here: check_rejects judges
        pool=ACTON_POOL,
    )

    @task
    def check_rejects(report: dict[str, Any], jobs: dict[str, Any], params: Any = None) -> dict[str, Any]:
        """Fail when the rows rejected before the upload plus those Act-On rejected are too many."""
        rejected = report["rejected"] + jobs["rejected"]
        ratio = rejected / report["rows_read"] if report["rows_read"] else 0.0
        summary = {
            "rows_read": report["rows_read"],
            "appended": jobs["appended"],
            "rejected": rejected,
            "rejects_path": report["rejects_path"],
        }
        if ratio > float(params["max_rejected_ratio"]):
            raise AirflowFailException(
                f"{rejected} of {report['rows_read']} rows rejected ({ratio:.1%}), over "
                f"max_rejected_ratio={params['max_rejected_ratio']}; see {report['rejects_path']}"
            )
        return summary

    upload >> wait
    check_rejects(upload.output, wait.output)


acton_webinar_attendance()
