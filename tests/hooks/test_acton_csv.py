"""The Act-On CSV part rules: part file names, and parts cut on whole records with the header repeated."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.hooks import acton_csv


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
