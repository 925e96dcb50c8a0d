"""Exactly once across a hard crash: a sync killed with os._exit after N deliveries, then retried."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

from airflow_provider_events.hooks.gainsight_px import event_id_for_key
from airflow_provider_events.sync.checkpoint import CheckpointIdentity, open_checkpoint
from airflow_provider_events.sync.digests import key_digest
from tests.dag_runner import run_dag, task_states, xcom

from .conftest import px_received
from .crash_job import build_dag

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.usefixtures("airflow_db", "tmp_state")
def test_retry_after_a_hard_kill_sends_each_remaining_event_exactly_once(emulator, warehouse) -> None:  # type: ignore[no-untyped-def]
    total, crash_after = 50, 20
    warehouse(total)
    when = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("crash_job.py")),
            "sync_crash",
            when.isoformat(),
            str(crash_after),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 137, proc.stderr[-3000:]

    first = px_received(emulator)
    assert len(first) == crash_after  # the vendor took exactly N events before the kill
    run_id = "manual__" + when.isoformat()
    checkpoint = open_checkpoint(CheckpointIdentity("sync_crash", run_id, "sync"))
    acked = {i for i in range(1, total + 1) if checkpoint.is_done(key_digest(str(i)))}
    checkpoint.close()
    # every acknowledgement reached the disk before the kill; at most the in-flight window (2 events with
    # max_concurrency=1) was delivered without being acknowledged yet
    assert acked <= {int(e["identifyId"][5:]) for e in first}
    assert crash_after - 2 <= len(acked) <= crash_after

    dr = run_dag(build_dag("sync_crash"), logical_date=when, run_after=when)
    assert dr.run_id == run_id
    assert task_states(dr) == {"sync": "success"}
    report = xcom(dr, "sync")
    assert report["duplicates_skipped"] == len(acked)
    assert report["sent"] == report["accepted"] == total - len(acked)

    received = Counter(e["eventId"] for e in px_received(emulator))
    expected = {event_id_for_key(str(i)) for i in range(1, total + 1)}
    assert set(received) == expected  # nothing lost
    resent = {event_id for event_id, n in received.items() if n > 1}
    delivered_unacked = {event_id_for_key(str(i)) for i in range(1, crash_after + 1)} - {
        event_id_for_key(str(i)) for i in acked
    }
    # the retry sent every unacknowledged event exactly once and no acknowledged one again: the only events
    # received twice are those the kill caught between the vendor's answer and the checkpoint write
    assert resent == delivered_unacked
    assert all(n <= 2 for n in received.values())
    print(
        f"\ncrash after {crash_after}: {len(acked)} acknowledged, retry sent {report['sent']}, "
        f"{len(resent)} delivered-but-unacknowledged resent"
    )
