"""Act-On test fixtures and helpers: the emulator's Act-On state with a private token store and a faster
connection; events files with hostile values, and a DAG to run the operators and the sensor in."""
# ruff: noqa: RUF001 - the en dash is one of the hostile, non-ASCII test values

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_events.testing.emulator import EmulatorServer


@pytest.fixture
def acton(emulator: EmulatorServer, tmp_state: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The emulator's Act-On vendor (fresh state, jobs finishing fast) and a private token store.

    The ``acton_default`` connection keeps the emulator's credentials; pacing is raised to 50 calls/s, and
    the emulator's per-account limit with it, so polling tests stay fast (the 5/s contract, client and
    emulator, is covered by its own tests in ``tests/hooks/test_acton.py``).
    """
    vendor = emulator.emulator.vendor("acton")
    vendor.seed({"job_delays": {"pending": 0.05, "running": 0.05}, "api_calls_per_second": 50})
    conn = emulator.connection("acton")
    conn["extra"]["max_requests_per_second"] = 50
    monkeypatch.setenv("AIRFLOW_CONN_ACTON_DEFAULT", json.dumps(conn))
    return vendor


#: The finite default wait of the Act-On upload operator and the sensor.
SEVEN_DAYS = 7 * 24 * 3600

ROWS = [
    ("ann@example.com", "01/25/2023", "Webinar, part 1", 'She said "hi"'),
    ("bob@example.com", "02/05/2024", "Zürich – café ☕", "line one\nline two"),
    ("cy@example.com", "12/31/2023", 'Quote " inside', "semi;colon"),
]


def write_csv(path: Path, rows: list[tuple[str, ...]]) -> Path:
    """An events file of ``rows`` under the header ``email,when,title,note``."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("email", "when", "title", "note"))
        writer.writerows(rows)
    return path


def write_one_event_csv(path: Path) -> Path:
    """An events file of one plain event under the header ``email,when,title``."""
    path.write_text("email,when,title\nann@example.com,01/25/2023,Webinar\n", encoding="utf-8")
    return path


def make_dag(dag_id: str, **kwargs: Any) -> DAG:
    return DAG(dag_id, schedule=None, start_date=datetime(2024, 1, 1), catchup=False, **kwargs)
