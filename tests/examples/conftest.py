"""Fixtures of the example-DAG tests: the DAG folder, a small sample warehouse and the seeded emulator."""

from __future__ import annotations

import copy
import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_events.testing.demo_setup import connection_env, seed_emulator
from airflow_provider_events.testing.warehouse import TS_FORMAT, WarehouseSpec, build_warehouse

EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples"
EXAMPLE_DAG_IDS = {
    "acton_webinar_attendance",
    "expertsender_cdp_scenarios",
    "carecloud_events",
    "gainsight_px_product_usage",
    "warehouse_to_marketing",
    "list_vendor_events",
}
#: small enough for seconds per DAG, large enough for several pages and some bad rows in every table.
SPEC = WarehouseSpec(customers=150, attendance=240, purchases=220, usage=260, bad_ratio=0.03, seed=11)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class Warehouse:
    """The sample warehouse of one test, and what its data interval holds."""

    path: Path
    start: datetime  # the data interval is [start, start + 1 day)

    @property
    def logical_date(self) -> datetime:
        """The logical date of the daily run whose data interval is the warehouse's window."""
        return self.start + timedelta(days=1)

    def rows(self, table: str, time_column: str) -> list[dict[str, Any]]:
        """The rows of ``table`` inside the window, in id order."""
        con = sqlite3.connect(self.path)
        con.row_factory = sqlite3.Row
        try:
            cur = con.execute(
                f"SELECT * FROM {table} WHERE {time_column} >= ? AND {time_column} < ? ORDER BY id",
                (self.start.strftime(TS_FORMAT), (self.start + timedelta(days=1)).strftime(TS_FORMAT)),
            )
            return [dict(r) for r in cur]
        finally:
            con.close()

    def customer_emails(self) -> set[str]:
        con = sqlite3.connect(self.path)
        try:
            return {r[0] for r in con.execute("SELECT email FROM customers")}
        finally:
            con.close()


def good_attendance(row: dict[str, Any]) -> bool:
    return bool(_EMAIL.match(row["email"] or "")) and bool((row["webinar_title"] or "").strip())


def good_purchase_email(row: dict[str, Any]) -> bool:
    local, at, domain = (row["email"] or "").rpartition("@")
    return bool(at and local and domain) and len(row["email"]) <= 320


def good_usage(row: dict[str, Any]) -> bool:
    return bool(row["user_id"])


def _add_rows_outside_window(path: Path, start: datetime) -> None:
    """Valid rows just before the window and at its (exclusive) end: an incremental sync skips them."""
    before = (start - timedelta(seconds=1)).strftime(TS_FORMAT)
    at_end = (start + timedelta(days=1)).strftime(TS_FORMAT)
    con = sqlite3.connect(path)
    email = con.execute("SELECT email FROM customers WHERE id = 1").fetchone()[0]
    for n, ts in ((900001, before), (900002, at_end)):
        con.execute(
            "INSERT INTO webinar_attendance VALUES (?, 1, ?, 'Outside the window', ?, 'n')", (n, email, ts)
        )
        con.execute(
            "INSERT INTO purchases VALUES (?, 1, ?, ?, 10.0, 'EUR', ?, 'pro')", (n, email, f"ORD-OUT-{n}", ts)
        )
        con.execute(
            "INSERT INTO product_usage VALUES (?, 'user-1', 'acct-1', 'feature_used', 'export', 5, ?)",
            (n, ts),
        )
    con.commit()
    con.close()


@pytest.fixture(scope="session")
def examples_bag() -> Any:
    """The example DAG folder, parsed once."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(EXAMPLES))


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    """A small sample warehouse whose window is the day before yesterday, as ``events_warehouse``."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=2)
    path = build_warehouse(tmp_path / "warehouse.sqlite", start, SPEC)
    _add_rows_outside_window(path, start)
    monkeypatch.setenv(
        "AIRFLOW_CONN_EVENTS_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(path)})
    )
    return Warehouse(path, start)


@pytest.fixture
def vendors(emulator: Any, warehouse: Warehouse, tmp_state: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The emulator seeded as the examples expect, with unpaced default connections."""
    seed_emulator(emulator, warehouse.path)
    for key, value in connection_env(emulator, max_requests_per_second=0).items():
        monkeypatch.setenv(key, value)
    return emulator


@pytest.fixture
def run_example(examples_bag: Any, warehouse: Warehouse, airflow_db: Path) -> Callable[..., Any]:
    """Run one example DAG with ``dag.test()`` for the warehouse's data interval."""
    from tests.dag_runner import run_dag

    def run(dag_id: str, run_conf: dict[str, Any] | None = None, **task_overrides: dict[str, Any]) -> Any:
        parsed = examples_bag.get_dag(dag_id)
        assert parsed is not None, f"{dag_id} not in {sorted(examples_bag.dag_ids)}"
        dag = copy.deepcopy(parsed)  # the session's bag stays as parsed
        for task in dag.tasks:
            task.retries = 0  # dag.test() would wait out the 5-minute retry_delay of a failed task
        for task_id, attrs in task_overrides.items():
            for name, value in attrs.items():
                setattr(dag.get_task(task_id), name, value)
        return run_dag(dag, logical_date=warehouse.logical_date, run_conf=run_conf)

    return run


def snapshot(server: Any, vendor: str) -> dict[str, Any]:
    return server.emulator.vendor(vendor).snapshot()  # type: ignore[no-any-return]


def rejects_lines(path: str | None) -> list[dict[str, Any]]:
    assert path, "no rejects file was written"
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
