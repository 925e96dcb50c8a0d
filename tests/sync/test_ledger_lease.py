"""The ledger's lease: runs of one task slot to one destination wait for each other, then skip what the
first delivered; other slots run in parallel; a lease left by a killed attempt does not block its retry."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from airflow_provider_events.sync.digests import key_digest
from airflow_provider_events.sync.ledger import LedgerOptions, destination_dir_name, open_ledger
from airflow_provider_events.sync.ledger_lease import DestinationLease

DEST = "expertsender_cdp:expertsender_cdp_default:custom_event=101"
KEYS = [key_digest(f"order-{i}") for i in range(40)]


def ledger(root: Path, slot: str = "dag.task.-1", holder: str = "dag/run-1/task/-1") -> Any:
    opened = open_ledger(DEST, LedgerOptions(path=str(root)), slot=slot, holder=holder)
    assert opened is not None
    return opened


def test_a_second_run_of_the_same_slot_waits_then_skips_what_the_first_delivered(tmp_path: Path) -> None:
    first = ledger(tmp_path, holder="dag/scheduled/task/-1")
    first.load()  # holds the lease
    outcome: dict[str, Any] = {}

    def second_run() -> None:
        second = ledger(tmp_path, holder="dag/manual/task/-1")
        second.lease.poll = 0.05
        outcome["skipped"] = sum(second.delivered_earlier(d) for d in KEYS)
        second.close()

    waiter = threading.Thread(target=second_run)
    waiter.start()
    waiter.join(timeout=0.5)
    assert waiter.is_alive()  # still waiting: the first run has not finished
    assert "skipped" not in outcome
    for d in KEYS:
        first.record(d)
    first.close()
    waiter.join(timeout=120)
    assert not waiter.is_alive()
    assert outcome["skipped"] == len(KEYS)


def test_other_slots_are_not_blocked(tmp_path: Path) -> None:
    slice0 = ledger(tmp_path, slot="dag.usage.0", holder="dag/run/usage/0")
    slice0.load()
    slice1 = ledger(tmp_path, slot="dag.usage.1", holder="dag/run/usage/1")
    assert slice1.lease.try_acquire()
    slice1.lease.release()
    slice0.close()


def test_a_retry_takes_over_the_lease_its_killed_attempt_left(tmp_path: Path) -> None:
    leases = tmp_path / destination_dir_name(DEST) / "leases"
    leases.mkdir(parents=True)
    stale = {"token": "dead", "holder": "dag/run-1/task/-1", "expires": time.time() + 3600}
    (leases / "dag.task.-1.json").write_text(json.dumps(stale))
    retry = ledger(tmp_path, holder="dag/run-1/task/-1")
    assert retry.lease.try_acquire()  # same task instance: at once, not after the TTL
    retry.close()
    assert not (leases / "dag.task.-1.json").exists()


def test_an_expired_lease_of_another_run_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "lease.json"
    path.write_text(json.dumps({"token": "x", "holder": "other", "expires": time.time() - 1}))
    lease = DestinationLease(path, "me")
    assert lease.try_acquire()
    assert json.loads(path.read_text())["holder"] == "me"
    held = DestinationLease(path, "someone else")
    assert not held.try_acquire()
    lease.release()
    assert held.try_acquire()
    held.release()


def test_the_lease_is_renewed_while_held(tmp_path: Path) -> None:
    path = tmp_path / "lease.json"
    lease = DestinationLease(path, "me", ttl=0.6)
    assert lease.try_acquire()
    first = json.loads(path.read_text())["expires"]
    deadline = time.monotonic() + 60
    while json.loads(path.read_text())["expires"] == first and time.monotonic() < deadline:
        time.sleep(0.05)
    assert json.loads(path.read_text())["expires"] > first
    lease.release()
    assert not path.exists()
