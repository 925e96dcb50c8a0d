"""The ``list_vendor_events`` example DAG through ``dag.test()``: what each vendor export holds."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from airflow_provider_events.testing import demo_setup
from tests.dag_runner import task_states, xcom

from .conftest import Warehouse

pytestmark = pytest.mark.usefixtures("airflow_db")


def _ms(moment: Any) -> int:
    return int(moment.timestamp() * 1000)


def test_list_vendor_events_exports_each_vendor(
    vendors: Any, warehouse: Warehouse, run_example: Any, examples_bag: Any, tmp_path: Path
) -> None:
    defaults = dict(examples_bag.get_dag("list_vendor_events").params.dump())
    assert defaults["carecloud_event_type"].casefold() == "online purchase"  # the type make demo seeds
    emulator = vendors.emulator
    emulator.vendor("acton").seed({"destinations": ["Webinar replays", "Downloads"]})
    start, end = warehouse.start, warehouse.start + timedelta(days=1)
    # Gainsight PX: 30 events an hour apart from 6 hours before the window; 2 names
    px_events = [
        {
            "eventId": f"px-{i}",
            "identifyId": f"user-{i}",
            "propertyKey": "AP-EMULATOR-2",
            "eventName": "export" if i % 3 else "login",
            "userType": "USER",
            "date": _ms(start - timedelta(hours=6) + timedelta(hours=i)),
        }
        for i in range(36)
    ]
    emulator.vendor("gainsight_px").seed({"events": px_events})
    # CareCloud: purchases inside the window and one the day before (created_at in the project's zone)
    zone = ZoneInfo(emulator.vendor("carecloud").timezone)
    moments = [start + timedelta(hours=h) for h in (2, 9, 17)] + [start - timedelta(hours=5)]
    emulator.vendor("carecloud").seed(
        {
            "events": [
                {
                    "event_id": f"cc{i:024d}",
                    "event_type_id": demo_setup.CARECLOUD_EVENT_TYPE_ID,
                    "customer_id": demo_setup.carecloud_customer_id(1),
                    "external_id": f"order-{i}",
                    "data": {"n": i},
                    "created_at": m.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
                }
                for i, m in enumerate(moments)
            ]
        }
    )
    run = run_example(
        "list_vendor_events",
        run_conf={
            "export_dir": str(tmp_path / "exports"),
            "acton_name_pattern": "*s",
            "gainsight_px_event_name": "export",
        },
    )
    assert set(task_states(run).values()) == {"success"}
    day = tmp_path / "exports" / start.strftime("%Y-%m-%d")

    listings = xcom(run, "acton_listings")
    assert listings == {"count": 3, "path": str(day / "acton_listings.csv")}
    with open(listings["path"], newline="") as handle:
        titles = sorted(r["title"] for r in csv.DictReader(handle))
    assert titles == sorted([demo_setup.ACTON_DESTINATION, "Webinar replays", "Downloads"])

    px = xcom(run, "gainsight_px_events")
    expected = [
        e["eventId"] for e in px_events if e["eventName"] == "export" and _ms(start) <= e["date"] < _ms(end)
    ]
    assert px["count"] == len(expected) == 16
    lines = Path(px["path"]).read_text().splitlines()
    assert [json.loads(line)["eventId"] for line in lines] == expected

    cc = xcom(run, "carecloud_events")
    assert cc["count"] == 3
    got = [json.loads(line) for line in Path(cc["path"]).read_text().splitlines()]
    assert [e["external_id"] for e in got] == ["order-0", "order-1", "order-2"]
