"""The sources: SQL rows streamed in chunks over a real SQLite connection, and records as lists or JSON."""

from __future__ import annotations

import json
import sqlite3

import pytest

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.sync.mapping import invalid_text_field
from airflow_provider_events.sync.source import RecordsSource, SqlSource


def test_sql_source_streams_rows_in_chunks(warehouse) -> None:  # type: ignore[no-untyped-def]
    warehouse(2500)
    source = SqlSource(
        "warehouse",
        "SELECT id, user_id, amount FROM events WHERE id > :low ORDER BY id",
        {"low": 500},
        chunk_size=300,
    )
    iterator = iter(source)
    first = next(iterator)
    assert source.columns == ["id", "user_id", "amount"]
    assert first == {"id": 501, "user_id": "user-000501", "amount": 751.5}
    rest = sum(1 for _ in iterator)
    assert rest == 1999
    assert "chunks of 300" in source.describe()


def test_sql_source_refuses_duplicate_columns_and_non_sql_connections(warehouse, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    warehouse(3)
    with pytest.raises(ConfigurationError, match="duplicate column names"):
        list(SqlSource("warehouse", "SELECT id, id FROM events"))
    monkeypatch.setenv("AIRFLOW_CONN_NOTSQL", json.dumps({"conn_type": "gainsight_px", "host": "http://x"}))
    with pytest.raises(ConfigurationError, match="not a SQL"):
        list(SqlSource("notsql", "SELECT 1"))


def test_records_source_accepts_lists_and_json() -> None:
    source = RecordsSource('[{"a": 1}, {"a": 2, "b": 3}]')
    assert source.total == 2
    assert source.columns == ["a", "b"]
    assert list(source) == [{"a": 1}, {"a": 2, "b": 3}]
    with pytest.raises(ConfigurationError, match="not a dict"):
        RecordsSource([{"a": 1}, 5])  # type: ignore[list-item]


def test_sql_source_reads_past_sqlite_text_that_is_not_utf8(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # SQLite decodes text itself (the fast path); a value that is not UTF-8 must neither fail the read nor
    # lose or repeat a row around it: it arrives with its bytes as lone surrogates, for the engine to reject
    db = tmp_path / "latin1.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, name TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"name-{i}") for i in range(1, 2501)])
        conn.execute("UPDATE t SET name = CAST(X'5A6FEB' AS TEXT) WHERE id IN (1, 700, 701, 2500)")
    monkeypatch.setenv("AIRFLOW_CONN_LATIN1", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    rows = list(SqlSource("latin1", "SELECT id, name FROM t ORDER BY id", chunk_size=300))
    assert [row["id"] for row in rows] == list(range(1, 2501))
    undecodable = {row["id"]: row["name"] for row in rows if not row["name"].isascii()}
    assert undecodable == dict.fromkeys((1, 700, 701, 2500), "Zo\udceb")
    assert rows[1]["name"] == "name-2"
    assert invalid_text_field({"name": rows[0]["name"]}) == "name"
