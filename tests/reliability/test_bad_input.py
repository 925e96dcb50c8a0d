"""A hostile SQLite corpus through three vendors: bad rows rejected with row number and reason, good rows
delivered intact (byte for byte where the vendor stores text).

One table, the same for every vendor; what is *bad* depends on the vendor's own rules (documented on each
vendor page), so each test states its expected rejects:

- Act-On (CSV upload): ``email`` required, ``local@domain.tld`` without blanks, at most 254 characters;
  ``date`` required, ISO or already in ``dateformat``; ``title`` required. Good rows are read back from
  the emulator's *parsed* CSV, so a separator, quote or line break that broke the file would show.
- ExpertSender CDP: the e-mail identifier (syntax, at most 320 characters); ``dataFields`` typed String,
  Number, Date; a NULL data value sends no field (documented), so NULL title/date rows are *good* there.
- CareCloud: property values typed by the event type (``note`` string, ``visit_count`` integer,
  ``birth_date`` ``YYYY-MM-DD``); e-mails are just data there.

Formula-like cells (``=cmd|' /C calc'!A0``, ``+1``, ``-1``, ``@SUM(..)``) are valid text: the provider
sends them unchanged (no ``'`` prefix, no rejection). None of the vendors opens uploads in a spreadsheet;
escaping would corrupt legitimate values (a note ``-1``, a title ``+1 upgrade``), so the test asserts that
they arrive byte for byte.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_events.operators.acton import ActOnUploadCustomEventsOperator
from airflow_provider_events.operators.carecloud import CareCloudCreateEventsOperator
from airflow_provider_events.operators.expertsender_cdp import ExpertSenderCdpScenarioEventsOperator
from airflow_provider_events.sync.rejects import read_rejects
from airflow_provider_events.testing.emulator.carecloud import CUSTOMER_IDS
from tests.dag_runner import run_dag, task_states, xcom

from .conftest import set_connection

pytestmark = pytest.mark.usefixtures("airflow_db", "tmp_state")

COLUMNS = ["id", "email", "happened", "title", "note", "visits"]
LONG_EMAIL = "x" * 330 + "@example.com"
CORPUS: list[tuple[Any, ...]] = [
    (1, "ann@example.com", "2024-01-25", "Plain title", "plain note", 1),
    (2, "bob@example.com", "2024-01-26", "Comma, semi; tab\there", "Quote \"inside\" and 'single'", 2),
    (3, "cy@example.com", "2024-01-27", "line1\nline2", "crlf\r\nnext\rcr", 3),
    (4, "dee@example.com", "2024-01-28", "=cmd|' /C calc'!A0", "+1", 4),
    (5, "eve@example.com", "2024-01-29", "-1", "@SUM(A1:A2)", 5),
    (6, "fay@example.com", "2024-01-30", "Zoë — 日本語 🎉", '"", ,\n', 6),
    (7, "gus@example.com", "2024-01-31", '=HYPERLINK("http://x.invalid","a,b")', "", 7),
    (8, None, "2024-02-01", "missing email", "n", 8),
    (9, "not-an-email", "2024-02-01", "malformed email", "n", 9),
    (10, "a b@example.com", "2024-02-01", "blank in email", "n", 10),
    (11, LONG_EMAIL, "2024-02-01", "over-long email", "n", 11),
    (12, "hal@example.com", "31/12/2024", "date in the wrong format", "n", 12),
    (13, "ivy@example.com", None, "NULL date", "n", 13),
    (14, b"\xff\xfe@example.com", "2024-02-01", "non-UTF-8 bytes (BLOB) as e-mail", "n", 14),
    (15, "jo@example.com", "2024-02-02", "wrong type", "n", "abc"),
    (16, "kim@example.com", "2024-02-03", None, "NULL title", 16),
]
TEXT_ROWS = {row[0]: row for row in CORPUS}


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "corpus.db"
    with sqlite3.connect(db) as conn:
        conn.execute(f"CREATE TABLE corpus ({', '.join(COLUMNS)})")  # untyped: values keep their own type
        conn.executemany("INSERT INTO corpus VALUES (?, ?, ?, ?, ?, ?)", CORPUS)
    set_connection(monkeypatch, "warehouse", {"conn_type": "sqlite", "host": str(db)})
    return db


def dag_with(dag_id: str, operator: Any) -> DAG:
    with DAG(dag_id=dag_id, schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as dag:
        operator()
    return dag


def rejects_by_row(path: str) -> dict[int, tuple[str | None, str]]:
    return {r["row_number"]: (r["field"], r["reason"]) for r in read_rejects(path)}


def check_rejects(path: str, expected: dict[int, str]) -> None:
    got = rejects_by_row(path)
    print({n: got[n] for n in sorted(got)})
    assert sorted(got) == sorted(expected)
    for row_number, field in expected.items():
        assert got[row_number][0] == field, (row_number, got[row_number])
        assert got[row_number][1], row_number  # a reason is given
    # the row number is the source row's position, and the rejects file holds the row for fixing
    for line in read_rejects(path):
        assert line["row"]["id"] == line["row_number"]


def test_acton_corpus(emulator, corpus, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    acton = emulator.emulator.vendor("acton")
    acton.seed({"job_delays": {"pending": 0.05, "running": 0.05}, "api_calls_per_second": 50})
    conn = emulator.connection("acton")
    conn["extra"]["max_requests_per_second"] = 50
    set_connection(monkeypatch, "acton_default", conn)
    rejects = tmp_path / "acton-rejects.jsonl"
    dag = dag_with(
        "bad_input_acton",
        lambda: ActOnUploadCustomEventsOperator(
            task_id="upload",
            conn_id="warehouse",
            sql="SELECT * FROM corpus ORDER BY id",
            mapping={"email": "email", "date": "happened", "title": "title", "note": "note"},
            destination="Corpus",
            customeventaction="CUSTOM_GENERAL",
            poll_interval=0.1,
            max_rejected=100,
            sync_options={"key_columns": ["id"], "rejects_path": str(rejects)},
        ),
    )
    dr = run_dag(dag)
    assert task_states(dr) == {"upload": "success"}
    result = xcom(dr, "upload")
    expected = {
        8: "email",
        9: "email",
        10: "email",
        11: "email",
        12: "date",
        13: "date",
        14: "email",
        16: "title",
    }
    check_rejects(str(rejects), expected)
    good = [n for n in TEXT_ROWS if n not in expected]
    assert result["invalid_rows"] == len(expected)
    assert result["appended"] == len(good)
    assert result["rejected_by_vendor"] == 0
    # every good row arrives through the vendor's CSV parser byte for byte, formulas untouched
    got = [(e["email"], e["date_text"], e["title"], e["note"]) for e in acton.events("Corpus")]
    want = [(TEXT_ROWS[n][1], TEXT_ROWS[n][2], TEXT_ROWS[n][3], TEXT_ROWS[n][4] or "") for n in good]
    assert got == want


def test_expertsender_corpus(emulator, corpus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rejects = tmp_path / "ecdp-rejects.jsonl"
    dag = dag_with(
        "bad_input_ecdp",
        lambda: ExpertSenderCdpScenarioEventsOperator(
            task_id="sync",
            conn_id="warehouse",
            sql="SELECT * FROM corpus ORDER BY id",
            custom_event_id=1,
            identifier="email",
            mapping={
                "email": "email",
                "dataFields": {"title": "title", "note": "note", "visits": "visits", "happened": "happened"},
            },
            data_field_types={"title": "String", "note": "String", "visits": "Number", "happened": "Date"},
            key_columns=["id"],
            rejects_path=str(rejects),
            max_rejected=100,
        ),
    )
    dr = run_dag(dag)
    assert task_states(dr) == {"sync": "success"}
    report = xcom(dr, "sync")
    expected = {
        8: "customerEmail",
        9: "customerEmail",
        10: "customerEmail",
        11: "customerEmail",
        12: "dataFields.happened",
        14: "customerEmail",
        15: "dataFields.visits",
    }
    check_rejects(str(rejects), expected)
    good = [n for n in TEXT_ROWS if n not in expected]
    assert report["accepted"] == len(good)
    assert report["rejected"] == len(expected)
    events = emulator.emulator.vendor("expertsender_cdp").events()
    got = {e["identifier_value"]: {f["name"]: f["value"] for f in e["dataFields"]} for e in events}
    assert sorted(got) == sorted(TEXT_ROWS[n][1] for n in good)
    for n in good:
        _, email, happened, title, note, visits = TEXT_ROWS[n]
        fields = got[email]
        assert fields.get("title") == title  # byte for byte, formulas and separators included
        assert fields.get("note") == note
        assert fields.get("happened") == happened
        assert fields["visits"] == str(visits)


def test_carecloud_corpus(emulator, corpus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rejects = tmp_path / "cc-rejects.jsonl"
    dag = dag_with(
        "bad_input_carecloud",
        lambda: CareCloudCreateEventsOperator(
            task_id="sync",
            conn_id="warehouse",
            sql="SELECT * FROM corpus ORDER BY id",
            event_type="purchase",
            mapping={
                "customer_id": "{{ '" + CUSTOMER_IDS[0] + "' }}",
                "data": {"note": "note"},
                "property_records": {"note": "title", "visit_count": "visits", "birth_date": "happened"},
            },
            key_columns=["id"],
            rejects_path=str(rejects),
            max_rejected=100,
        ),
    )
    dr = run_dag(dag)
    assert task_states(dr) == {"sync": "success"}
    report = xcom(dr, "sync")
    expected = {12: "property_records.birth_date", 15: "property_records.visit_count"}
    check_rejects(str(rejects), expected)
    good = [n for n in TEXT_ROWS if n not in expected]
    assert report["accepted"] == len(good)
    assert report["rejected"] == len(expected)
    stored = {e["external_id"]: e for e in emulator.emulator.vendor("carecloud").events()}
    assert sorted(stored, key=int) == [str(n) for n in good]
    for n in good:
        records = {r["property_id"]: r["property_value"] for r in stored[str(n)]["property_records"]}
        assert records.get("note") == TEXT_ROWS[n][3]  # byte for byte
        assert stored[str(n)]["data"] == {"note": TEXT_ROWS[n][4]}


def test_carecloud_non_json_data_value_rejects_only_its_row(emulator, corpus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rejects = tmp_path / "cc-rejects.jsonl"
    dag = dag_with(
        "bad_input_carecloud_data",
        lambda: CareCloudCreateEventsOperator(
            task_id="sync",
            conn_id="warehouse",
            sql="SELECT id, email FROM corpus WHERE id IN (1, 2, 14, 15) ORDER BY id",
            event_type="purchase",
            mapping={"customer_id": "{{ '" + CUSTOMER_IDS[0] + "' }}", "data": {"email": "email"}},
            key_columns=["id"],
            rejects_path=str(rejects),
            max_rejected=100,
        ),
    )
    dr = run_dag(dag)
    assert task_states(dr) == {"sync": "success"}
    assert rejects_by_row(str(rejects)) == {3: ("data.email", "a bytes value cannot be sent as JSON")}
    assert len(emulator.emulator.vendor("carecloud").events()) == 3


def test_invalid_utf8_text_cell_rejects_only_its_row(emulator, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "bad-text.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, email TEXT, title TEXT)")
        conn.execute("INSERT INTO t VALUES (1, 'ann@example.com', 'fine')")
        conn.execute("INSERT INTO t VALUES (2, 'bob@example.com', CAST(x'66ff6f' AS TEXT))")  # invalid UTF-8
        conn.execute("INSERT INTO t VALUES (3, 'cy@example.com', 'fine too')")
    set_connection(monkeypatch, "warehouse", {"conn_type": "sqlite", "host": str(db)})
    rejects = tmp_path / "rejects.jsonl"
    dag = dag_with(
        "bad_input_utf8",
        lambda: ExpertSenderCdpScenarioEventsOperator(
            task_id="sync",
            conn_id="warehouse",
            sql="SELECT * FROM t ORDER BY id",
            custom_event_id=1,
            identifier="email",
            mapping={"email": "email", "dataFields": {"title": "title"}},
            key_columns=["id"],
            rejects_path=str(rejects),
            max_rejected=1,
        ),
    )
    dr = run_dag(dag)
    assert task_states(dr) == {"sync": "success"}
    assert sorted(rejects_by_row(str(rejects))) == [2]
    assert len(emulator.emulator.vendor("expertsender_cdp").events()) == 2
