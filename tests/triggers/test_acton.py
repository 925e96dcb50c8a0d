"""The Act-On job trigger: what it serialises for the triggerer, and riding out transient vendor errors."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from helpers.acton import ROWS, write_csv

from airflow_provider_events.triggers.acton import ActOnCustomEventJobTrigger


def test_trigger_serialises_only_ids_and_timing() -> None:
    trigger = ActOnCustomEventJobTrigger(["1", "2"], "acton_default", 5, 1234.5)
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_events.triggers.acton.ActOnCustomEventJobTrigger"
    assert kwargs == {
        "job_ids": ["1", "2"],
        "acton_conn_id": "acton_default",
        "poll_interval": 5.0,
        "deadline": 1234.5,
    }


def test_trigger_retries_transient_errors(
    acton: Any, emulator: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    import asyncio

    from airflow_provider_events.hooks.acton import ActOnHook

    hook = ActOnHook()
    job = hook.upload_custom_events(
        write_csv(tmp_path / "e.csv", ROWS),
        destination="Trig",
        customeventaction="CUSTOM_GENERAL",
        email_col=0,
        date_col=1,
        title_col=2,
        dateformat="MM/dd/yyyy",
    )
    # every poll fails until the trigger has met at least one server error, then the vendor recovers: the
    # trigger must ride it out (a random error share could let the first poll through and prove nothing)
    emulator.emulator.set_faults("acton", error_rate=1.0)

    def recover_after_first_error() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and emulator.emulator.fault_counters("acton")["server_errors"] < 1:
            time.sleep(0.02)
        emulator.emulator.set_faults("acton", error_rate=0.0)

    recovery = threading.Thread(target=recover_after_first_error, daemon=True)
    recovery.start()
    conn = emulator.connection("acton")
    conn["extra"].update(max_retries=0, max_requests_per_second=50)  # every injected 5xx reaches the trigger
    monkeypatch.setenv("AIRFLOW_CONN_ACTON_FLAKY", json.dumps(conn))
    try:
        trigger = ActOnCustomEventJobTrigger([job], "acton_flaky", poll_interval=0.05, deadline=None)

        async def first_event() -> Any:
            async for event in trigger.run():
                return event.payload
            return None

        payload = asyncio.run(asyncio.wait_for(first_event(), 60))
    finally:
        recovery.join(timeout=60)
        emulator.emulator.set_faults("acton", error_rate=0.0)
    assert payload["status"] == "success", payload
    assert payload["jobs"][0]["append_count"] == 3
    assert emulator.emulator.fault_counters("acton")["server_errors"] > 0
