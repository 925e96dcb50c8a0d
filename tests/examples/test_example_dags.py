"""The example DAGs: they parse, and each run through ``dag.test()`` delivers what the warehouse holds.

Every run reads a small sample warehouse (``events_warehouse``, SQLite) for its data interval and sends to the
emulator through the default vendor connections; the assertions are about what each vendor RECEIVED (the
emulator's state), compared with the warehouse rows of the window computed here independently.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from airflow_provider_events.hooks.gainsight_px import event_id_for_key
from airflow_provider_events.testing import demo_setup
from tests.dag_runner import task_states, xcom

from .conftest import (
    EXAMPLE_DAG_IDS,
    EXAMPLES,
    Warehouse,
    good_attendance,
    good_purchase_email,
    good_usage,
    rejects_lines,
    snapshot,
)

pytestmark = pytest.mark.usefixtures("airflow_db")

TITLE_WITH_QUOTES = 'Data "contracts", in practice'


def _epoch_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)


def _fields(data_fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {f["name"]: f["value"] for f in data_fields}


# ---------------------------------------------------------------------------------------------- parsing
def test_example_folder_parses_without_import_errors(examples_bag: Any) -> None:
    assert examples_bag.import_errors == {}
    assert set(examples_bag.dag_ids) == EXAMPLE_DAG_IDS
    for dag_id in EXAMPLE_DAG_IDS:
        dag = examples_bag.get_dag(dag_id)
        assert dag.catchup is False
        assert dag.doc_md
        assert dag.tags
        assert all(t.retries >= 1 for t in dag.tasks), dag_id
        assert Path(dag.fileloc).parent == EXAMPLES


def test_param_defaults_match_the_emulator_seed(examples_bag: Any) -> None:
    """The vendor-side ids the examples use by default are the ones ``make demo`` seeds."""

    def defaults(dag_id: str) -> dict[str, Any]:
        return dict(examples_bag.get_dag(dag_id).params.dump())

    acton, es = defaults("acton_webinar_attendance"), defaults("expertsender_cdp_scenarios")
    cc, fan = defaults("carecloud_events"), defaults("warehouse_to_marketing")
    assert acton["destination"] == fan["acton_destination"] == demo_setup.ACTON_DESTINATION
    assert (
        es["purchase_event_id"] == fan["expertsender_event_id"] == demo_setup.EXPERTSENDER_PURCHASE_EVENT_ID
    )
    assert es["segment_event_id"] == demo_setup.EXPERTSENDER_SEGMENT_EVENT_ID
    assert set(es["segment_ids"]) <= set(demo_setup.EXPERTSENDER_SEGMENTS)
    assert cc["event_type_id"] == fan["carecloud_event_type_id"] == demo_setup.CARECLOUD_EVENT_TYPE_ID


# ---------------------------------------------------------------------------------------------- Act-On
def test_acton_webinar_attendance(vendors: Any, warehouse: Warehouse, run_example: Any) -> None:
    # the job is still pending when the sensor first looks: it defers and the trigger sees it finish
    vendors.emulator.vendor("acton").seed({"job_delays": {"pending": 3, "running": 0.5}})
    dr = run_example("acton_webinar_attendance", wait_for_jobs={"poke_interval": 1})
    assert str(dr.state) == "success", task_states(dr)

    rows = warehouse.rows("webinar_attendance", "attended_at")
    good = [r for r in rows if good_attendance(r)]
    snap = snapshot(vendors, "acton")
    events = snap["events"]
    assert len(events) == len(good)
    assert len(good) < len(rows)
    assert all(e["destination"] == "Webinars" and e["action"] == "CUSTOM_ATTENDED" for e in events)
    assert sorted(e["email"] for e in events) == sorted(r["email"] for r in good)
    # quotes and commas survive the CSV, dates are written in the configured pattern
    row = next(r for r in good if r["webinar_title"] == TITLE_WITH_QUOTES)
    sent = next(e for e in events if e["email"] == row["email"] and e["title"] == TITLE_WITH_QUOTES)
    assert (sent["note"], sent["date_text"]) == (row["note"], row["attended_at"][:10])
    assert snap["counters"]["status_polls"] >= 2  # the first poke, then the trigger's poll(s)

    report, summary = xcom(dr, "upload_attendance"), xcom(dr, "check_rejects")
    assert report["rows_read"] == len(rows)
    assert summary == {
        "rows_read": len(rows),
        "appended": len(good),
        "rejected": len(rows) - len(good),
        "rejects_path": report["rejects_path"],
    }
    rejected_ids = sorted(r["row"]["id"] for r in rejects_lines(report["rejects_path"]))
    assert rejected_ids == sorted(r["id"] for r in rows if not good_attendance(r))


def test_acton_rejects_over_the_threshold_fail_the_run(
    vendors: Any, warehouse: Warehouse, run_example: Any
) -> None:
    dr = run_example(
        "acton_webinar_attendance", run_conf={"max_rejected_ratio": 0.001}, wait_for_jobs={"poke_interval": 1}
    )
    states = task_states(dr)
    assert states["check_rejects"] == "failed"
    assert states["wait_for_jobs"] == "success"  # the good rows were delivered all the same
    assert snapshot(vendors, "acton")["events"]


# ---------------------------------------------------------------------------------------------- ExpertSender
def test_expertsender_cdp_scenarios(vendors: Any, warehouse: Warehouse, run_example: Any) -> None:
    dr = run_example("expertsender_cdp_scenarios")
    assert str(dr.state) == "success", task_states(dr)

    rows = warehouse.rows("purchases", "purchased_at")
    good = [r for r in rows if good_purchase_email(r)]
    es = vendors.emulator.vendor("expertsender_cdp")
    events = es.events()
    assert len(events) == len(good)
    assert len(good) < len(rows)
    assert {e["customEventId"] for e in events} == {101}
    digests = Counter(e["identifier_value"] for e in events)
    assert digests == Counter(hashlib.sha256(r["email"].strip().lower().encode()).hexdigest() for r in good)
    assert not any("@" in json.dumps(e) for e in events)  # raw addresses never left the warehouse
    by_order = {_fields(e["dataFields"])["order_id"]: _fields(e["dataFields"]) for e in events}
    row = good[0]
    assert by_order[row["order_id"]] == {
        "order_id": row["order_id"],
        "amount": f"{row['amount']:.2f}",
        "currency": "EUR",
        "product": row["product"],
        "purchased_at": row["purchased_at"] + "Z",
    }
    assert not any(o.startswith("ORD-OUT") for o in by_order)

    (segment,) = es.segment_events()
    assert (segment["customEventId"], segment["segments"]) == (102, [7, 12])
    assert _fields(segment["dataFields"])["day"] == warehouse.start.strftime("%Y-%m-%d")

    report = xcom(dr, "purchases_to_scenario")
    assert (report["rows_read"], report["accepted"], report["rejected"]) == (
        len(rows),
        len(good),
        len(rows) - len(good),
    )
    assert len(rejects_lines(report["rejects_path"])) == report["rejected"]


# ---------------------------------------------------------------------------------------------- CareCloud
def test_carecloud_events(vendors: Any, warehouse: Warehouse, run_example: Any, tmp_path: Path) -> None:
    export_dir = tmp_path / "exports"
    dr = run_example("carecloud_events", run_conf={"export_dir": str(export_dir)})
    assert str(dr.state) == "success", task_states(dr)

    rows = warehouse.rows("purchases", "purchased_at")
    known = warehouse.customer_emails()
    good = [r for r in rows if r["email"] in known]
    events = vendors.emulator.vendor("carecloud").events()
    assert len(events) == len(good)
    assert len(good) < len(rows)
    assert {e["event_type_id"] for e in events} == {demo_setup.CARECLOUD_EVENT_TYPE_ID}
    assert sorted(e["external_id"] for e in events) == sorted(r["order_id"] for r in good)
    row = good[-1]
    event = next(e for e in events if e["external_id"] == row["order_id"])
    local = (
        datetime.fromisoformat(row["purchased_at"])
        .replace(tzinfo=timezone.utc)
        .astimezone(ZoneInfo(snapshot(vendors, "carecloud")["timezone"]))  # the project's zone
        .strftime("%Y-%m-%d %H:%M:%S")
    )
    assert event["created_at"] == local
    assert event["customer_id"] == demo_setup.carecloud_customer_id(row["customer_id"])
    records = {r["property_id"]: r["property_value"] for r in event["property_records"]}
    assert float(records["amount"]) == row["amount"]
    assert (records["currency"], records["product"]) == ("EUR", row["product"])

    report = xcom(dr, "purchases_to_carecloud")
    assert (report["accepted"], report["rejected"]) == (len(good), len(rows) - len(good))
    assert len(rejects_lines(report["rejects_path"])) == report["rejected"]

    # the export lists the window's events of the type, across several pages of 100
    export = xcom(dr, "export_events")
    exported = [json.loads(line) for line in Path(export["path"]).read_text().splitlines()]
    assert Path(export["path"]).parent == export_dir / "carecloud_events"
    assert export["count"] == len(exported) == len(good) > 100
    assert sorted(e["external_id"] for e in exported) == sorted(r["order_id"] for r in good)
    assert all(e["property_records"] for e in exported)
    assert [e["created_at"] for e in exported] == sorted(e["created_at"] for e in exported)


# ---------------------------------------------------------------------------------------------- Gainsight PX
def test_gainsight_px_product_usage(vendors: Any, warehouse: Warehouse, run_example: Any) -> None:
    dr = run_example("gainsight_px_product_usage")
    assert str(dr.state) == "success", task_states(dr)

    rows = warehouse.rows("product_usage", "occurred_at")
    good = [r for r in rows if good_usage(r)]
    received = snapshot(vendors, "gainsight_px")["received"]
    assert len(received) == len(good)
    assert len(good) < len(rows)
    by_id = {e["eventId"]: e for e in received}
    row = good[len(good) // 2]
    event = by_id[event_id_for_key(str(row["id"]))]
    assert (event["identifyId"], event["accountId"], event["eventName"]) == (
        row["user_id"],
        row["account_id"],
        row["event_name"],
    )
    assert event["date"] == _epoch_ms(row["occurred_at"])
    assert event["propertyKey"] == "AP-EMULATOR-2"  # the connection's, as the param is empty
    assert event["attributes"] == {"feature": row["feature"], "duration_seconds": row["duration_seconds"]}

    report = xcom(dr, "usage_to_gainsight_px")
    assert (report["accepted"], report["rejected"]) == (len(good), len(rows) - len(good))
    assert report["verification"]["found"] == len(good)
    assert report["verification"]["complete"]
    assert len(rejects_lines(report["rejects_path"])) == report["rejected"]


# ---------------------------------------------------------------------------------------------- fan-out
def test_warehouse_to_marketing(vendors: Any, warehouse: Warehouse, run_example: Any) -> None:
    dr = run_example("warehouse_to_marketing", run_conf={"acton_poll_interval": 1})
    assert str(dr.state) == "success", task_states(dr)

    attendance = [r for r in warehouse.rows("webinar_attendance", "attended_at") if good_attendance(r)]
    purchases = warehouse.rows("purchases", "purchased_at")
    usage = warehouse.rows("product_usage", "occurred_at")
    known = warehouse.customer_emails()
    assert len(snapshot(vendors, "acton")["events"]) == len(attendance)
    es_events = vendors.emulator.vendor("expertsender_cdp").events()
    assert len(es_events) == sum(map(good_purchase_email, purchases))
    assert len(vendors.emulator.vendor("carecloud").events()) == sum(r["email"] in known for r in purchases)
    received = snapshot(vendors, "gainsight_px")["received"]
    assert sorted(e["eventId"] for e in received) == sorted(
        event_id_for_key(str(r["id"])) for r in usage if good_usage(r)
    )

    # four disjoint slices of product usage, each with its own report and rejects file
    states = task_states(dr)
    assert sorted(k for k in states if k.startswith("usage_to_gainsight_px")) == [
        f"usage_to_gainsight_px[{i}]" for i in range(4)
    ]
    slices = [xcom(dr, "usage_to_gainsight_px", map_index=i) for i in range(4)]
    assert [s["rows_read"] for s in slices] == [sum(r["id"] % 4 == i for r in usage) for i in range(4)]
    assert sum(s["accepted"] for s in slices) == len(received)
    paths = {s["rejects_path"] for s in slices if s["rejected"]}
    assert len(paths) == sum(1 for s in slices if s["rejected"])

    # every asset event carries its task's counts
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        extras: dict[str, list[dict[str, Any]]] = {}
        for event, uri in session.query(AssetEvent, AssetModel.uri).join(
            AssetModel, AssetEvent.asset_id == AssetModel.id
        ):
            if event.source_run_id == dr.run_id:
                extras.setdefault(uri, []).append(event.extra)
    assert sorted(extras) == sorted(
        f"events://{v}"
        for v in (
            "acton/webinar_attendance",
            "carecloud/purchases",
            "expertsender_cdp/purchases",
            "gainsight_px/product_usage",
        )
    )
    assert len(extras["events://gainsight_px/product_usage"]) == 4
    assert sum(e["accepted"] for e in extras["events://gainsight_px/product_usage"]) == len(received)
    assert extras["events://acton/webinar_attendance"][0]["accepted"] == len(attendance)
