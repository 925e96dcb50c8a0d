"""Act-On test fixtures: the emulator's Act-On state, a private token store, and a faster connection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

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
