"""Crash and retry with a real process kill: SIGKILL from outside while events are in flight, then retry.

``tests/sync/test_crash.py`` covers a cooperative crash (``os._exit`` inside the adapter after exactly N
events, ``max_concurrency=1``, Gainsight PX). Here the sync runs in its own process with 4 concurrent
requests, the test watches the emulator and sends ``SIGKILL`` once it has received N events (the sync does
not know; requests are in flight), then runs the task again through ``run_dag``:

- CareCloud (vendor dedup on external id): the vendor holds each event exactly once; resends of events
  delivered but not yet checkpointed come back "already delivered" and the retry's report counts them;
- ExpertSender CDP (no idempotency key): every event arrives; the only duplicates are events the vendor had
  taken but the checkpoint had not recorded when the kill came (at most the in-flight window,
  ``2 x max_concurrency``), and the test names how many.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_events.sync.checkpoint import CheckpointIdentity, open_checkpoint
from airflow_provider_events.sync.digests import key_digest
from airflow_provider_events.testing.emulator.carecloud import CUSTOMER_IDS
from tests.dag_runner import run_dag, task_states, xcom

from .kill_job import PACE, TOTAL, build_dag

pytestmark = pytest.mark.usefixtures("airflow_db", "tmp_state")

ROOT = Path(__file__).resolve().parents[2]
KILL_AFTER = 40
#: answers come 0.15 s after the event is stored: a kill finds events delivered but not yet acknowledged
SLOW_ANSWERS = {"slow_rate": 1.0, "slow_seconds": 0.15}
WINDOW = 2 * PACE["max_concurrency"]


def received_keys(emulator: Any, vendor: str) -> list[str]:
    """The idempotency key (row id) of every event the vendor stored, duplicates included."""
    emu = emulator.emulator.vendor(vendor)
    if vendor == "carecloud":
        return [e["external_id"] for e in emu.events()]
    return [e["identifier_value"].split("@")[0][4:] for e in emu.events()]


def kill_mid_way(vendor: str, dag_id: str, when: datetime, emulator: Any) -> int:
    """Start the sync in a subprocess and SIGKILL it once the vendor has N events; returns N at the kill."""
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("kill_job.py")), vendor, dag_id, when.isoformat()],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    emulator.emulator.set_faults(vendor, **SLOW_ANSWERS)
    deadline = time.monotonic() + 120
    try:
        while len(received_keys(emulator, vendor)) < KILL_AFTER:
            if proc.poll() is not None:
                raise AssertionError(f"sync ended before the kill (exit {proc.returncode})")
            assert time.monotonic() < deadline, "the sync did not deliver in time"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)

    emulator.emulator.set_faults(vendor, slow_rate=0.0)
    time.sleep(0.3)  # let the emulator finish requests the dead process had already written to its socket
    assert proc.returncode == -signal.SIGKILL
    return len(received_keys(emulator, vendor))


def acked_keys(dag_id: str, run_id: str) -> set[str]:
    checkpoint = open_checkpoint(CheckpointIdentity(dag_id, run_id, "sync"))
    try:
        return {str(i) for i in range(1, TOTAL + 1) if checkpoint.is_done(key_digest(str(i)))}
    finally:
        checkpoint.close()


def warehouse_rows(sqlite_warehouse: Any) -> None:
    sqlite_warehouse(
        "purchases",
        ["id", "customer_id", "email", "visits"],
        ((i, CUSTOMER_IDS[i % 3], f"user{i}@example.com", i) for i in range(1, TOTAL + 1)),
    )


def test_sigkill_then_retry_carecloud_holds_each_event_exactly_once(emulator, sqlite_warehouse) -> None:  # type: ignore[no-untyped-def]
    warehouse_rows(sqlite_warehouse)
    when = datetime(2024, 6, 1, tzinfo=timezone.utc)
    at_kill = kill_mid_way("carecloud", "kill_carecloud", when, emulator)
    before = Counter(received_keys(emulator, "carecloud"))
    acked = acked_keys("kill_carecloud", "manual__" + when.isoformat())
    # every acknowledgement was on disk before the kill; at most the in-flight window was delivered unacked
    assert acked <= set(before)
    assert len(before) - WINDOW <= len(acked) <= len(before) < TOTAL

    dr = run_dag(build_dag("carecloud", "kill_carecloud"), logical_date=when, run_after=when)
    assert task_states(dr) == {"sync": "success"}
    report = xcom(dr, "sync")
    cc = emulator.emulator.vendor("carecloud")
    stored = Counter(received_keys(emulator, "carecloud"))
    unacked_delivered = set(before) - acked
    print(
        f"\nCareCloud SIGKILL at {at_kill} received: {len(acked)} acknowledged, {len(unacked_delivered)} "
        f"delivered-but-unacknowledged; retry sent {report['sent']}, {report['already_delivered']} of them "
        f"answered 'already delivered'; stored {len(stored)} of {TOTAL}, max copies {max(stored.values())}"
    )
    assert set(stored) == {str(i) for i in range(1, TOTAL + 1)}  # nothing lost
    assert max(stored.values()) == 1  # the vendor holds each event exactly once
    assert report["sent"] == TOTAL - len(acked)  # acknowledged events are not even sent again
    # one report for the task instance: the killed attempt's acknowledged events are in it
    assert report["accepted"] + report["already_delivered"] == report["rows_read"] == TOTAL
    assert report["duplicates_skipped"] == report["in_doubt"] == 0
    # the resends the vendor refused are exactly the delivered-but-unacknowledged ones
    assert report["already_delivered"] == len(unacked_delivered) == cc.snapshot()["counters"]["duplicates"]


def test_sigkill_then_retry_expertsender_duplicates_at_most_the_inflight_window(
    emulator, sqlite_warehouse
) -> None:  # type: ignore[no-untyped-def]
    warehouse_rows(sqlite_warehouse)
    when = datetime(2024, 6, 2, tzinfo=timezone.utc)
    at_kill = kill_mid_way("expertsender_cdp", "kill_ecdp", when, emulator)
    before = Counter(received_keys(emulator, "expertsender_cdp"))
    acked = acked_keys("kill_ecdp", "manual__" + when.isoformat())
    assert acked <= set(before)
    assert len(before) - WINDOW <= len(acked) <= len(before) < TOTAL

    dr = run_dag(build_dag("expertsender_cdp", "kill_ecdp"), logical_date=when, run_after=when)
    assert task_states(dr) == {"sync": "success"}
    report = xcom(dr, "sync")
    received = Counter(received_keys(emulator, "expertsender_cdp"))
    duplicated = {key for key, n in received.items() if n > 1}
    unacked_delivered = set(before) - acked
    print(
        f"\nExpertSender CDP SIGKILL at {at_kill} received: {len(acked)} acknowledged; retry sent "
        f"{report['sent']}; {len(duplicated)} duplicates (the delivered-but-unacknowledged window, "
        f"at most {WINDOW})"
    )
    assert set(received) == {str(i) for i in range(1, TOTAL + 1)}  # nothing lost
    assert max(received.values()) <= 2
    assert duplicated == unacked_delivered  # exactly the kill's window, nothing else
    assert len(duplicated) <= WINDOW
    # at-least-once (the DAG sets retry_ambiguous): the events in the air at the kill were resent, and every
    # duplicate is counted
    assert len(duplicated) <= report["possible_duplicates"] <= WINDOW
    assert report["sent"] == TOTAL - len(acked)
    assert report["accepted"] == report["rows_read"] == TOTAL
    assert report["in_doubt"] == 0
