"""CareCloud operators run by Airflow (``dag.test()``) against the emulator and a real SQLite warehouse."""

from __future__ import annotations

import csv
import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from airflow.sdk import DAG
from dag_runner import run_dag, task_states, xcom

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.operators.carecloud import (
    CareCloudCreateEventsOperator,
    CareCloudListEventsOperator,
)
from airflow_provider_events.testing.emulator.carecloud import (
    CUSTOMER_IDS,
    NEWSLETTER_TYPE_ID,
    PURCHASE_TYPE_ID,
)

pytestmark = pytest.mark.usefixtures("airflow_db", "tmp_state")


def test_list_events_to_jsonl_all_2500(seeded: list[dict[str, Any]], tmp_path: Path) -> None:
    out = tmp_path / "exports" / "events.jsonl"
    with DAG("cc_list_jsonl", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)) as dag:
        CareCloudListEventsOperator(
            task_id="export", output_path=str(out), include_property_records=True, page_size=250
        )
    run = run_dag(dag)
    result = xcom(run, "export")
    assert result == {"count": len(seeded), "path": str(out)}
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["event_id"] for e in lines] == [e["event_id"] for e in seeded]
    for got, want in zip(lines, seeded, strict=True):
        assert {k: got[k] for k in ("external_id", "customer_id", "created_at", "data", "event_type_id")} == {
            k: want[k] for k in ("external_id", "customer_id", "created_at", "data", "event_type_id")
        }
        assert [(r["property_id"], r["property_value"]) for r in got["property_records"]] == [
            (r["property_id"], r["property_value"]) for r in want["property_records"]
        ]


def test_list_events_to_csv_filtered_by_the_data_interval(
    seeded: list[dict[str, Any]], tmp_path: Path
) -> None:
    with DAG(
        "cc_list_csv", schedule="@daily", start_date=datetime(2026, 1, 1, tzinfo=timezone.utc), catchup=False
    ) as dag:
        CareCloudListEventsOperator(
            task_id="export",
            output_path=str(tmp_path) + "/{{ ds }}/purchases.csv",
            event_type_id=PURCHASE_TYPE_ID,
            time_from="{{ data_interval_start }}",
            time_to="{{ data_interval_end }}",
            sort_field="created_at",
            sort_direction="DESC",
        )
    run = run_dag(dag, logical_date=datetime(2026, 1, 3, tzinfo=timezone.utc))
    result = xcom(run, "export")
    prague = ZoneInfo("Europe/Prague")
    lo = run.data_interval_start.astimezone(prague).strftime("%Y-%m-%d %H:%M:%S")
    hi = run.data_interval_end.astimezone(prague).strftime("%Y-%m-%d %H:%M:%S")
    expected = [e for e in seeded if e["event_type_id"] == PURCHASE_TYPE_ID and lo <= e["created_at"] <= hi][
        ::-1
    ]
    assert expected
    assert result["count"] == len(expected)
    with open(result["path"], newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["event_id"] for r in rows] == [e["event_id"] for e in expected]
    assert json.loads(rows[0]["data"]) == expected[0]["data"]
    assert rows[0]["secondary_external_id"] == ""
    assert rows[0]["property_records"] == ""


def test_list_events_to_object_storage_uri(cc: Any, seeded: list[dict[str, Any]], tmp_path: Path) -> None:
    uri = f"file://{tmp_path}/store/newsletter.jsonl"
    with DAG("cc_list_uri", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)) as dag:
        CareCloudListEventsOperator(
            task_id="export",
            output_path=uri,
            event_type_ids=[NEWSLETTER_TYPE_ID],
            customer_id=CUSTOMER_IDS[0],
        )
    result = xcom(run_dag(dag), "export")
    expected = [
        e["event_id"]
        for e in seeded
        if e["event_type_id"] == NEWSLETTER_TYPE_ID and e["customer_id"] == CUSTOMER_IDS[0]
    ]
    assert result["count"] == len(expected)
    lines = (tmp_path / "store" / "newsletter.jsonl").read_text().splitlines()
    assert [json.loads(line)["event_id"] for line in lines] == expected


@pytest.fixture
def purchases_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``purchases`` in SQLite behind the ``warehouse`` connection; order 4 has a bad visit count."""
    db = tmp_path / "warehouse.db"
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TABLE purchases (order_id TEXT, customer_id TEXT, email TEXT, bought_at TEXT, visits TEXT, "
        "spend REAL, colour TEXT, vip INTEGER)"
    )
    rows = [
        (
            f"o-{i}",
            CUSTOMER_IDS[i % 3],
            None,
            f"2026-02-0{i}T10:00:00+00:00",
            "many" if i == 4 else str(i),
            i * 10.5,
            ["Blue", "Green", "Red"][i % 3],
            i % 2,
        )
        for i in range(1, 7)
    ]
    rows.append(("o-7", None, "ben@example.com", "2026-02-07T10:00:00+00:00", "7", 1.0, "Red", 0))
    conn.executemany("INSERT INTO purchases VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    return db


MAPPING = {
    "customer_id": "customer_id",
    "customer_identifier_value": "email",
    "created_at": "bought_at",
    "data": {"order": "order_id"},
    "property_records": {
        "visit_count": "visits",
        "average_spend": "spend",
        "favourite_color": "colour",
        "has_purchase": "vip",
    },
}


def test_create_events_from_sql_through_the_sync_engine(cc: Any, purchases_db: Path, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.jsonl"
    with DAG("cc_create", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)) as dag:
        CareCloudCreateEventsOperator(
            task_id="create",
            conn_id="warehouse",
            sql="SELECT * FROM purchases ORDER BY order_id",
            event_type="{{ 'purchase' }}",
            customer_identifier_type="email",
            mapping=MAPPING,
            key_columns=["order_id"],
            rejects_path=str(rejects),
            max_rejected=1,
        )
    run = run_dag(dag)
    assert task_states(run) == {"create": "success"}
    report = xcom(run, "create")
    assert (report["rows_read"], report["accepted"], report["rejected"]) == (7, 6, 1)
    (reject,) = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert (reject["row_number"], reject["field"]) == (4, "property_records.visit_count")
    events = {e["external_id"]: e for e in cc.events()}
    assert sorted(events) == ["o-1", "o-2", "o-3", "o-5", "o-6", "o-7"]
    assert events["o-7"]["customer_id"] == CUSTOMER_IDS[1]  # found by e-mail
    assert events["o-2"]["created_at"] == "2026-02-02 11:00:00"  # UTC -> project time
    records = {r["property_id"]: r["property_value"] for r in events["o-3"]["property_records"]}
    assert records["visit_count"] == 3
    assert records["has_purchase"] is True
    assert records["favourite_color"][0]["name"] == "Blue"

    # a second run (new run id, so no checkpoint): the delivery ledger skips every event before sending
    run = run_dag(dag)
    report = xcom(run, "create")
    assert (report["sent"], report["delivered_earlier"], report["rejected"]) == (0, 6, 1)
    # without the ledger, CareCloud itself reports every event as already delivered
    dag.get_task("create").use_ledger = False
    run = run_dag(dag)
    report = xcom(run, "create")
    assert (report["accepted"], report["already_delivered"]) == (0, 6)
    assert len(cc.events()) == 6


def test_create_events_from_records(cc: Any) -> None:
    records = [
        {"customer_id": CUSTOMER_IDS[0], "source": "web", "id": "n-1"},
        {"customer_id": CUSTOMER_IDS[2], "source": "shop", "id": "n-2"},
    ]
    with DAG("cc_create_records", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)) as dag:
        CareCloudCreateEventsOperator(
            task_id="create",
            records=records,
            event_type_id=NEWSLETTER_TYPE_ID,
            mapping={"customer_id": "customer_id", "property_records": {"source": "source"}},
            key_columns=["id"],
        )
    report = xcom(run_dag(dag), "create")
    assert report["accepted"] == 2
    assert sorted((e["external_id"], e["property_records"][0]["property_value"]) for e in cc.events()) == [
        ("n-1", "web"),
        ("n-2", "shop"),
    ]


def test_create_operator_needs_an_event_type() -> None:
    with pytest.raises(ConfigurationError, match="event_type"):
        CareCloudCreateEventsOperator(task_id="x", records=[])
