"""Shared pieces of the delivery benchmarks: the SQLite warehouse, the vendor set-ups, the engine call,
the naive baselines and the machine's load.

The emulator always runs in its own process (:class:`EmulatorProcess`), so the client measured here never
shares a GIL with it. The client is the delivery engine (:func:`sync_rows`) reading a real SQLite table.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from airflow_provider_events.sync.checkpoint import CheckpointIdentity
from airflow_provider_events.sync.engine import SyncOptions, event_key
from airflow_provider_events.sync.ledger import LedgerOptions
from airflow_provider_events.sync.mapping import RowMapping
from airflow_provider_events.sync.report import DeliveryReport
from airflow_provider_events.sync.runner import build_adapter, sync_rows
from airflow_provider_events.sync.source import SqlSource
from airflow_provider_events.testing.emulator import EmulatorProcess, EmulatorServer
from airflow_provider_events.testing.emulator.carecloud import CUSTOMER_IDS, PURCHASE_TYPE_ID

#: multiply every event count by this (e.g. ``BENCH_SCALE=0.1`` for a quick dry run of the suite).
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
WAREHOUSE_CONN = "bench_warehouse"
SQL = "SELECT * FROM events ORDER BY id"


def tagged_sql(tag: str, limit: int | None = None) -> str:
    """The events with an ``ext_id`` unique to this run (CareCloud deduplicates on external ids)."""
    sql = f"SELECT *, '{tag}-' || id AS ext_id FROM events ORDER BY id"
    return sql if limit is None else f"{sql} LIMIT {int(limit)}"


BASE_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def scaled(count: int, minimum: int = 50) -> int:
    return max(minimum, int(count * SCALE))


def load() -> str:
    """The 1/5/15-minute load averages (other engineers share this 2-core machine)."""
    return "/".join(f"{v:.2f}" for v in os.getloadavg())


# ---------------------------------------------------------------------------------------------- warehouse
COLUMNS = "id, user_id, email, event, amount, plan, ts_ms, customer_id, visits, day, title"


def build_warehouse(path: Path, rows: int) -> Path:
    """``events`` with ``rows`` rows numbered from 1; every column any benchmark mapping reads."""
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE IF EXISTS events")
    conn.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, user_id TEXT, email TEXT, event TEXT, amount REAL, "
        "plan TEXT, ts_ms INTEGER, customer_id TEXT, visits INTEGER, day TEXT, title TEXT)"
    )

    def gen() -> Iterator[tuple[Any, ...]]:
        for i in range(1, rows + 1):
            yield (
                i,
                f"user-{i:07d}",
                f"Customer.{i:07d}@Example.com",
                "feature_used",
                round(i * 1.37 % 1000, 2),
                "pro" if i % 2 else "starter",
                BASE_MS + i * 1000,
                CUSTOMER_IDS[i % len(CUSTOMER_IDS)],
                i % 97,
                f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
                f"Webinar {i % 20}",
            )

    conn.executemany(f"INSERT INTO events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", gen())
    conn.commit()
    conn.close()
    return path


def warehouse_env(db: Path) -> dict[str, str]:
    key = f"AIRFLOW_CONN_{WAREHOUSE_CONN.upper()}"
    return {key: json.dumps({"conn_type": "sqlite", "host": str(db)})}


def emulator_env(emu: EmulatorProcess) -> dict[str, str]:
    """``AIRFLOW_CONN_<VENDOR>_DEFAULT`` for the emulator process (its seeds are the defaults)."""
    return EmulatorServer(emu.port).connection_env()


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


# ---------------------------------------------------------------------------------------------- vendors
@dataclass(frozen=True)
class Vendor:
    """One per-event vendor as the benchmarks drive it."""

    name: str
    path: str  # below the connection's base URL, for the naive loop
    plain: Mapping[str, Any]
    templated: Mapping[str, Any]
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def conn_id(self) -> str:
        return f"{self.name}_default"


PER_EVENT_VENDORS = {
    "gainsight_px": Vendor(
        "gainsight_px",
        "events/custom",
        plain={
            "identifyId": "user_id",
            "eventName": "event",
            "date": "ts_ms",
            "attributes": {"amount": "amount", "plan": "plan"},
        },
        templated={
            "identifyId": "{{ row.user_id }}",
            "eventName": "{{ row.event }}",
            "date": "{{ row.ts_ms }}",
            "attributes": {"amount": "{{ row.amount | round(1) }}", "plan": "{{ row.plan | upper }}"},
        },
    ),
    "expertsender_cdp": Vendor(
        "expertsender_cdp",
        "scenariocustomevents",
        plain={"email": "email", "dataFields": {"amount": "amount", "plan": "plan"}},
        templated={
            "email": "{{ row.email | lower }}",
            "dataFields": {"amount": "{{ row.amount | round(1) }}", "plan": "{{ row.plan | upper }}"},
        },
        options={"custom_event_id": 1, "identifier": "email"},
    ),
    "carecloud": Vendor(
        "carecloud",
        "events",
        plain={
            "customer_id": "customer_id",
            "external_id": "ext_id",
            "property_records": {"visit_count": "visits", "note": "plan"},
        },
        templated={
            "customer_id": "{{ row.customer_id }}",
            "external_id": "{{ row.ext_id }}",
            "property_records": {"visit_count": "{{ row.visits }}", "note": "{{ row.plan | upper }}"},
        },
        options={"event_type_id": PURCHASE_TYPE_ID},
    ),
}

ACTON_PLAIN = {"email": "email", "date": "day", "title": "title", "note": "plan"}
ACTON_TEMPLATED = {
    "email": "{{ row.email | lower }}",
    "date": "{{ row.day }}",
    "title": "{{ row.title }}",
    "note": "{{ row.plan | upper }}",
}
ACTON_OPTIONS = {"destination": "bench", "customeventaction": "CUSTOM_GENERAL1", "poll_interval": 0.2}


# ---------------------------------------------------------------------------------------------- engine
@dataclass
class EngineRun:
    report: DeliveryReport
    wall: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.report.accepted / self.wall if self.wall else 0.0


def run_engine(
    conn_id: str,
    mapping: Mapping[str, Any],
    *,
    limit: int | None = None,
    destination_options: Mapping[str, Any] | None = None,
    **options: Any,
) -> EngineRun:
    """One sync of the warehouse's first ``limit`` rows through the engine (a fresh checkpoint).

    Each run also gets a delivery ledger of its own: the benchmarks send the same warehouse rows (the same
    keys) run after run, and a shared ledger would skip what an earlier run delivered.
    """
    tag = uuid.uuid4().hex[:12]
    sql = tagged_sql(tag, limit)
    identity = CheckpointIdentity("bench", f"run-{tag}", "sync")
    options.setdefault("key_columns", ["id"])
    options.setdefault("progress_interval", 30.0)
    cpu0, t0 = time.process_time(), time.perf_counter()
    report = sync_rows(
        destination_conn_id=conn_id,
        source=SqlSource(WAREHOUSE_CONN, sql),
        mapping=mapping,
        identity=identity,
        destination_options=destination_options,
        options=SyncOptions(**options),
        ledger=LedgerOptions(path=tempfile.mkdtemp(prefix=f"bench-ledger-{tag}-")),
    )
    return EngineRun(report, time.perf_counter() - t0, time.process_time() - cpu0)


def prepared_payloads(vendor: Vendor, count: int, key_prefix: str = "naive-") -> tuple[str, dict, list]:  # type: ignore[type-arg]
    """URL, headers and ``count`` payloads of the warehouse rows, built by the vendor's adapter.

    The naive loop then posts exactly what the engine would post (keys prefixed, so that a vendor which
    deduplicates on them does not see the engine's events again).
    """
    adapter = build_adapter(vendor.conn_id, vendor.options)
    adapter.open()
    mapping = RowMapping(vendor.plain)
    rows = list(SqlSource(WAREHOUSE_CONN, tagged_sql(key_prefix + uuid.uuid4().hex[:8], count)))
    mapping.bind(list(rows[0]))
    payloads = []
    for number, row in enumerate(rows, start=1):
        record = mapping.render(row, number)
        payloads.append(adapter.prepare(record, key_prefix + event_key(record, row, ["id"])))
    hook = adapter.hook
    url = f"{hook.base_url.rstrip('/')}/{vendor.path}"
    headers = dict(hook.auth_headers())
    adapter.close()
    hook.close()
    return url, headers, payloads


def sequential_post(
    url: str, headers: Mapping[str, str], payloads: list[Any]
) -> tuple[float, dict[int, int]]:
    """The naive baseline: a plain ``requests.post`` per event, one after the other."""
    statuses: dict[int, int] = {}
    t0 = time.perf_counter()
    for payload in payloads:
        status = requests.post(url, json=payload, headers=headers, timeout=30).status_code
        statuses[status] = statuses.get(status, 0) + 1
    return time.perf_counter() - t0, statuses


def fault_counters(emu: EmulatorProcess, vendor: str) -> dict[str, int]:
    counters: dict[str, int] = emu.admin("GET", f"{vendor}/faults")["counters"]
    return counters
