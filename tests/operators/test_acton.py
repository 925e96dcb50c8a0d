"""Act-On operators in real DAG runs (``dag.test()`` through ``run_dag``) against the emulator."""
# ruff: noqa: RUF001 - the en dash is one of the hostile, non-ASCII test values

from __future__ import annotations

import json
import sqlite3
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from dag_runner import run_dag, task_states, xcom
from helpers.acton import ROWS, make_dag, write_csv

from airflow_provider_events.operators.acton import (
    ActOnSendCustomEventOperator,
    ActOnUploadCustomEventsOperator,
)
from airflow_provider_events.sensors.acton import ActOnCustomEventJobSensor


def upload_op(path: Path, **kwargs: Any) -> ActOnUploadCustomEventsOperator:
    args: dict[str, Any] = {
        "task_id": "upload",
        "file_path": str(path),
        "destination": "DAG events",
        "customeventaction": "CUSTOM_REGISTERED",
        "note_col": 3,
        "dateformat": "MM/dd/yyyy",
        "poll_interval": 0.1,
        "deferrable": False,
    }
    args.update(kwargs)
    return ActOnUploadCustomEventsOperator(**args)


def events(acton: Any) -> list[tuple[str, ...]]:
    return [(e["email"], e["date_text"], e["title"], e["note"]) for e in acton.events()]


def test_upload_file_and_wait(airflow_db: Any, acton: Any, tmp_path: Path) -> None:
    with make_dag("acton_upload_wait") as dag:
        upload_op(write_csv(tmp_path / "e.csv", ROWS))
    dr = run_dag(dag)
    assert task_states(dr) == {"upload": "success"}
    result = xcom(dr, "upload")
    assert result["status"] == "succeeded"
    assert (result["appended"], result["rejected"]) == (3, 0)
    assert len(result["job_ids"]) == 1
    assert events(acton) == ROWS


def test_deferrable_upload_and_sensor(airflow_db: Any, acton: Any, tmp_path: Path) -> None:
    acton.seed({"job_delays": {"pending": 0.5, "running": 0.5}})
    with make_dag("acton_upload_deferred") as dag:
        upload_op(write_csv(tmp_path / "e.csv", ROWS), deferrable=True, timeout=60)
        submit = upload_op(
            write_csv(tmp_path / "f.csv", ROWS[:1]), task_id="submit_only", wait_for_completion=False
        )
        sense = ActOnCustomEventJobSensor(
            task_id="sense",
            job_id="{{ ti.xcom_pull(task_ids='submit_only')['job_ids'] }}",
            deferrable=True,
            poke_interval=0.1,
            timeout=60,
        )
        submit >> sense
    dr = run_dag(dag)
    assert task_states(dr) == {"upload": "success", "submit_only": "success", "sense": "success"}
    assert xcom(dr, "upload")["appended"] == 3
    assert xcom(dr, "submit_only")["status"] == "submitted"
    assert xcom(dr, "sense") == {"job_ids": xcom(dr, "submit_only")["job_ids"], "appended": 1, "rejected": 0}
    assert acton.snapshot()["uploads"] == 2


def test_rejected_threshold_fails_the_task(airflow_db: Any, acton: Any, tmp_path: Path) -> None:
    rows = [*ROWS, ("not-an-email", "01/25/2023", "t", "")]
    with make_dag("acton_threshold") as dag:
        upload_op(write_csv(tmp_path / "r.csv", rows), task_id="strict", max_rejected=0)
        upload_op(write_csv(tmp_path / "r2.csv", rows), task_id="tolerant", max_rejected_ratio=0.25)
    dr = run_dag(dag)
    assert task_states(dr) == {"strict": "failed", "tolerant": "success"}
    assert (xcom(dr, "tolerant")["appended"], xcom(dr, "tolerant")["rejected"]) == (3, 1)


def test_retry_reattaches_without_a_second_upload(airflow_db: Any, acton: Any, tmp_path: Path) -> None:
    """Attempt 1 uploads, then gives up waiting (timeout); attempt 2 re-attaches to the same job."""
    # the job finishes 3.6 s after the upload: attempt 1 gives up after 2 s of waiting, attempt 2 waits up to
    # 2 s more. Attempt 1 would see the job finish only if its wait began over 1.6 s after the upload (with
    # 1.7 s and 1 s, 0.7 s of a busy machine between upload and wait made attempt 1 succeed)
    acton.seed({"next_job_delays": {"pending": 3.5, "running": 0.1}})
    with make_dag("acton_retry") as dag:
        upload_op(
            write_csv(tmp_path / "e.csv", ROWS),
            timeout=2.0,
            retries=1,
            retry_delay=timedelta(seconds=0),
        )
    dr = run_dag(dag)
    assert task_states(dr) == {"upload": "success"}
    [ti] = dr.get_task_instances()
    assert ti.try_number == 2
    assert acton.snapshot()["uploads"] == 1
    assert xcom(dr, "upload")["appended"] == 3


def test_failed_job_is_uploaded_again_on_retry(airflow_db: Any, acton: Any, tmp_path: Path) -> None:
    acton.seed({"fail_next_job": "Temporary failure"})
    with make_dag("acton_failed_retry") as dag:
        upload_op(write_csv(tmp_path / "e.csv", ROWS), retries=1, retry_delay=timedelta(seconds=0))
    dr = run_dag(dag)
    assert task_states(dr) == {"upload": "success"}
    assert acton.snapshot()["uploads"] == 2
    assert events(acton) == ROWS


def test_sql_rows_with_hostile_values(airflow_db: Any, acton: Any, tmp_path: Path, monkeypatch: Any) -> None:
    db = tmp_path / "wh.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE ev (id INTEGER, mail TEXT, ts TEXT, title TEXT, note TEXT)")
        conn.executemany(
            "INSERT INTO ev VALUES (?, ?, ?, ?, ?)",
            [
                (1, "Ann@Example.com", "2023-01-25", "Webinar, part 1", 'She said "hi"'),
                (2, "bob@example.com", "2024-02-05T10:30:00", "Zürich – café ☕\nline 2", "a,b;c\r\nd"),
                (3, "broken", "2024-02-05", "t", None),
                (4, "dee@example.com", "not a date", "t", None),
                (5, "eve@example.com", "2024-03-09", "Zürich – café ☕\nline 2", None),
            ],
        )
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    with make_dag("acton_sql") as dag:
        ActOnUploadCustomEventsOperator(
            task_id="sql_upload",
            conn_id="warehouse",
            sql="SELECT id, mail, ts, title, note FROM ev ORDER BY id",
            mapping={"email": "{{ row.mail | lower }}", "date": "ts", "title": "title", "note": "note"},
            destination="From SQL",
            customeventaction="CUSTOM_ATTENDED",
            dateformat="EEE, dd MMM yyyy",
            poll_interval=0.1,
            max_rejected=2,
            deferrable=True,
            sync_options={"key_columns": ["id"], "rejects_path": str(tmp_path / "rejects.jsonl")},
        )
    dr = run_dag(dag)
    assert task_states(dr) == {"sql_upload": "success"}
    result = xcom(dr, "sql_upload")
    assert (result["rows_read"], result["appended"], result["invalid_rows"], result["rejected"]) == (
        5,
        3,
        2,
        2,
    )
    got = [(e["email"], e["date_text"], e["title"], e["note"]) for e in acton.events("From SQL")]
    assert got == [
        ("ann@example.com", "Wed, 25 Jan 2023", "Webinar, part 1", 'She said "hi"'),
        ("bob@example.com", "Mon, 05 Feb 2024", "Zürich – café ☕\nline 2", "a,b;c\r\nd"),
        ("eve@example.com", "Sat, 09 Mar 2024", "Zürich – café ☕\nline 2", ""),
    ]
    (job,) = acton.snapshot()["jobs"]
    assert job["form"]["titlecount"] == "2"
    assert Path(result["rejects_path"]).exists()


def test_send_single_event(airflow_db: Any, acton: Any) -> None:
    with make_dag("acton_fact") as dag:
        ActOnSendCustomEventOperator(
            task_id="fact",
            destination="Facts",
            customeventaction="CUSTOM_GENERAL1",
            contact_email="{{ params.who }}",
            title="Signed up: {{ dag.dag_id }}",
            when=date(2024, 1, 25),
            dateformat="dd/MM/yyyy",
            createlistingentry=True,
            params={"who": "fan@example.com"},
        )
    dr = run_dag(dag)
    assert task_states(dr) == {"fact": "success"}
    assert xcom(dr, "fact") == {
        "destination": "Facts",
        "customeventaction": "CUSTOM_GENERAL1",
        "status": "sent",
    }
    (fact,) = acton.snapshot()["facts"]
    assert (fact["email"], fact["date_text"], fact["title"]) == (
        "fan@example.com",
        "25/01/2024",
        "Signed up: acton_fact",
    )
    assert fact["date"] == "2024-01-25"
    assert fact["created_destination"]


def test_sql_upload_without_waiting_reports_counts_and_applies_thresholds(
    airflow_db: Any, acton: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    """Not waiting (a sensor waits later): the result still says what was read and rejected before upload."""
    db = tmp_path / "wh.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE ev (id INTEGER, mail TEXT, ts TEXT, title TEXT)")
        conn.executemany(
            "INSERT INTO ev VALUES (?, ?, ?, ?)",
            [
                (1, "ann@example.com", "2024-01-25", "t"),
                (2, "broken", "2024-01-25", "t"),
                (3, "cy@example.com", "2024-01-26", "t"),
            ],
        )
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(db)}))

    def upload(task_id: str, **kwargs: Any) -> ActOnUploadCustomEventsOperator:
        return ActOnUploadCustomEventsOperator(
            task_id=task_id,
            conn_id="warehouse",
            sql="SELECT id, mail, ts, title FROM ev ORDER BY id",
            mapping={"email": "mail", "date": "ts", "title": "title"},
            destination=f"No wait {task_id}",
            customeventaction="CUSTOM_GENERAL",
            dateformat="yyyy-MM-dd",
            wait_for_completion=False,
            sync_options={"key_columns": ["id"], "rejects_path": str(tmp_path / f"{task_id}.jsonl")},
            **kwargs,
        )

    with make_dag("acton_sql_no_wait") as dag:
        upload("tolerant", max_rejected=1)
        upload("strict", max_rejected=0)
    dr = run_dag(dag)
    assert task_states(dr) == {"tolerant": "success", "strict": "failed"}
    result = xcom(dr, "tolerant")
    assert result["status"] == "submitted"
    assert len(result["job_ids"]) == 1
    assert (result["rows_read"], result["invalid_rows"]) == (3, 1)
    assert result["rejects_path"] == str(tmp_path / "tolerant.jsonl")


def test_the_split_operator_modules_keep_the_old_import_paths() -> None:
    """operators/acton.py was split per operator: every public name still imports from it."""
    from airflow_provider_events.operators import (
        acton,
        acton_event,
        acton_listing,
        acton_upload,
        acton_upload_state,
    )

    assert acton.ActOnUploadCustomEventsOperator is acton_upload.ActOnUploadCustomEventsOperator
    assert acton.ActOnSendCustomEventOperator is acton_event.ActOnSendCustomEventOperator
    listing_operator = acton_listing.ActOnListCustomEventDestinationsOperator
    assert acton.ActOnListCustomEventDestinationsOperator is listing_operator
    assert acton.DESTINATION_CSV_COLUMNS is acton_listing.DESTINATION_CSV_COLUMNS
    assert acton.DEFAULT_TIMEOUT == acton_upload.DEFAULT_TIMEOUT
    assert acton.STATE_KEY == acton_upload_state.STATE_KEY == "acton_upload_operator"
    for name in acton.__all__:
        assert hasattr(acton, name), name
