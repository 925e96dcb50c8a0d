"""SqlToEventsOperator reading a real PostgreSQL server through a named (server-side) cursor, via dag.test().

The cluster logs every statement, so the tests see the ``DECLARE ... CURSOR`` and the ``FETCH FORWARD`` of
each chunk: proof that rows were streamed from the server, not fetched into the worker at once. (The
postgres provider hands out psycopg 3 connections when psycopg 3 is installed, psycopg2 ones otherwise;
both take the named-cursor path.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime

import pytest
from airflow.sdk import DAG

from airflow_provider_events.operators.sync import SqlToEventsOperator
from airflow_provider_events.sync.rejects import read_rejects
from airflow_provider_events.sync.source import SqlSource
from tests.dag_runner import run_dag, task_states, xcom

pytestmark = pytest.mark.usefixtures("airflow_db", "tmp_state")

ROWS = 5_000
CHUNK = 500
SQL = "SELECT * FROM events ORDER BY id"
MAPPING = {
    "identifyId": "user_id",
    "eventName": "event",
    "date": "{{ row.ts_ms }}",
    "attributes": {"amount": "amount", "plan": "{{ row.plan | upper }}"},
}
DECLARE = re.compile(
    r'DECLARE "(ape_sync_[0-9a-f]+)" CURSOR (?:WITHOUT HOLD )?FOR\s+SELECT \* FROM events', re.I
)


def make_dag(dag_id: str, **op_kwargs: object) -> DAG:
    with DAG(dag_id=dag_id, schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as dag:
        SqlToEventsOperator(
            task_id="sync",
            conn_id="pg_warehouse",
            sql=SQL,
            destination_conn_id="gainsight_px_default",
            mapping=MAPPING,
            key_columns=["id"],
            chunk_size=CHUNK,
            **op_kwargs,
        )
    return dag


def px_received(emulator: object) -> list[dict]:  # type: ignore[type-arg]
    return emulator.emulator.vendor("gainsight_px").snapshot()["received"]  # type: ignore[attr-defined]


def cursor_statements(postgres: object, since: int) -> tuple[list[str], list[str]]:
    """The named cursors declared and the FETCHes run after the ``since``-th logged statement."""
    statements = postgres.statements()[since:]  # type: ignore[attr-defined]
    declared = [m.group(1) for s in statements if (m := DECLARE.search(s))]
    fetches = [s for s in statements if s.upper().startswith("FETCH FORWARD")]
    return declared, fetches


def test_5000_rows_stream_from_postgres_to_the_vendor_through_a_named_cursor(emulator, pg_warehouse) -> None:  # type: ignore[no-untyped-def]
    postgres = pg_warehouse(ROWS, bad_every=1000)  # ids 1000, 2000, ... 5000 have no user: rejected
    logged_before = len(postgres.statements())
    dr = run_dag(make_dag("pg_sync_5000", max_concurrency=8, max_rejected_ratio=0.01))
    assert task_states(dr) == {"sync": "success"}

    report = xcom(dr, "sync")
    assert report["rows_read"] == ROWS
    assert report["accepted"] == ROWS - 5
    assert report["rejected"] == 5
    assert report["failed"] == 0
    assert sorted(r["row"]["id"] for r in read_rejects(report["rejects_path"])) == [
        1000,
        2000,
        3000,
        4000,
        5000,
    ]

    # every event, field by field, exactly once
    received = px_received(emulator)
    assert len(received) == ROWS - 5
    by_user = {e["identifyId"]: e for e in received}
    assert len(by_user) == ROWS - 5
    for i in range(1, ROWS + 1):
        event = by_user.get(f"user-{i:07d}")
        if i % 1000 == 0:
            assert event is None
            continue
        assert event is not None, i
        assert event["eventName"] == "feature_used"
        assert event["date"] == 1_704_067_200_000 + i * 1000
        assert event["attributes"] == {"amount": i * 1.5, "plan": "PRO" if i % 2 else "STARTER"}
    assert len({e["eventId"] for e in received}) == ROWS - 5

    # the server-side cursor path: one named cursor, read in FETCH FORWARD chunks of chunk_size
    declared, fetches = cursor_statements(postgres, logged_before)
    assert len(declared) == 1, declared
    name = declared[0]
    reads = [f for f in fetches if f'"{name}"' in f]
    assert all(f.upper().startswith(f"FETCH FORWARD {CHUNK} ") for f in reads)
    assert len(reads) == ROWS // CHUNK + 1  # 10 full chunks, then the empty fetch that ends the stream


def test_sql_source_reports_the_server_side_cursor_and_ends_its_transaction(pg_warehouse) -> None:  # type: ignore[no-untyped-def]
    postgres = pg_warehouse(1_234)
    source = SqlSource("pg_warehouse", SQL, chunk_size=100)
    ids = [row["id"] for row in source]
    assert ids == list(range(1, 1_235))
    assert source.server_side is True
    assert "server-side cursor" in source.describe()
    assert source.columns == ["id", "user_id", "event", "amount", "plan", "ts_ms", "pad"]
    # the read transaction was closed: no session of the sync is left idle in a transaction
    with postgres.connect() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()"
        )
        assert cur.fetchone()[0] == 0
    conn.close()


PSYCOPG2_PROBE = """
import json, sys
sys.modules["psycopg"] = None  # as on a worker without psycopg 3: the postgres hook falls back to psycopg2
from airflow_provider_events.sync.source import SqlSource
source = SqlSource("pg_warehouse", "SELECT * FROM events ORDER BY id", chunk_size=250)
ids = [row["id"] for row in source]
conn_module = type(source.hook().get_conn()).__module__
print(json.dumps({"ids": ids, "server_side": source.server_side, "driver": conn_module}))
"""


def test_the_psycopg2_driver_streams_through_a_named_cursor_too(pg_warehouse) -> None:  # type: ignore[no-untyped-def]
    """The postgres provider picks psycopg 3 when installed; psycopg2's path runs in a process without it."""
    postgres = pg_warehouse(1_000)
    logged_before = len(postgres.statements())
    done = subprocess.run(
        [sys.executable, "-c", PSYCOPG2_PROBE],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["driver"].startswith("psycopg2")
    assert result["ids"] == list(range(1, 1_001))
    assert result["server_side"] is True
    statements = postgres.statements()[logged_before:]
    declared = [m.group(1) for s in statements if (m := DECLARE.search(s))]
    assert len(declared) == 1
    assert any(s.startswith("DECLARE") and "WITHOUT HOLD" in s for s in statements)  # psycopg2's form
    reads = [s for s in statements if s == f'FETCH FORWARD 250 FROM "{declared[0]}"']
    assert len(reads) == 1_000 // 250 + 1
