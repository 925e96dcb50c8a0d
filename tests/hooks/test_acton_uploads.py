"""ActOnHook uploads and job status against the emulator: hostile CSV values, splitting, job lifecycle."""
# ruff: noqa: RUF001 - the en dash is one of the hostile, non-ASCII test values

from __future__ import annotations

import csv
import json
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_events.exceptions import RejectedThresholdExceededError
from airflow_provider_events.hooks.acton import (
    ActOnHook,
    ActOnJobFailedError,
    ActOnJobStatus,
    CsvLayout,
    classify_job_status,
    count_distinct_titles,
    iter_csv_records,
    summarize_jobs,
)
from airflow_provider_events.testing.emulator import EmulatorProcess
from airflow_provider_events.testing.emulator import acton as acton_emulator

HOSTILE = [
    ("ann@example.com", "01/25/2023", "Webinar, part 1", 'She said "hi"'),
    ("bob@example.com", "02/05/2024", 'Quote " inside', "line one\nline two"),
    ("cy@example.com", "12/31/2023", "Zürich – café ☕ 東京", "semi;colon\ttab"),
    ("dee@example.com", "07/04/2023", "multi\r\nline title", ""),
    ("eve@example.com", "03/09/2023", "  padded  ", "trailing,comma,"),
]


def write_csv(path: Path, rows: list[tuple[str, ...]], **fmt: Any) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, **fmt)
        writer.writerow(("email", "when", "title", "note"))
        writer.writerows(rows)
    return path


def upload(hook: ActOnHook, path: Path, **kwargs: Any) -> str:
    args: dict[str, Any] = {
        "destination": "Hostile",
        "customeventaction": "CUSTOM_GENERAL",
        "email_col": 0,
        "date_col": 1,
        "title_col": 2,
        "note_col": 3,
        "dateformat": "MM/dd/yyyy",
    }
    args.update(kwargs)
    return hook.upload_custom_events(path, **args)


def test_file_with_hostile_values_is_parsed_back_intact(acton: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "hostile.csv", HOSTILE)
    hook = ActOnHook()
    job_id = upload(hook, path)
    (job,) = hook.wait_for_custom_event_jobs([job_id], poll_interval=0.05, timeout=30)
    assert job.status is ActOnJobStatus.SUCCEEDED
    assert (job.append_count, job.rejected_count) == (len(HOSTILE), 0)
    events = acton.snapshot()["events"]
    got = [(e["email"], e["date_text"], e["title"], e["note"]) for e in events]
    assert got == HOSTILE
    (sent_job,) = acton.snapshot()["jobs"]
    form = sent_job["form"]
    assert form["titlecount"] == str(len({r[2] for r in HOSTILE}))  # counted from the file
    assert (form["firstrow"], form["fieldseparator"], form["quotecharacter"]) == (
        "Y",
        "COMMA",
        "DOUBLE_QUOTE",
    )
    assert (form["emailcolidx"], form["datecolidx"], form["titlecolidx"], form["notecolidx"]) == (
        "0",
        "1",
        "2",
        "3",
    )
    assert sent_job["filename"] == "hostile.csv"


def test_semicolon_single_quote_layout(acton: Any, tmp_path: Path) -> None:
    rows = [("ann@example.com", "2023-01-25", "it's; tricky", "n'o;te")]
    path = write_csv(tmp_path / "semi.csv", rows, delimiter=";", quotechar="'")
    hook = ActOnHook()
    job_id = upload(
        hook, path, dateformat="yyyy-MM-dd", fieldseparator="SEMICOLON", quotecharacter="SINGLE_QUOTE"
    )
    hook.wait_for_custom_event_jobs([job_id], poll_interval=0.05, timeout=30)
    (event,) = acton.snapshot()["events"]
    assert (event["title"], event["note"]) == ("it's; tricky", "n'o;te")


def test_job_goes_pending_running_success(acton: Any, tmp_path: Path) -> None:
    acton.seed({"next_job_delays": {"pending": 0.4, "running": 0.4}})
    hook = ActOnHook()
    job_id = upload(hook, write_csv(tmp_path / "a.csv", HOSTILE[:2]))
    seen: list[ActOnJobStatus] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        job = hook.get_custom_event_job(job_id)
        if not seen or seen[-1] is not job.status:
            seen.append(job.status)
        if job.terminal:
            break
        time.sleep(0.05)
    assert seen == [ActOnJobStatus.PENDING, ActOnJobStatus.RUNNING, ActOnJobStatus.SUCCEEDED]
    assert (job.append_count, job.rejected_count) == (2, 0)


def test_failed_and_expired_jobs(acton: Any, tmp_path: Path) -> None:
    hook = ActOnHook()
    acton.seed({"fail_next_job": "Destination is locked"})
    failed_id = upload(hook, write_csv(tmp_path / "a.csv", HOSTILE[:1]))
    (failed,) = hook.wait_for_custom_event_jobs([failed_id], poll_interval=0.05, timeout=30)
    assert failed.status is ActOnJobStatus.FAILED
    assert "Destination is locked" in failed.message
    with pytest.raises(ActOnJobFailedError, match="Destination is locked"):
        summarize_jobs([failed])
    unknown = hook.get_custom_event_job("424242")
    assert unknown.status is ActOnJobStatus.EXPIRED
    assert "expired" in unknown.message.lower()
    ok_id = upload(hook, write_csv(tmp_path / "b.csv", HOSTILE[:1]))
    acton.expire_job(ok_id)
    assert hook.get_custom_event_job(ok_id).status is ActOnJobStatus.EXPIRED


def test_rejected_rows_and_thresholds(acton: Any, tmp_path: Path) -> None:
    rows = [*HOSTILE[:3], ("not-an-email", "01/25/2023", "t", ""), ("x@example.com", "2023-13-45", "t", "")]
    hook = ActOnHook()
    job_id = upload(hook, write_csv(tmp_path / "r.csv", rows))
    jobs = hook.wait_for_custom_event_jobs([job_id], poll_interval=0.05, timeout=30)
    assert (jobs[0].append_count, jobs[0].rejected_count) == (3, 2)
    assert summarize_jobs(jobs, max_rejected=2).rejected == 2
    with pytest.raises(RejectedThresholdExceededError):
        summarize_jobs(jobs, max_rejected=1)
    with pytest.raises(RejectedThresholdExceededError):
        summarize_jobs(jobs, max_rejected_ratio=0.2)  # 2 of 5


def test_large_file_is_split_on_record_boundaries(acton: Any, tmp_path: Path) -> None:
    rows = [
        (f"u{i}@example.com", "01/25/2023", f"title {i % 7}, with comma", f"note\n{i}") for i in range(200)
    ]
    path = write_csv(tmp_path / "big.csv", rows)
    size = path.stat().st_size
    hook = ActOnHook()
    submitted: list[list[str]] = []
    kwargs = {
        "destination": "Split",
        "customeventaction": "CUSTOM_DOWNLOADED",
        "email_col": 0,
        "date_col": 1,
        "title_col": 2,
        "note_col": 3,
        "dateformat": "MM/dd/yyyy",
    }
    job_ids = hook.upload_custom_events_split(
        path, max_upload_bytes=size // 3, on_submitted=submitted.append, spool_dir=tmp_path, **kwargs
    )
    assert len(job_ids) >= 3
    assert submitted[-1] == job_ids
    jobs = hook.wait_for_custom_event_jobs(job_ids, poll_interval=0.05, timeout=30)
    assert sum(j.append_count or 0 for j in jobs) == 200
    assert sum(j.rejected_count or 0 for j in jobs) == 0
    events = acton.snapshot()["events"]
    assert sorted((e["email"], e["title"], e["note"]) for e in events) == sorted(
        (r[0], r[2], r[3]) for r in rows
    )
    parts = acton.snapshot()["jobs"]
    assert all(p["file_bytes"] <= size // 3 for p in parts)
    assert [p["filename"] for p in parts][:2] == ["big.part1.csv", "big.part2.csv"]
    # a retry that already submitted the first part uploads only the others
    before = acton.snapshot()["uploads"]
    again = hook.upload_custom_events_split(
        path, max_upload_bytes=size // 3, already_submitted=job_ids[:1], **kwargs
    )
    assert again[0] == job_ids[0]
    assert acton.snapshot()["uploads"] - before == len(job_ids) - 1


def test_record_iterator_keeps_quoted_newlines(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "q.csv", HOSTILE)
    layout = CsvLayout()
    records = list(iter_csv_records(path, layout))
    assert len(records) == len(HOSTILE) + 1
    assert b"".join(records) == path.read_bytes()
    assert count_distinct_titles(path, layout, 2) == len(HOSTILE)


def test_classification_rule_of_thumb() -> None:
    assert classify_job_status("1", {"status": "The job is pending"}).status is ActOnJobStatus.PENDING
    assert classify_job_status("1", {"status": "JOB RUNNING now"}).status is ActOnJobStatus.RUNNING
    done = classify_job_status(
        "1", {"status": "success", "jobDetails": json.dumps({"appendCount": 3, "rejectedCount": 1})}
    )
    assert (done.status, done.append_count, done.rejected_count) == (ActOnJobStatus.SUCCEEDED, 3, 1)
    failed = classify_job_status("1", {"status": "aborted", "message": "bad file"})
    assert failed.status is ActOnJobStatus.FAILED
    assert "bad file" in failed.message
    expired = classify_job_status("1", {"errorCode": "10017", "message": "Invalid or expired Job Id"}, 400)
    assert expired.status is ActOnJobStatus.EXPIRED


@pytest.mark.slow
def test_ten_megabyte_upload_streams_with_bounded_memory(tmp_path: Path, monkeypatch: Any) -> None:
    """The file is streamed: the client's peak memory stays far below the file size.

    The emulator runs in its own process here, so tracemalloc sees only the client.
    """
    path = tmp_path / "ten.csv"
    line = "someone@example.com,01/25/2023,A fairly long title for padding the row out,note\n"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("email,when,title,note\n")
        for _ in range(10 * 1024 * 1024 // len(line) + 1):
            handle.write(line)
    size = path.stat().st_size
    assert size >= 10 * 1024 * 1024
    monkeypatch.setenv("AIRFLOW_PROVIDER_EVENTS_TOKEN_DIR", str(tmp_path / "tokens"))
    with EmulatorProcess() as server:
        conn = {
            "conn_type": "acton",
            "host": f"{server.url}/acton",
            "login": acton_emulator.DEFAULT_USERNAME,
            "password": acton_emulator.DEFAULT_PASSWORD,
            "extra": {
                "client_id": acton_emulator.DEFAULT_CLIENT_ID,
                "client_secret": acton_emulator.DEFAULT_CLIENT_SECRET,
            },
        }
        monkeypatch.setenv("AIRFLOW_CONN_ACTON_BIG", json.dumps(conn))
        hook = ActOnHook("acton_big")
        hook.check_connection()  # token and session set up outside the measurement
        tracemalloc.start()
        try:
            job_id = upload(hook, path, note_col=3, title_count=1)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        job = hook.wait_for_custom_event_jobs([job_id], poll_interval=0.1, timeout=120)[0]
        print(f"10 MB upload: file {size / 1e6:.1f} MB, client peak traced memory {peak / 1e6:.2f} MB")
        assert job.status is ActOnJobStatus.SUCCEEDED
        assert job.append_count == 10 * 1024 * 1024 // len(line) + 1
        assert peak < size / 10
