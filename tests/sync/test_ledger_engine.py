"""The delivery ledger inside the engine (``sync_rows``, the emulator over loopback HTTP): Act-On CSVs leave
out rows an earlier job delivered, and a retry's checkpoint keys reach the ledger."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_events.sync.checkpoint import CheckpointIdentity, open_checkpoint
from airflow_provider_events.sync.digests import key_digest
from airflow_provider_events.sync.engine import SyncOptions
from airflow_provider_events.sync.ledger import LedgerOptions, open_ledger
from airflow_provider_events.sync.runner import build_adapter, sync_rows
from airflow_provider_events.sync.source import RecordsSource, SqlSource

ACTON_OPTIONS = {"destination": "Webinars", "customeventaction": "CUSTOM_ATTENDED", "poll_interval": 0.05}
ACTON_MAPPING = {"email": "email", "date": "day", "title": "title"}


@pytest.fixture
def acton(emulator: Any, tmp_state: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    vendor = emulator.emulator.vendor("acton")
    vendor.seed({"job_delays": {"pending": 0.05, "running": 0.05}})
    conn = emulator.connection("acton")
    conn["extra"]["max_requests_per_second"] = 50
    monkeypatch.setenv("AIRFLOW_CONN_ACTON_DEFAULT", json.dumps(conn))
    return vendor


def attendance(ids: range) -> list[dict[str, Any]]:
    return [{"id": i, "email": f"user{i}@example.com", "day": "2026-03-01", "title": "Intro"} for i in ids]


def acton_run(run_id: str, ids: range, **ledger: Any) -> Any:
    return sync_rows(
        destination_conn_id="acton_default",
        source=RecordsSource(attendance(ids)),
        mapping=ACTON_MAPPING,
        identity=CheckpointIdentity("attendance", run_id, "upload"),
        destination_options=ACTON_OPTIONS,
        options=SyncOptions(key_columns=["id"]),
        ledger=LedgerOptions(**ledger),
    )


def test_acton_leaves_rows_an_earlier_job_delivered_out_of_the_next_csv(acton: Any) -> None:
    first = acton_run("run-1", range(1, 11))
    assert (first.sent, first.accepted, first.delivered_earlier) == (10, 10, 0)

    overlapping = acton_run("run-2", range(5, 16))  # rows 5-10 were in the first job
    assert (overlapping.rows_read, overlapping.sent, overlapping.delivered_earlier) == (11, 5, 6)
    jobs = acton.snapshot()["jobs"]
    assert len(jobs) == 2
    emails = sorted(e["email"] for e in acton.snapshot()["events"])
    assert emails == sorted(f"user{i}@example.com" for i in range(1, 16))  # each row once

    nothing_new = acton_run("run-3", range(1, 16))
    assert (nothing_new.sent, nothing_new.delivered_earlier, nothing_new.job_ids) == (0, 15, [])
    assert len(acton.snapshot()["jobs"]) == 2  # no empty upload

    again = acton_run("run-4", range(1, 6), resend_delivered=True)
    assert (again.sent, again.resent_delivered, again.delivered_earlier) == (5, 5, 0)
    assert len(acton.snapshot()["events"]) == 20


def test_acton_keys_reach_the_ledger_once_their_job_is_recorded_not_after_the_wait(acton: Any) -> None:
    """An attempt that ends while waiting for its jobs (here: the wait times out; in production a killed
    worker) has already recorded its keys, part by part: the next DAG run does not send them again."""
    acton.seed({"job_delays": {"pending": 30, "running": 30}})
    with pytest.raises(Exception, match="not finished within"):
        sync_rows(
            destination_conn_id="acton_default",
            source=RecordsSource(attendance(range(1, 2_001))),
            mapping=ACTON_MAPPING,
            identity=CheckpointIdentity("attendance", "run-1", "upload"),
            destination_options={**ACTON_OPTIONS, "part_bytes": 16_000, "timeout": 0.5},
            options=SyncOptions(key_columns=["id"]),
            ledger=LedgerOptions(),
        )
    uploaded_jobs = len(acton.snapshot()["jobs"])
    assert uploaded_jobs >= 3  # several parts, each its own job
    ledger = open_ledger(build_adapter("acton_default", ACTON_OPTIONS).destination_id())
    assert ledger is not None
    assert all(ledger.holds(key_digest(str(i))) for i in range(1, 2_001))

    acton.seed({"job_delays": {"pending": 0.05, "running": 0.05}})
    later = acton_run("run-2", range(1, 2_001))
    assert (later.sent, later.delivered_earlier, later.job_ids) == (0, 2_000, [])
    assert len(acton.snapshot()["jobs"]) == uploaded_jobs


def test_a_retry_records_what_its_checkpoint_holds(emulator: Any, tmp_state: Path) -> None:
    """A hard kill can leave acknowledged keys in the checkpoint but not yet in the ledger."""
    identity = CheckpointIdentity("usage", "run-1", "send")
    checkpoint = open_checkpoint(identity)
    for i in range(7):
        checkpoint.ack(key_digest(f"evt-{i}"))
    checkpoint.close()

    records = [{"identifyId": f"u{i}", "eventName": "login", "id": f"evt-{i}"} for i in range(10)]
    retry = sync_rows(
        destination_conn_id="gainsight_px_default",
        source=RecordsSource(records),
        mapping={"identifyId": "identifyId", "eventName": "eventName"},
        identity=identity,
        options=SyncOptions(key_columns=["id"]),
    )
    # the 7 an earlier attempt settled count as accepted (the report is one per task instance)
    assert (retry.duplicates_skipped, retry.accepted) == (0, 10)

    adapter = build_adapter("gainsight_px_default")
    later = open_ledger(adapter.destination_id())
    assert later is not None
    assert all(later.holds(key_digest(f"evt-{i}")) for i in range(10))
    other_run = sync_rows(
        destination_conn_id="gainsight_px_default",
        source=RecordsSource(records),
        mapping={"identifyId": "identifyId", "eventName": "eventName"},
        identity=CheckpointIdentity("usage", "run-2", "send"),
        options=SyncOptions(key_columns=["id"]),
    )
    assert (other_run.sent, other_run.delivered_earlier) == (0, 10)
    assert len(emulator.emulator.vendor("gainsight_px").snapshot()["received"]) == 3


def test_two_runs_of_one_task_at_the_same_moment_deliver_each_event_once(
    emulator: Any, tmp_state: Path
) -> None:
    """The issue's case: the scheduled run and a manual trigger of the same task start together."""
    records = [{"identifyId": f"u{i}", "eventName": "login", "id": f"evt-{i}"} for i in range(60)]
    start = threading.Barrier(2)
    reports: dict[str, Any] = {}

    def run(run_id: str) -> None:
        start.wait(timeout=60)
        reports[run_id] = sync_rows(
            destination_conn_id="gainsight_px_default",
            source=RecordsSource(records),
            mapping={"identifyId": "identifyId", "eventName": "eventName"},
            identity=CheckpointIdentity("usage", run_id, "send"),
            options=SyncOptions(key_columns=["id"], max_concurrency=2),
        )

    threads = [threading.Thread(target=run, args=(name,)) for name in ("scheduled", "manual")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert sorted(reports) == ["manual", "scheduled"]
    received = emulator.emulator.vendor("gainsight_px").snapshot()["received"]
    assert len(received) == len({e["eventId"] for e in received}) == 60
    assert sum(r.accepted for r in reports.values()) == 60
    assert sorted(r.delivered_earlier for r in reports.values()) == [0, 60]


def test_acton_rows_validated_in_blocks_skip_what_the_ledger_holds(
    acton: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQL rows validated a block at a time: keys an earlier run delivered are left out of the blocks."""
    db = tmp_path / "attendance.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE attendance (id INTEGER, email TEXT, day TEXT, title TEXT)")
        conn.executemany(
            "INSERT INTO attendance VALUES (:id, :email, :day, :title)", attendance(range(1, 3001))
        )
    monkeypatch.setenv("AIRFLOW_CONN_ATTENDANCE_DB", json.dumps({"conn_type": "sqlite", "host": str(db)}))

    def sql_run(run_id: str, low: int, high: int) -> Any:
        return sync_rows(
            destination_conn_id="acton_default",
            source=SqlSource(
                "attendance_db", f"SELECT * FROM attendance WHERE id BETWEEN {low} AND {high}", chunk_size=250
            ),
            mapping=ACTON_MAPPING,
            identity=CheckpointIdentity("attendance", run_id, "upload"),
            destination_options=ACTON_OPTIONS,
            options=SyncOptions(key_columns=["id"]),
            ledger=LedgerOptions(),
        )

    first = sql_run("run-1", 1, 1000)
    assert (first.sent, first.accepted, first.delivered_earlier) == (1000, 1000, 0)
    overlapping = sql_run("run-2", 501, 3000)  # rows 501-1000 were in the first job
    assert (overlapping.rows_read, overlapping.sent, overlapping.delivered_earlier) == (2500, 2000, 500)
    emails = sorted(e["email"] for e in acton.snapshot()["events"])
    assert emails == sorted(f"user{i}@example.com" for i in range(1, 3001))  # each row once
    ledger = open_ledger(build_adapter("acton_default", ACTON_OPTIONS).destination_id())
    assert ledger is not None
    assert all(ledger.holds(key_digest(str(i))) for i in range(1, 3001))
