"""Fixtures and helpers of the sync tests (the engine in tests/sync, the sync operator in tests/operators):
a real SQLite warehouse behind an Airflow connection, the Gainsight PX mapping, a DAG of the sync operator.

Registered for the whole suite in ``tests/conftest.py``; a directory or module defining its own ``warehouse``
fixture (``tests/examples``, ``tests/lineage``) overrides this one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from airflow.sdk import DAG

from airflow_provider_events.operators.sync import SqlToEventsOperator

#: epoch milliseconds of 2024-01-01T00:00:00Z
BASE_MS = 1_704_067_200_000

#: Gainsight PX mapping used by most tests.
PX_MAPPING = {
    "identifyId": "user_id",
    "eventName": "event",
    "date": "{{ row.ts_ms }}",
    "attributes": {"amount": "amount", "plan": "{{ row.plan | upper }}"},
}


def build_events_db(path: Path, rows: int, *, bad_rows: frozenset[int] = frozenset(), pad: int = 0) -> Path:
    """``events(id, user_id, event, amount, plan, ts_ms, pad)``; rows numbered 1..rows in id order.

    Rows in ``bad_rows`` have no ``user_id`` (Gainsight PX requires ``identifyId``).
    """
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE IF EXISTS events")
    conn.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, user_id TEXT, event TEXT, amount REAL, plan TEXT, "
        "ts_ms INTEGER, pad TEXT)"
    )
    filler = "x" * pad

    def gen():  # type: ignore[no-untyped-def]
        for i in range(1, rows + 1):
            user = None if i in bad_rows else f"user-{i:06d}"
            yield (
                i,
                user,
                "feature_used",
                i * 1.5,
                "pro" if i % 2 else "starter",
                BASE_MS + i * 1000,
                filler,
            )

    conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", gen())
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Build the events table and point the ``warehouse`` SQLite connection at it."""

    def make(rows: int, **kwargs: object) -> Path:
        db = build_events_db(tmp_path / "warehouse.db", rows, **kwargs)  # type: ignore[arg-type]
        monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(db)}))
        return db

    return make


def px_received(emulator: object) -> list[dict]:  # type: ignore[type-arg]
    """Custom events the Gainsight PX emulator stored."""
    return emulator.emulator.vendor("gainsight_px").snapshot()["received"]  # type: ignore[attr-defined]


SQL = "SELECT * FROM events ORDER BY id"


def make_dag(dag_id: str, **op_kwargs: object) -> DAG:
    with DAG(dag_id=dag_id, schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as dag:
        SqlToEventsOperator(
            task_id="sync",
            conn_id="warehouse",
            sql=op_kwargs.pop("sql", SQL),
            destination_conn_id="gainsight_px_default",
            mapping=op_kwargs.pop("mapping", PX_MAPPING),
            **op_kwargs,
        )
    return dag
