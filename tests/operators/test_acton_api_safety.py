"""Act-On's public API: finite waits by default in every mode, no resend of a single event after an
ambiguous failure, Param-driven knobs, and the same template names in ``mapping`` as the sync operator."""

from __future__ import annotations

import inspect
import json
import sqlite3
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk import Param
from airflow.sdk.exceptions import TaskDeferred
from dag_runner import run_dag, task_states, xcom
from helpers.acton import SEVEN_DAYS, make_dag, write_one_event_csv

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.operators.acton import (
    DEFAULT_TIMEOUT,
    ActOnSendCustomEventOperator,
    ActOnUploadCustomEventsOperator,
)


def context(task_id: str) -> Any:
    """The task context fields the upload operator reads outside a DAG run (its checkpoint's identity, and
    the XCom its extra link reads, kept here)."""
    pushed: dict[str, Any] = {}

    def xcom_push(key: str, value: Any) -> None:
        pushed[key] = value

    ti = SimpleNamespace(
        dag_id="acton_api_safety",
        run_id=f"run-{time.time_ns()}",
        task_id=task_id,
        map_index=-1,
        xcom_push=xcom_push,
    )
    return {"ti": ti}


def test_upload_waits_seven_days_by_default() -> None:
    assert DEFAULT_TIMEOUT == SEVEN_DAYS
    assert inspect.signature(ActOnUploadCustomEventsOperator).parameters["timeout"].default == SEVEN_DAYS


def test_deferrable_upload_defers_with_a_finite_deadline(acton: Any, tmp_path: Path) -> None:
    acton.seed({"next_job_delays": {"pending": 600, "running": 0.1}})
    op = ActOnUploadCustomEventsOperator(
        task_id="upload",
        file_path=str(write_one_event_csv(tmp_path / "e.csv")),
        destination="Deferred",
        customeventaction="CUSTOM_GENERAL",
        dateformat="MM/dd/yyyy",
        deferrable=True,
    )
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context("upload"))
    deadline = deferred.value.trigger.deadline
    assert deadline is not None
    assert before + SEVEN_DAYS <= deadline <= time.time() + SEVEN_DAYS


def test_templated_timeout_and_poll_interval_end_a_wait(airflow_db: Any, acton: Any, tmp_path: Path) -> None:
    acton.seed({"next_job_delays": {"pending": 600, "running": 0.1}})
    with make_dag("acton_templated_timeout", params={"timeout": 1, "poll": 0.1}) as dag:
        ActOnUploadCustomEventsOperator(
            task_id="upload",
            file_path=str(write_one_event_csv(tmp_path / "e.csv")),
            destination="Timeout",
            customeventaction="CUSTOM_GENERAL",
            dateformat="MM/dd/yyyy",
            deferrable=False,
            timeout="{{ params.timeout }}",
            poll_interval="{{ params.poll }}",
        )
    dr = run_dag(dag)
    assert task_states(dr) == {"upload": "failed"}
    assert acton.snapshot()["uploads"] == 1


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("poll_interval", "soon", "poll_interval must be a number"),
        ("poll_interval", "0", "poll_interval must be more than 0"),
        ("timeout", "-5", "timeout must be more than 0"),
        ("max_rejected", "x", "max_rejected must be an integer"),
        ("max_rejected_ratio", "2", "max_rejected_ratio must be at most 1"),
        ("wait_for_completion", "perhaps", "wait_for_completion must be true or false"),
        ("max_upload_bytes", "big", "max_upload_bytes must be an integer"),
    ],
)
def test_rendered_values_are_checked_naming_the_argument(name: str, value: str, message: str) -> None:
    op = ActOnUploadCustomEventsOperator(
        task_id="u", file_path="/x.csv", destination="d", customeventaction="CUSTOM_GENERAL"
    )
    setattr(op, name, value)
    with pytest.raises(ConfigurationError, match=message):
        op._convert_rendered()


def test_sql_upload_mapping_and_knobs_from_params(
    airflow_db: Any, acton: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    """``{"title": "{{ params.t }}"}`` works as in the sync operator, and so do row templates using params."""
    db = tmp_path / "wh.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE ev (id INTEGER, mail TEXT, ts TEXT, topic TEXT)")
        conn.executemany(
            "INSERT INTO ev VALUES (?, ?, ?, ?)",
            [(1, "ann@example.com", "2024-01-25", "a"), (2, "broken", "2024-01-25", "b")],
        )
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    params = {
        "t": Param("Webinar", type="string"),
        "max_rejected": Param(1, type="integer"),
        "chunk": Param(1, type="integer"),
        "poll": Param(0.1, type="number"),
        "wait": Param(True, type="boolean"),
    }
    with make_dag("acton_params", params=params) as dag:
        for task_id, mapping in {
            "constant_title": {"email": "mail", "date": "ts", "title": "{{ params.t }}"},
            "row_title": {"email": "mail", "date": "ts", "title": "{{ params.t }} {{ row.topic }} {{ ds }}"},
        }.items():
            ActOnUploadCustomEventsOperator(
                task_id=task_id,
                conn_id="warehouse",
                sql="SELECT id, mail, ts, topic FROM ev ORDER BY id",
                hook_params={"log_sql": False},
                mapping=mapping,
                destination=f"Params {task_id}",
                customeventaction="CUSTOM_GENERAL",
                dateformat="yyyy-MM-dd",
                deferrable=False,
                poll_interval="{{ params.poll }}",
                wait_for_completion="{{ params.wait }}",
                max_rejected="{{ params.max_rejected }}",
                sync_options={"key_columns": "id", "chunk_size": "{{ params.chunk }}"},
            )
    dr = run_dag(dag)
    assert task_states(dr) == {"constant_title": "success", "row_title": "success"}
    for task_id in ("constant_title", "row_title"):
        result = xcom(dr, task_id)
        assert (result["status"], result["appended"], result["invalid_rows"]) == ("succeeded", 1, 1)
    assert [e["title"] for e in acton.events("Params constant_title")] == ["Webinar"]
    [row_title] = [e["title"] for e in acton.events("Params row_title")]
    assert row_title.startswith("Webinar a ")
    assert len(row_title) == len("Webinar a 2024-01-25")

    strict = run_dag(dag, run_conf={"max_rejected": 0})
    assert task_states(strict) == {"constant_title": "failed", "row_title": "failed"}


def fact_op(**kwargs: Any) -> ActOnSendCustomEventOperator:
    return ActOnSendCustomEventOperator(
        task_id="fact",
        destination="Facts",
        customeventaction="CUSTOM_GENERAL1",
        contact_email="fan@example.com",
        title="Signed up",
        createlistingentry=True,
        retries=2,
        retry_delay=timedelta(seconds=0),
        **kwargs,
    )


def drop_the_next_fact(emulator: Any) -> None:
    """Log in first (the token is shared through the store), so the dropped answer is the fact's."""
    from airflow_provider_events.hooks.acton import ActOnHook

    hook = ActOnHook()
    try:
        hook.get_access_token()
    finally:
        hook.close()
    emulator.emulator.set_faults("acton", drop_after_accept=1)


def test_single_event_is_not_resent_after_an_ambiguous_failure(
    airflow_db: Any, acton: Any, emulator: Any
) -> None:
    drop_the_next_fact(emulator)
    try:
        with make_dag("acton_fact_ambiguous") as dag:
            fact_op()
        dr = run_dag(dag)
    finally:
        emulator.emulator.set_faults("acton", drop_after_accept=0)
    assert task_states(dr) == {"fact": "failed"}
    [ti] = dr.get_task_instances()
    assert ti.try_number == 1  # failed without the two retries
    assert len(acton.snapshot()["facts"]) == 1  # Act-On recorded it once
    assert emulator.emulator.fault_counters("acton")["dropped_after_accept"] == 1


def test_retry_ambiguous_from_a_param_allows_the_resend(airflow_db: Any, acton: Any, emulator: Any) -> None:
    drop_the_next_fact(emulator)
    try:
        with make_dag("acton_fact_retry", params={"retry": Param(False, type="boolean")}) as dag:
            fact_op(retry_ambiguous="{{ params.retry }}")
        dr = run_dag(dag, run_conf={"retry": True})
    finally:
        emulator.emulator.set_faults("acton", drop_after_accept=0)
    assert task_states(dr) == {"fact": "success"}
    [ti] = dr.get_task_instances()
    assert ti.try_number == 2
    assert len(acton.snapshot()["facts"]) == 2  # at-least-once, as asked: the event is recorded twice


def test_a_lost_login_answer_is_retried_as_usual(airflow_db: Any, acton: Any, emulator: Any) -> None:
    """Only the event's own request is guarded: logging in again is safe, so a lost login answer retries."""
    emulator.emulator.set_faults("acton", drop_after_accept=1)  # no token yet: the login is dropped
    try:
        with make_dag("acton_fact_login_dropped") as dag:
            fact_op()
        dr = run_dag(dag)
    finally:
        emulator.emulator.set_faults("acton", drop_after_accept=0)
    assert task_states(dr) == {"fact": "success"}
    [ti] = dr.get_task_instances()
    assert ti.try_number == 2
    assert len(acton.snapshot()["facts"]) == 1
