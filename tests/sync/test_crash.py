"""Exactly once across a hard crash: a sync killed with os._exit after N deliveries, then retried."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest
from helpers.sync import px_received

from airflow_provider_events.hooks.gainsight_px import event_id_for_key
from airflow_provider_events.sync.checkpoint import CheckpointIdentity, open_checkpoint
from airflow_provider_events.sync.digests import key_digest
from airflow_provider_events.sync.rejects import state_root
from tests.dag_runner import run_dag, task_states, xcom

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
    # a local checkpoint_path: re-running the DAG with dag.test() replaces the DAG run, and with it the task
    # state store a real retry would keep (tests/reliability/test_task_state.py covers that store)
    checkpoint = open_checkpoint(CheckpointIdentity("sync_crash", run_id, "sync"), str(state_root()))
    acked = {i for i in range(1, total + 1) if checkpoint.is_done(key_digest(str(i)))}
    in_air = {i for i in range(1, total + 1) if key_digest(str(i)) in checkpoint.in_doubt}
    # every acknowledgement was durable before the kill; the events written ahead and not yet acknowledged
    # cover every event delivered without an acknowledgement (settled ones are written with the next
    # write-ahead, so they may still show as in the air)
    assert acked <= {int(e["identifyId"][5:]) for e in first}
    assert {int(e["identifyId"][5:]) for e in first} <= acked | in_air
    assert not acked & in_air
    checkpoint.close()

    dr = run_dag(build_dag("sync_crash"), logical_date=when, run_after=when)
    assert dr.run_id == run_id
    assert task_states(dr) == {"sync": "success"}
    report = xcom(dr, "sync")
    # the report covers the task instance: every row in one bucket, the killed attempt's included
    assert report["accepted"] == report["rows_read"] == total
    assert report["duplicates_skipped"] == 0
    assert report["in_doubt"] == 0 == report["possible_duplicates"]
    # the events in the air were read back: the delivered ones acknowledged, the others sent once
    assert report["resolved_by_lookup"] == len(in_air)
    assert report["sent"] == total - len(acked) - len(set(in_air) & {int(e["identifyId"][5:]) for e in first})

    received = Counter(e["eventId"] for e in px_received(emulator))
    expected = {event_id_for_key(str(i)) for i in range(1, total + 1)}
    assert set(received) == expected  # nothing lost
    resent = {event_id for event_id, n in received.items() if n > 1}
    # exactly once: the events the kill caught between the vendor's answer and the checkpoint were found by
    # read-back, not resent
    assert resent == set()
    print(
        f"\ncrash after {crash_after}: {len(acked)} acknowledged, {len(in_air)} in the air read back, "
        f"retry sent {report['sent']}"
    )
