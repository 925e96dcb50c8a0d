"""GainsightPXSendCustomEventsOperator run by Airflow (dag.test()) from SQLite and records, via the engine."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest
from airflow.sdk import DAG
from dag_runner import run_dag, task_states, xcom
from helpers.gainsight_px import PX

from airflow_provider_events.hooks.gainsight_px import event_id_for_key
from airflow_provider_events.operators.gainsight_px import GainsightPXSendCustomEventsOperator

pytestmark = pytest.mark.usefixtures("airflow_db", "tmp_state")

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def _warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    db = tmp_path / "warehouse.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE usage (id INTEGER, user_id TEXT, feature TEXT, ts TEXT, seats INTEGER)")
    conn.executemany(
        "INSERT INTO usage VALUES (?, ?, ?, ?, ?)",
        [(i, f"user-{i % 4}", "report_export", f"2026-01-01T00:{i:02d}:00", i) for i in range(n)],
    )
    conn.commit()
    conn.close()
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(db)}))


def test_sql_rows_to_custom_events_with_read_back(
    px: PX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _warehouse(tmp_path, monkeypatch, 30)
    px.state.seed(
        {"events": [{"identifyId": "other", "eventName": "report_export", "date": T0_MS + 5, "eventId": "x"}]}
    )
    with DAG("px_sql", schedule=None, start_date=START) as dag:
        GainsightPXSendCustomEventsOperator(
            task_id="send",
            conn_id="warehouse",
            sql="SELECT id, user_id, feature, ts, seats FROM usage ORDER BY id",
            mapping={
                "identifyId": "user_id",
                "eventName": "feature",
                "date": "ts",  # ISO text without offset: UTC
                "attributes": {"seats": "seats", "source": "{{ 'warehouse' }}"},
            },
            key_columns=["id"],
            user_type="lead",
            verify_delivery=True,
            max_concurrency=4,
        )
    result = xcom(run_dag(dag), "send")
    assert result["accepted"] == 30
    assert result["verification"] == {
        "accepted": 30,
        "found": 30,
        "missing": 0,
        "read": 31,  # the seeded foreign event is in the window too, but is not counted as found
        "window_start": T0_MS,
        "window_end": T0_MS + 29 * 60_000,
        "complete": True,
    }
    received = {e["eventId"]: e for e in px.state.snapshot()["received"] if e["eventId"] != "x"}
    assert set(received) == {event_id_for_key(str(i)) for i in range(30)}
    sample = received[event_id_for_key("3")]
    assert sample == {
        "identifyId": "user-3",
        "propertyKey": "AP-EMULATOR-2",
        "eventName": "report_export",
        "userType": "LEAD",
        "date": T0_MS + 3 * 60_000,
        "eventId": event_id_for_key("3"),
        "attributes": {"seats": 3, "source": "warehouse"},
    }


def test_records_with_a_bad_row_fail_after_delivering_the_rest(px: PX) -> None:
    records = [
        {"identifyId": "a", "eventName": "signup", "date": T0_MS, "k": 1},
        {"identifyId": "b", "eventName": "signup", "date": 1_767_225_600, "k": 2},  # seconds
    ]
    with DAG("px_records_bad", schedule=None, start_date=START) as dag:
        GainsightPXSendCustomEventsOperator(
            task_id="send",
            records=records,
            mapping={"identifyId": "identifyId", "eventName": "eventName", "date": "date"},
            key_columns=["k"],
        )
    run = run_dag(dag)
    assert task_states(run)["send"] == "failed"
    assert [e["identifyId"] for e in px.state.snapshot()["received"]] == ["a"]


def test_verification_reports_missing_events(px: PX) -> None:
    """Events the vendor accepted but does not return (here: deleted behind our back) are reported."""
    records = [{"identifyId": f"u{i}", "date": T0_MS + i, "k": i} for i in range(5)]
    with DAG("px_verify_missing", schedule=None, start_date=START) as dag:
        GainsightPXSendCustomEventsOperator(
            task_id="send",
            records=records,
            mapping={"identifyId": "identifyId", "date": "date"},
            key_columns=["k"],
            event_name="{{ dag.dag_id }}",
            verify_delivery=True,
        )
    emulator = px.state
    original_store = emulator._store

    def lose_every_other(event: dict[str, object]) -> bool:
        if str(event.get("identifyId")) in ("u1", "u3"):
            return False
        return original_store(event)

    emulator._store = lose_every_other
    try:
        result = xcom(run_dag(dag), "send")
    finally:
        del emulator._store
    assert result["accepted"] == 5
    assert {k: result["verification"][k] for k in ("accepted", "found", "missing", "complete")} == {
        "accepted": 5,
        "found": 3,
        "missing": 2,
        "complete": False,
    }
    assert {e["eventName"] for e in px.state.snapshot()["received"]} == {"px_verify_missing"}


def test_operator_defaults_and_template_fields() -> None:
    op = GainsightPXSendCustomEventsOperator(task_id="t", records=[])
    assert op.destination_conn_id == "gainsight_px_default"
    assert {"property_key", "user_type", "event_name", "sql", "records", "mapping"} <= set(op.template_fields)
