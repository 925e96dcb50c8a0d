"""Overlapping DAG runs through ``dag.test()``: each event reaches each of the four vendors once (issue 19).

``warehouse_to_marketing`` fans one data interval out to Act-On, ExpertSender CDP, CareCloud and Gainsight PX.
A second DAG run over the same interval (another run id: a manual trigger beside the scheduled run) and a
backfill over days already synced must send nothing again; ``resend_delivered`` sends again, and says so.
What the vendors RECEIVED is read from the emulator.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

import pytest

from airflow_provider_events.hooks.gainsight_px import event_id_for_key
from tests.dag_runner import run_dag, task_states, xcom

from .conftest import Warehouse, good_attendance, good_purchase_email, good_usage, snapshot

pytestmark = pytest.mark.usefixtures("airflow_db")

DAG_ID = "warehouse_to_marketing"
SYNC_TASKS = ("attendance_to_acton", "purchases_to_expertsender_cdp", "purchases_to_carecloud")


def run_fanout(examples_bag: Any, logical_date: datetime, **conf: Any) -> Any:
    dag = copy.deepcopy(examples_bag.get_dag(DAG_ID))
    for task in dag.tasks:
        task.retries = 0
    # every param the tests vary is given each time: a run's conf can stay in the session's parsed DAG
    run_conf = {"acton_poll_interval": 1, "resend_delivered": False, **conf}
    dr = run_dag(dag, logical_date=logical_date, run_conf=run_conf)
    assert str(dr.state) == "success", task_states(dr)
    return dr


def reports(dr: Any) -> dict[str, dict[str, Any]]:
    """Every sync task's report; the four Gainsight PX slices summed into one."""
    out = {task: xcom(dr, task) for task in SYNC_TASKS}
    slices = [xcom(dr, "usage_to_gainsight_px", map_index=i) for i in range(4)]
    out["usage_to_gainsight_px"] = {
        k: sum(s[k] for s in slices) for k, v in slices[0].items() if isinstance(v, int) and k != "dry_run"
    }
    return out


class Expected:
    """What each vendor should hold once, from the warehouse rows of the window."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.attendance = [
            r for r in warehouse.rows("webinar_attendance", "attended_at") if good_attendance(r)
        ]
        purchases = warehouse.rows("purchases", "purchased_at")
        self.es = [r for r in purchases if good_purchase_email(r)]
        known = warehouse.customer_emails()
        self.carecloud = [r for r in purchases if r["email"] in known]
        self.usage = [r for r in warehouse.rows("product_usage", "occurred_at") if good_usage(r)]

    def per_task(self) -> dict[str, int]:
        return {
            "attendance_to_acton": len(self.attendance),
            "purchases_to_expertsender_cdp": len(self.es),
            "purchases_to_carecloud": len(self.carecloud),
            "usage_to_gainsight_px": len(self.usage),
        }


def received(vendors: Any) -> dict[str, int]:
    emulator = vendors.emulator
    return {
        "attendance_to_acton": len(snapshot(vendors, "acton")["events"]),
        "purchases_to_expertsender_cdp": len(emulator.vendor("expertsender_cdp").events()),
        "purchases_to_carecloud": len(emulator.vendor("carecloud").events()),
        "usage_to_gainsight_px": len(snapshot(vendors, "gainsight_px")["received"]),
    }


def test_a_second_run_over_the_same_interval_sends_nothing_again(
    vendors: Any, warehouse: Warehouse, examples_bag: Any
) -> None:
    expected = Expected(warehouse)
    scheduled = run_fanout(examples_bag, warehouse.logical_date)
    assert received(vendors) == expected.per_task()

    # a manual trigger an hour later: another run id, the same data interval
    manual = run_fanout(examples_bag, warehouse.logical_date + timedelta(hours=1))
    assert manual.run_id != scheduled.run_id
    assert manual.data_interval_start == scheduled.data_interval_start
    assert manual.data_interval_end == scheduled.data_interval_end

    assert received(vendors) == expected.per_task()  # each event once per vendor
    px_ids = sorted(e["eventId"] for e in snapshot(vendors, "gainsight_px")["received"])
    assert px_ids == sorted(event_id_for_key(str(r["id"])) for r in expected.usage)
    assert len(snapshot(vendors, "acton")["jobs"]) == 1  # no second CSV upload at all
    for task, report in reports(manual).items():
        # only the events the vendor refused before are tried again (CareCloud: unknown customers)
        assert report["sent"] == report["rejected_by_vendor"], task
        assert report["accepted"] == 0, task
        assert report["delivered_earlier"] == expected.per_task()[task], task
        assert report["duplicates_skipped"] == 0, task  # not the checkpoint: a new run has its own
        assert report["resent_delivered"] == 0, task


def test_resend_switch_sends_again_and_counts_it(
    vendors: Any, warehouse: Warehouse, examples_bag: Any
) -> None:
    expected = Expected(warehouse)
    run_fanout(examples_bag, warehouse.logical_date)
    resend = run_fanout(examples_bag, warehouse.logical_date + timedelta(hours=2), resend_delivered=True)

    twice = received(vendors)
    once = expected.per_task()
    assert twice["attendance_to_acton"] == 2 * once["attendance_to_acton"]
    assert twice["purchases_to_expertsender_cdp"] == 2 * once["purchases_to_expertsender_cdp"]
    assert twice["usage_to_gainsight_px"] == 2 * once["usage_to_gainsight_px"]
    # CareCloud got every event a second time and answered relation_already_exists for each
    assert twice["purchases_to_carecloud"] == once["purchases_to_carecloud"]
    got = reports(resend)
    assert got["purchases_to_carecloud"]["already_delivered"] == once["purchases_to_carecloud"]
    for task, report in got.items():
        assert report["delivered_earlier"] == 0, task
        assert report["resent_delivered"] == once[task], task
    assert len(snapshot(vendors, "acton")["jobs"]) == 2


def test_a_backfill_over_days_already_synced_sends_only_what_is_new(
    vendors: Any, warehouse: Warehouse, examples_bag: Any
) -> None:
    expected = Expected(warehouse)
    day = timedelta(days=1)
    # the scheduled runs of the window's day and the next day (which holds one row per table)
    run_fanout(examples_bag, warehouse.logical_date)
    run_fanout(examples_bag, warehouse.logical_date + day)
    before = received(vendors)
    assert before["purchases_to_expertsender_cdp"] == len(expected.es) + 1

    # a backfill of the day before, the window's day and the next day, as new DAG runs (other run ids)
    backfill = [
        run_fanout(examples_bag, warehouse.logical_date + offset + timedelta(hours=3))
        for offset in (-day, 0 * day, day)
    ]
    after = received(vendors)
    # only the day before was new: one valid row per table (CareCloud: the customer is known, Act-On too)
    assert after == {task: count + 1 for task, count in before.items()}
    earlier, new_day, next_day = (reports(dr) for dr in backfill)
    for task in (*SYNC_TASKS, "usage_to_gainsight_px"):
        assert earlier[task]["delivered_earlier"] == 0, task
        assert earlier[task]["accepted"] == 1, task
        assert new_day[task]["delivered_earlier"] == expected.per_task()[task], task
        assert next_day[task]["delivered_earlier"] == 1, task
        assert new_day[task]["accepted"] == next_day[task]["accepted"] == 0, task
