"""The Act-On and CareCloud splits keep old import paths working, and the shared CSV part rules hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.hooks import (
    acton,
    acton_csv,
    acton_dates,
    acton_jobs,
    acton_uploads,
    carecloud,
    carecloud_events,
)
from airflow_provider_events.utils import multipart


def test_old_import_paths_name_the_moved_objects() -> None:
    assert acton.ActOnJobStatus is acton_jobs.ActOnJobStatus
    assert acton.classify_job_status is acton_jobs.classify_job_status
    assert acton.summarize_jobs is acton_jobs.summarize_jobs
    assert acton.format_acton_date is acton_dates.format_acton_date
    assert acton.CsvLayout is acton_csv.CsvLayout
    assert acton.split_csv_file is acton_csv.split_csv_file
    assert acton.MultipartFileBody is multipart.MultipartFileBody
    assert acton.CUSTOM_EVENT_ACTIONS is acton_uploads.CUSTOM_EVENT_ACTIONS
    assert issubclass(acton.ActOnHook, acton_uploads.ActOnCustomEventUploads)
    assert carecloud.IDENTIFIER_TYPES is carecloud_events.IDENTIFIER_TYPES
    for name in acton.__all__:
        assert hasattr(acton, name), name


@pytest.mark.parametrize(
    ("filename", "index", "count", "expected"),
    [
        ("big.csv", 0, 1, "big.csv"),
        ("big.csv", 1, 3, "big.part2.csv"),
        ("events", 0, 2, "events.part1"),
        ("a.b.csv", 2, 3, "a.b.part3.csv"),
    ],
)
def test_part_filename(filename: str, index: int, count: int, expected: str) -> None:
    assert acton_csv.part_filename(filename, index, count) == expected


def test_part_writer_cuts_whole_records_and_repeats_the_header(tmp_path: Path) -> None:
    header = b"email,title\r\n"
    records = [f"u{i}@example.com,t{i}\r\n".encode() for i in range(10)]
    writer = acton_csv.CsvPartWriter(tmp_path / "parts", header, len(header) + 2 * len(records[0]))
    started = [writer.write(r) for r in records]
    writer.close()
    assert started == [True, False] * 5
    assert [p.name for p in writer.parts] == [f"part{i:04d}.csv" for i in range(1, 6)]
    contents = [p.read_bytes() for p in writer.parts]
    assert all(c.startswith(header) for c in contents)
    assert b"".join(c[len(header) :] for c in contents) == b"".join(records)
    with pytest.raises(ConfigurationError, match="does not fit"):
        acton_csv.CsvPartWriter(tmp_path / "x", header, len(header) + 3).write(records[0])
