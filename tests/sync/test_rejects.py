"""The rejects file: created on the first reject only, owner-only, one JSON line per rejected row."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from airflow_provider_events.sync.rejects import RejectsWriter, default_rejects_path, read_rejects


def test_rejects_file_only_on_first_reject(tmp_state: Path) -> None:
    path = default_rejects_path("dag", "manual__2024:1", "sync", 2)
    assert path.endswith("sync.2.jsonl")
    assert str(tmp_state) in path
    writer = RejectsWriter(path)
    writer.discard_previous()
    writer.close()
    assert not Path(path).exists()
    assert writer.written_path is None
    with RejectsWriter(path) as w:
        w.write(
            7,
            "identifyId",
            "is required",
            {"id": 7, "when": __import__("datetime").date(2024, 1, 2)},
            stage="validation",
            key="k7",
        )
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert read_rejects(path) == [
        {
            "row_number": 7,
            "field": "identifyId",
            "reason": "is required",
            "stage": "validation",
            "key": "k7",
            "row": {"id": 7, "when": "2024-01-02"},
        }
    ]
