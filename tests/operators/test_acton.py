"""Act-On operators and sensor in real DAG runs (``dag.test()`` through ``run_dag``) against the emulator."""
# ruff: noqa: RUF001 - the en dash is one of the hostile, non-ASCII test values

from __future__ import annotations

import csv
import json
import sqlite3
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG
from dag_runner import run_dag, task_states, xcom

from airflow_provider_events.operators.acton import (
    ActOnSendCustomEventOperator,
    ActOnUploadCustomEventsOperator,
)
from airflow_provider_events.sensors.acton import ActOnCustomEventJobSensor
from airflow_provider_events.triggers.acton import ActOnCustomEventJobTrigger

ROWS = [
    ("ann@example.com", "01/25/2023", "Webinar, part 1", 'She said "hi"'),
    ("bob@example.com", "02/05/2024", "Zürich – café ☕", "line one\nline two"),
    ("cy@example.com", "12/31/2023", 'Quote " inside', "semi;colon"),
]


def write_csv(path: Path, rows: list[tuple[str, ...]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("email", "when", "title", "note"))
        writer.writerows(rows)
    return path


def make_dag(dag_id: str) -> DAG:
    return DAG(dag_id, schedule=None, start_date=datetime(2024, 1, 1), catchup=False)


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


def test_sensor_poke_and_reschedule_modes_and_failed_job(airflow_db: Any, acton: Any, tmp_path: Path) -> None:
    from airflow_provider_events.hooks.acton import ActOnHook

    hook = ActOnHook()
    path = write_csv(tmp_path / "e.csv", ROWS)
    kwargs: dict[str, Any] = {
        "destination": "Sensor",
        "customeventaction": "CUSTOM_GENERAL",
        "email_col": 0,
        "date_col": 1,
        "title_col": 2,
        "dateformat": "MM/dd/yyyy",
    }
    ok = hook.upload_custom_events(path, **kwargs)
    acton.seed({"fail_next_job": "Listing is archived"})
    bad = hook.upload_custom_events(path, **kwargs)
    with make_dag("acton_sensor_modes") as dag:
        ActOnCustomEventJobSensor(task_id="poke", job_id=ok, poke_interval=0.1, timeout=30)
        ActOnCustomEventJobSensor(
            task_id="resched", job_id=ok, mode="reschedule", poke_interval=0.1, timeout=30
        )
        ActOnCustomEventJobSensor(task_id="failed", job_id=bad, poke_interval=0.1, timeout=30)
        ActOnCustomEventJobSensor(task_id="expired", job_id="1", poke_interval=0.1, timeout=30)
        ActOnCustomEventJobSensor(task_id="strict", job_id=ok, max_rejected_ratio=0.0, poke_interval=0.1)
    dr = run_dag(dag)
    states = task_states(dr)
    assert states == {
        "poke": "success",
        "resched": "success",
        "failed": "failed",
        "expired": "failed",
        "strict": "success",
    }
    assert xcom(dr, "poke") == {"job_ids": [ok], "appended": 3, "rejected": 0}
    # deferrable mode checks once first: a finished job costs one status call and no deferral
    polls = acton.snapshot()["counters"]["status_polls"]
    with make_dag("acton_sensor_done") as dag2:
        ActOnCustomEventJobSensor(task_id="done", job_id=ok, deferrable=True, poke_interval=5, timeout=30)
    dr2 = run_dag(dag2)
    assert task_states(dr2) == {"done": "success"}
    assert acton.snapshot()["counters"]["status_polls"] - polls == 1


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
    # the job finishes 1.7 s after the upload: attempt 1 gives up after ~1 s, attempt 2 waits up to 1 s more
    acton.seed({"next_job_delays": {"pending": 1.6, "running": 0.1}})
    with make_dag("acton_retry") as dag:
        upload_op(
            write_csv(tmp_path / "e.csv", ROWS),
            timeout=1.0,
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


def test_trigger_serialises_only_ids_and_timing() -> None:
    trigger = ActOnCustomEventJobTrigger(["1", "2"], "acton_default", 5, 1234.5)
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_events.triggers.acton.ActOnCustomEventJobTrigger"
    assert kwargs == {
        "job_ids": ["1", "2"],
        "acton_conn_id": "acton_default",
        "poll_interval": 5.0,
        "deadline": 1234.5,
    }


def test_trigger_retries_transient_errors(
    acton: Any, emulator: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    import asyncio

    from airflow_provider_events.hooks.acton import ActOnHook

    hook = ActOnHook()
    job = hook.upload_custom_events(
        write_csv(tmp_path / "e.csv", ROWS),
        destination="Trig",
        customeventaction="CUSTOM_GENERAL",
        email_col=0,
        date_col=1,
        title_col=2,
        dateformat="MM/dd/yyyy",
    )
    # every poll fails until the trigger has met at least one server error, then the vendor recovers: the
    # trigger must ride it out (a random error share could let the first poll through and prove nothing)
    emulator.emulator.set_faults("acton", error_rate=1.0)

    def recover_after_first_error() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and emulator.emulator.fault_counters("acton")["server_errors"] < 1:
            time.sleep(0.02)
        emulator.emulator.set_faults("acton", error_rate=0.0)

    recovery = threading.Thread(target=recover_after_first_error, daemon=True)
    recovery.start()
    conn = emulator.connection("acton")
    conn["extra"].update(max_retries=0, max_requests_per_second=50)  # every injected 5xx reaches the trigger
    monkeypatch.setenv("AIRFLOW_CONN_ACTON_FLAKY", json.dumps(conn))
    try:
        trigger = ActOnCustomEventJobTrigger([job], "acton_flaky", poll_interval=0.05, deadline=None)

        async def first_event() -> Any:
            async for event in trigger.run():
                return event.payload
            return None

        payload = asyncio.run(asyncio.wait_for(first_event(), 60))
    finally:
        recovery.join(timeout=60)
        emulator.emulator.set_faults("acton", error_rate=0.0)
    assert payload["status"] == "success", payload
    assert payload["jobs"][0]["append_count"] == 3
    assert emulator.emulator.fault_counters("acton")["server_errors"] > 0


def test_sensor_with_no_job_settles_at_once(acton: Any, airflow_db: Any) -> None:
    """A day with no valid rows submits no job: the sensor (any mode) succeeds with zero counts."""
    dag = make_dag("acton_sensor_no_job")
    with dag:
        ActOnCustomEventJobSensor(
            task_id="rendered_empty", job_id="{{ [] }}", deferrable=True, poke_interval=1
        )
        ActOnCustomEventJobSensor(task_id="empty_list", job_id=[], poke_interval=1)
    run = run_dag(dag)
    assert task_states(run) == {"rendered_empty": "success", "empty_list": "success"}
    assert xcom(run, "rendered_empty") == {"job_ids": [], "appended": 0, "rejected": 0}
    assert acton.snapshot()["counters"]["status_polls"] == 0


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
