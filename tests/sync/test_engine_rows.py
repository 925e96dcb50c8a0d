"""The engine's row loop over a real SQLite source (rows read as value tuples, records picked by position):
every row is still validated as a dict-per-row loop would (undecodable text, empty keys, vendor rules).
``acton`` (the emulator's Act-On vendor) is the suite's fixture of ``tests/helpers/acton.py``."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from airflow_provider_events.sync.checkpoint import CheckpointIdentity
from airflow_provider_events.sync.engine import SyncOptions
from airflow_provider_events.sync.mapping import Literal
from airflow_provider_events.sync.rejects import read_rejects
from airflow_provider_events.sync.runner import sync_rows
from airflow_provider_events.sync.source import SqlSource

LATIN1_TITLE = "CAST(X'5A6FEB' AS TEXT)"  # "Zoë" in Latin-1: not UTF-8


@pytest.fixture
def webinar_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "webinars.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE attendance (id INTEGER, email TEXT, day TEXT, title TEXT)")
        conn.executemany(
            "INSERT INTO attendance VALUES (?, ?, '2026-03-01', ?)",
            [(i, f"user{i}@example.com", f"Intro {i}") for i in range(1, 13)],
        )
        conn.execute(f"UPDATE attendance SET title = {LATIN1_TITLE} WHERE id IN (2, 9)")
        conn.execute("UPDATE attendance SET id = NULL WHERE email = 'user5@example.com'")
        conn.execute("UPDATE attendance SET email = 'not-an-email' WHERE id = 7")
    monkeypatch.setenv("AIRFLOW_CONN_WEBINARS", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    return db


@pytest.mark.parametrize(
    "mapping",
    [
        {"email": "email", "date": "day", "title": "title"},
        {"email": "email", "date": "day", "title": "title", "note": Literal("é constant")},
    ],
)
def test_sql_rows_are_rejected_for_the_same_reasons_as_ever(  # type: ignore[no-untyped-def]
    acton, webinar_db, tmp_path, mapping
) -> None:
    rejects = tmp_path / "rejects.jsonl"
    report = sync_rows(
        destination_conn_id="acton_default",
        source=SqlSource("webinars", "SELECT id, email, day, title FROM attendance ORDER BY rowid"),
        mapping=mapping,
        identity=CheckpointIdentity("webinars", f"run-{len(mapping)}", "upload"),
        destination_options={
            "destination": "Webinars",
            "customeventaction": "CUSTOM_ATTENDED",
            "poll_interval": 0.05,
        },
        options=SyncOptions(key_columns=["id"], max_rejected=10),
        rejects_path=str(rejects),
    )
    assert (report.rows_read, report.sent, report.accepted, report.rejected) == (12, 8, 8, 4)
    got = {line["row_number"]: (line["field"], line["stage"]) for line in read_rejects(str(rejects))}
    assert got == {
        2: ("title", "mapping"),  # undecodable bytes, named by field
        5: ("id", "mapping"),  # an empty key column
        7: ("email", "validation"),
        9: ("title", "mapping"),
    }
    for line in read_rejects(str(rejects)):  # the rejects file holds the source row, column by column
        assert sorted(line["row"]) == ["day", "email", "id", "title"]
    titles = sorted(event["title"] for event in acton.events("Webinars"))
    assert titles == sorted(f"Intro {i}" for i in (1, 3, 4, 6, 8, 10, 11, 12))
