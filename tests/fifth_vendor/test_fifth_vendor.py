"""The plug-in point: a vendor the provider has never heard of, added by one registration call.

Its hook, adapter and emulator module live under ``tests/fifth_vendor``; the provider's code is not edited.
``SqlToEventsOperator`` delivers a real SQLite table to it over loopback HTTP through ``dag.test()``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from airflow.sdk import DAG

from airflow_provider_events import vendors
from airflow_provider_events.operators.sync import SqlToEventsOperator
from airflow_provider_events.sync.adapter import adapter_class_for
from airflow_provider_events.sync.runner import build_adapter
from airflow_provider_events.testing.emulator.app import Emulator
from airflow_provider_events.testing.emulator.server import EmulatorServer
from tests.dag_runner import run_dag, task_states, xcom
from tests.fifth_vendor import plugin
from tests.fifth_vendor.adapter import PulseAdapter
from tests.fifth_vendor.emulator import PulseEmulator
from tests.fifth_vendor.hook import PulseHook

pytestmark = pytest.mark.usefixtures("airflow_db", "tmp_state")


@pytest.fixture
def pulse(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    """Pulse registered, its emulator served on a free loopback port, ``pulse_default`` pointing at it."""
    plugin.register()
    try:
        with EmulatorServer(emulator=Emulator([PulseEmulator()])) as server:
            monkeypatch.setenv("AIRFLOW_CONN_PULSE_DEFAULT", json.dumps(server.connection("pulse")))
            yield server
    finally:
        plugin.unregister()


@pytest.fixture
def events_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "warehouse.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, user_id TEXT, event TEXT, amount REAL)")
    rows = [(i, None if i == 7 else f"user-{i:03d}", "signed_up", i * 2.5) for i in range(1, 26)]
    conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    return db


def received(server: EmulatorServer) -> list[dict]:  # type: ignore[type-arg]
    return server.emulator.vendor("pulse").snapshot()["received"]  # type: ignore[no-any-return]


def make_dag(dag_id: str) -> DAG:
    with DAG(dag_id=dag_id, schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as dag:
        SqlToEventsOperator(
            task_id="sync",
            conn_id="warehouse",
            sql="SELECT * FROM events ORDER BY id",
            destination_conn_id="pulse_default",
            destination_options={"source": "warehouse"},
            mapping={"user": "user_id", "name": "event", "value": "amount"},
            key_columns=["id"],
            max_rejected=1,
        )
    return dag


def test_registry_resolves_the_plugged_in_vendor(pulse: EmulatorServer) -> None:
    assert vendors.vendor("pulse").display_name == "Pulse"
    assert adapter_class_for("pulse") is PulseAdapter
    adapter = build_adapter("pulse_default")
    try:
        assert isinstance(adapter, PulseAdapter)
        assert isinstance(adapter.hook, PulseHook)
        assert adapter.hook.check_connection().startswith("Connected to Pulse at http://127.0.0.1:")
    finally:
        adapter.hook.close()


def test_sql_to_events_delivers_to_the_fifth_vendor_end_to_end(
    pulse: EmulatorServer, events_table: Path
) -> None:
    dr = run_dag(make_dag("fifth_vendor_sync"))
    assert task_states(dr) == {"sync": "success"}
    report = xcom(dr, "sync")
    assert report["rows_read"] == 25
    assert report["accepted"] == 24
    assert report["rejected"] == 1
    assert report["failed"] == 0
    events = received(pulse)
    assert sorted(e["user"] for e in events) == [f"user-{i:03d}" for i in range(1, 26) if i != 7]
    first = next(e for e in events if e["user"] == "user-001")
    assert first == {
        "id": first["id"],
        "user": "user-001",
        "name": "signed_up",
        "value": 2.5,
        "source": "warehouse",
    }
    assert len({e["id"] for e in events}) == 24

    # the same DAG run again sends nothing, whatever the vendor: dag.test() starts the run's task state
    # afresh, and the delivery ledger (shared by every run to this destination) remembers every key
    again = xcom(
        run_dag(make_dag("fifth_vendor_sync"), logical_date=dr.logical_date, run_after=dr.run_after), "sync"
    )
    assert again["sent"] == 0
    assert again["delivered_earlier"] == 24
    assert pulse.emulator.vendor("pulse").snapshot()["posts"] == 24


def test_unregistered_vendor_is_a_configuration_error() -> None:
    from airflow_provider_events.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="no delivery adapter for connection type 'pulse'"):
        adapter_class_for("pulse")
