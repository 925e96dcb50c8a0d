"""Reliability suite fixtures: the emulator in its own process (with injected 429s), SQLite warehouses."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_events.testing.emulator import free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


class FaultEmulator:
    """``fault_server.py`` running in a subprocess: the four vendors, their faults, and injected 429s.

    A separate process keeps the emulator off the client's GIL, so 10,000 events take seconds, not minutes.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
        self.proc = subprocess.Popen([sys.executable, str(HERE / "fault_server.py"), str(self.port)], env=env)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.call("GET", "/_admin/health")
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("fault emulator did not start") from None
                time.sleep(0.05)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read() or b"null")

    def reset(self) -> None:
        self.call("POST", "/_admin/reset")
        for vendor in ("acton", "expertsender_cdp", "carecloud", "gainsight_px"):
            self.call("POST", "/_reliability/throttle", {"vendor": vendor, "rate": 0})

    def state(self, vendor: str) -> Any:
        return self.call("GET", f"/_admin/{vendor}/state")

    def faults(self, vendor: str, **settings: Any) -> Any:
        return self.call("POST", f"/_admin/{vendor}/faults", settings)

    def counters(self, vendor: str) -> dict[str, int]:
        return dict(self.call("GET", f"/_admin/{vendor}/faults")["counters"])

    def throttle(self, vendor: str, rate: float, retry_after: str = "1") -> None:
        self.call(
            "POST", "/_reliability/throttle", {"vendor": vendor, "rate": rate, "retry_after": retry_after}
        )

    def throttled(self, vendor: str) -> int:
        return int(self.call("GET", "/_reliability/throttle").get(vendor, 0))

    def base_url(self, vendor: str) -> str:
        from airflow_provider_events.testing.emulator.app import default_vendors

        emu = {v.name: v for v in default_vendors()}[vendor]
        return f"{self.url}/{vendor}{emu.base_path}"

    def connection(self, vendor: str, **extra: Any) -> dict[str, Any]:
        """The vendor's default emulator connection, with more extras."""
        from airflow_provider_events.testing.emulator.app import default_vendors

        emu = {v.name: v for v in default_vendors()}[vendor]
        conn: dict[str, Any] = emu.connection(self.base_url(vendor))
        conn["extra"] = {**(conn.get("extra") or {}), **extra}
        return conn

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def fault_emulator_process() -> Iterator[FaultEmulator]:
    server = FaultEmulator()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fault_emulator(fault_emulator_process: FaultEmulator) -> FaultEmulator:
    """The out-of-process emulator, reset (no faults, no throttling, fresh vendor state)."""
    fault_emulator_process.reset()
    return fault_emulator_process


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn: dict[str, Any]) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def make_table(path: Path, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """A SQLite table ``table(columns...)`` (untyped columns: values are stored with their own type)."""
    conn = sqlite3.connect(path)
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute(f"CREATE TABLE {table} ({', '.join(columns)})")
    conn.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' for _ in columns)})", rows)
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def sqlite_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Build a table in a fresh SQLite file and point the ``warehouse`` connection at it."""
    db = tmp_path / "warehouse.db"

    def make(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
        make_table(db, table, columns, rows)
        monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(db)}))
        return db

    return make
