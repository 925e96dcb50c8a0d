"""The engine's row loop over a real SQLite source (rows read as value tuples, records picked by position):
every row is still validated as a dict-per-row loop would (undecodable text, empty keys, vendor rules).
``acton`` (the emulator's Act-On vendor) is the suite's fixture of ``tests/helpers/acton.py``."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest

from airflow_provider_events.sync.checkpoint import CheckpointIdentity
from airflow_provider_events.sync.engine import SyncOptions
from airflow_provider_events.sync.mapping import Literal
from airflow_provider_events.sync.rejects import read_rejects
from airflow_provider_events.sync.runner import sync_rows
from airflow_provider_events.sync.source import RecordsSource, SqlSource
from tests.helpers.acton import rows_validated_in_blocks, sync_to_acton_listing

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


def test_sql_rows_validated_in_blocks_give_what_row_by_row_gives(  # type: ignore[no-untyped-def]
    acton, tmp_path, monkeypatch, caplog
) -> None:
    """3,000 SQLite rows in chunks of 400, bad rows scattered: the block path (value rows, a flat mapping)
    sends the same CSV rows in the same order, and rejects the same rows for the same fields, as the row
    loop does for the same rows given as dicts (which it prepares one by one)."""
    db = tmp_path / "blocks.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE attendance (id INTEGER, email TEXT, day TEXT, title TEXT, note TEXT)")
        conn.executemany(
            "INSERT INTO attendance VALUES (?, ?, ?, ?, ?)",
            [
                (i, f"user{i}@example.com", f"2026-03-{i % 28 + 1:02d}", f"Intro, part {i % 3}", "pro")
                for i in range(1, 3001)
            ],
        )
        conn.execute("UPDATE attendance SET email = 'not-an-email' WHERE id IN (7, 1200)")
        conn.execute("UPDATE attendance SET email = ' padded@example.com ' WHERE id = 401")  # valid, stripped
        conn.execute("UPDATE attendance SET day = 'someday' WHERE id = 2999")
        conn.execute("UPDATE attendance SET title = '  ' WHERE id = 1600")
        conn.execute("UPDATE attendance SET note = NULL WHERE id % 500 = 0")
        conn.execute("UPDATE attendance SET id = NULL WHERE id = 805")
        conn.execute(f"UPDATE attendance SET title = {LATIN1_TITLE} WHERE id IN (12, 2001)")
        conn.execute("UPDATE attendance SET id = 3 WHERE id = 2500")  # a repeated key: sent twice either way
    monkeypatch.setenv("AIRFLOW_CONN_BLOCKS", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    sql = "SELECT id, email, day, title, note FROM attendance ORDER BY rowid"
    mapping = {"email": "email", "date": "day", "title": "title", "note": "note"}

    caplog.set_level(logging.INFO, logger="airflow_provider_events")
    blocks, block_rejects, block_rows = sync_to_acton_listing(
        acton, tmp_path, "Blocks", SqlSource("blocks", sql, chunk_size=400), mapping
    )
    # five of the eight chunks hold a row to decide (they go row by row); the rest went a block at a time
    assert 1_000 <= rows_validated_in_blocks(caplog.text, 3_000) < 3_000
    with sqlite3.connect(db) as conn:
        conn.text_factory = lambda raw: raw.decode("utf-8", "surrogateescape")
        cursor = conn.execute(sql)
        names = [d[0] for d in cursor.description]
        dict_rows = [dict(zip(names, row, strict=True)) for row in cursor]
    rows, row_rejects, row_rows = sync_to_acton_listing(
        acton, tmp_path, "Rows", RecordsSource(dict_rows), mapping
    )

    assert (
        block_rejects
        == row_rejects
        == [
            (7, "email", "validation"),
            (12, "title", "mapping"),
            (805, "id", "mapping"),
            (1200, "email", "validation"),
            (1600, "title", "validation"),
            (2001, "title", "mapping"),
            (2999, "date", "validation"),
        ]
    )
    assert block_rows == row_rows
    assert len(block_rows) == 3_000 - 7
    assert ("padded@example.com", "2026-03-10", "Intro, part 2", "pro") in block_rows
    for field in ("rows_read", "sent", "accepted", "rejected", "delivered_earlier"):
        assert getattr(blocks, field) == getattr(rows, field), field
