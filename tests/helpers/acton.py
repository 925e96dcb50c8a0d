"""Act-On test fixtures and helpers: the emulator's Act-On state with a private token store and a faster
connection; events files with hostile values, and a DAG to run the operators and the sensor in."""
# ruff: noqa: RUF001 - the en dash is one of the hostile, non-ASCII test values

from __future__ import annotations

import csv
import json
import re
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


def sync_to_acton_listing(
    acton: Any, tmp_path: Path, listing: str, source: Any, mapping: dict[str, Any]
) -> tuple[Any, list[tuple[int, str, str]], list[tuple[str, ...]]]:
    """Sync ``source`` to the Act-On listing ``listing`` (key column ``id``, its own ledger and rejects file);
    the report, the rejects as ``(row number, field, stage)`` and the rows Act-On holds, in upload order.

    The block-path tests run the same rows through a SQL source (a block at a time) and as dicts (row by
    row) with it, and compare what each road gave."""
    from airflow_provider_events.sync.checkpoint import CheckpointIdentity
    from airflow_provider_events.sync.engine import SyncOptions
    from airflow_provider_events.sync.ledger import LedgerOptions
    from airflow_provider_events.sync.rejects import read_rejects
    from airflow_provider_events.sync.runner import sync_rows

    rejects = tmp_path / f"{listing}.jsonl"
    report = sync_rows(
        destination_conn_id="acton_default",
        source=source,
        mapping=mapping,
        identity=CheckpointIdentity("acton_listing", listing, "upload"),
        destination_options={
            "destination": listing,
            "customeventaction": "CUSTOM_ATTENDED",
            "poll_interval": 0.05,
        },
        options=SyncOptions(key_columns=["id"], max_rejected=10),
        rejects_path=str(rejects),
        ledger=LedgerOptions(path=str(tmp_path / f"ledger-{listing}")),
    )
    got = sorted((r["row_number"], r["field"], r["stage"]) for r in read_rejects(str(rejects)))
    sent = [(e["email"], e["date"], e["title"], e.get("note") or "") for e in acton.events(listing)]
    return report, got, sent


def rows_validated_in_blocks(log_text: str, total: int) -> int:
    """How many of ``total`` rows the engine's log says it validated a block at a time."""
    counted = re.search(rf"(\d+) of {total} rows validated a block at a time", log_text)
    assert counted is not None, "the engine did not log its block count"
    return int(counted.group(1))
