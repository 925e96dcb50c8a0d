"""Randomized SIGKILL crash trials: the engine of ``test_crash_trials.py`` and ``bench_crash_trials.py``.

One trial, as issue 13 measured it: a sync of ``n`` events through ``sync_rows`` (what the operator runs) to
the out-of-process emulator, under faults *before* processing (503, 429 + ``Retry-After``, connection
resets) and *after* processing (the connection dropped once the event is stored, or the answer sent after
the client's read timeout). The first attempt runs in a forked process that is killed with ``SIGKILL`` once
the vendor has received a random share (10-90%) of the events; then the same sync (same checkpoint) runs
again, as Airflow task retries would, until it succeeds. The result compares what the vendor holds with the
final report.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_events.exceptions import DeliveryAbortedError, DeliveryIncompleteError
from airflow_provider_events.hooks.gainsight_px import event_id_for_key
from airflow_provider_events.sync.checkpoint import CheckpointIdentity
from airflow_provider_events.sync.engine import SyncOptions
from airflow_provider_events.sync.ledger import LedgerOptions
from airflow_provider_events.sync.report import DeliveryReport
from airflow_provider_events.sync.runner import sync_rows
from airflow_provider_events.sync.source import RecordsSource
from airflow_provider_events.testing.emulator.carecloud import CUSTOMER_IDS

from .conftest import FaultEmulator

BASE_MS = 1_704_067_200_000
#: faults per request. Before processing: 5% 503, 3% 429 + Retry-After, 3% resets. After processing: 3%
#: dropped connections, 3% answers after the read timeout.
FAULTS: dict[str, Any] = {
    "latency_ms": 3,
    "error_rate": 0.05,
    "error_statuses": [503],
    "throttle_rate": 0.03,
    "throttle_retry_after": 1,
    "reset_rate": 0.03,
    "drop_rate": 0.03,
    "slow_rate": 0.03,
    "slow_seconds": 1.0,
}
#: a slow answer is a read timeout; fast backoff; Retry-After capped so CI stays short.
FAST_EXTRAS = {"read_timeout": 0.4, "backoff_initial": 0.02, "backoff_max": 0.2, "retry_after_max": 0.1}

VENDORS: dict[str, dict[str, Any]] = {
    "gainsight_px": {
        "mapping": {"identifyId": "user_id", "eventName": "event", "date": "{{ row.ts }}"},
        "destination_options": {"readback_visibility_seconds": 0},
    },
    "carecloud": {
        "mapping": {"customer_id": "customer_id", "property_records": {"visit_count": "visits"}},
        "destination_options": {"event_type": "purchase"},
    },
    "expertsender_cdp": {
        "mapping": {"email": "email", "dataFields": {"visits": "visits"}},
        "destination_options": {"custom_event_id": 1, "identifier": "email"},
    },
}


def records(n: int) -> list[dict[str, Any]]:
    return [
        {
            "id": i,
            "user_id": f"user-{i}",
            "event": "purchase",
            "ts": BASE_MS + i * 1000,
            "customer_id": CUSTOMER_IDS[i % 3],
            "email": f"user{i}@example.com",
            "visits": i,
        }
        for i in range(1, n + 1)
    ]


def received_keys(emu: FaultEmulator, vendor: str, n: int) -> list[str]:
    """The key (row id) of every event the vendor stored, duplicates included."""
    state = emu.state(vendor)
    if vendor == "gainsight_px":
        by_id = {event_id_for_key(str(i)): str(i) for i in range(1, n + 1)}
        return [by_id.get(e.get("eventId"), "?") for e in state["received"]]
    if vendor == "carecloud":
        return [str(e["external_id"]) for e in state["events"]]
    return [str(e["identifier_value"]).split("@")[0][4:] for e in state["received"]]


@dataclass
class TrialResult:
    vendor: str
    retry_ambiguous: bool
    n: int
    killed_at: int | None
    attempts: int
    lost: int
    duplicated: int
    report: DeliveryReport

    def row(self) -> str:
        r = self.report
        return (
            f"{self.vendor:17} {'at-least-once' if self.retry_ambiguous else 'at-most-once':14} "
            f"killed@{self.killed_at!s:>4} attempts={self.attempts} lost={self.lost} dup={self.duplicated} "
            f"in_doubt={r.in_doubt} possible_dup={r.possible_duplicates} read_back={r.resolved_by_lookup} "
            f"already={r.already_delivered} unaccounted={r.unaccounted}"
        )


def _sync(
    vendor: str, n: int, identity: CheckpointIdentity, root: Path, retry_ambiguous: bool
) -> DeliveryReport:
    spec = VENDORS[vendor]
    return sync_rows(
        destination_conn_id=f"trial_{vendor}",
        source=RecordsSource(records(n)),
        mapping=spec["mapping"],
        identity=identity,
        destination_options=spec["destination_options"],
        options=SyncOptions(
            key_columns=["id"],
            max_concurrency=4,
            max_requests_per_second=150,
            retry_ambiguous=retry_ambiguous,
            max_in_doubt_ratio=1.0,  # the trial counts doubt instead of failing on it
            max_consecutive_failures=50,
        ),
        checkpoint_path=str(root / "checkpoints"),
        rejects_path=str(root / "rejects.jsonl"),
        # each trial sends the same keys to a fresh emulator: its own ledger, shared by its attempts only
        ledger=LedgerOptions(path=str(root / "ledger")),
    )


def run_trial(
    emu: FaultEmulator, vendor: str, retry_ambiguous: bool, n: int, rng: random.Random, root: Path
) -> TrialResult:
    """One trial; the caller set ``AIRFLOW_CONN_TRIAL_<VENDOR>`` (see :func:`connection_env`)."""
    emu.reset()
    emu.faults(vendor, **FAULTS)
    identity = CheckpointIdentity("crash_trials", f"trial-{rng.random():.12f}", "sync")
    kill_at = rng.randint(n // 10, n * 9 // 10)
    pid = os.fork()
    if pid == 0:  # the first attempt, killed from outside
        code = 1
        try:
            _sync(vendor, n, identity, root, retry_ambiguous)
            code = 0
        finally:
            os._exit(code)
    killed_at: int | None = None
    deadline = time.monotonic() + 120
    while True:
        done, _status = os.waitpid(pid, os.WNOHANG)
        if done:
            break  # ended (delivered or failed) before the kill point
        got = len(received_keys(emu, vendor, n))
        if got >= kill_at:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            killed_at = got
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError("the first attempt did not progress")
        time.sleep(0.005)
    time.sleep(0.3)  # requests the dead process had written finish at the emulator
    report: DeliveryReport | None = None
    attempts = 1
    for _ in range(10):
        attempts += 1
        try:
            report = _sync(vendor, n, identity, root, retry_ambiguous)
            break
        except (DeliveryIncompleteError, DeliveryAbortedError):
            continue
    if report is None:
        raise AssertionError(f"{vendor}: not delivered after {attempts} attempts")
    emu.faults(
        vendor, **{k: 0 for k in ("error_rate", "throttle_rate", "reset_rate", "drop_rate", "slow_rate")}
    )
    received = Counter(received_keys(emu, vendor, n))
    expected = {str(i) for i in range(1, n + 1)}
    lost = len(expected - set(received))
    duplicated = sum(count - 1 for key, count in received.items() if key in expected)
    return TrialResult(vendor, retry_ambiguous, n, killed_at, attempts, lost, duplicated, report)


def connection_env(emu: FaultEmulator) -> dict[str, str]:
    """``AIRFLOW_CONN_TRIAL_<VENDOR>`` for every trial vendor, with :data:`FAST_EXTRAS`."""
    return {
        f"AIRFLOW_CONN_TRIAL_{vendor.upper()}": json.dumps(emu.connection(vendor, **FAST_EXTRAS))
        for vendor in VENDORS
    }
