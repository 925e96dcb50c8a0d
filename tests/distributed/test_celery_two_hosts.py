"""Act-On tokens and delivery across two Celery workers that share nothing but Airflow (issue 14).

A real CeleryExecutor deployment on loopback: Redis, the scheduler, the DAG processor and the API server
(execution API), and two Celery workers with their own token and state directories, as two hosts. The
sync task's process is SIGKILLed on worker 1 while it waits for its Act-On job; worker 1 is then stopped
(the host is gone) and the retry runs on worker 2. The Act-On token lives in an Airflow Variable (the
``auto`` token store picks it on Celery), written and read by the tasks through the execution API.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.distributed.cluster import CeleryCluster, redis_server_binary

HERE = Path(__file__).resolve().parent
ROWS = 40
DAG_ID = "celery_acton_sync"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.scheduler,
    pytest.mark.skipif(
        redis_server_binary() is None, reason="redis-server is not installed (.ci/run installs it)"
    ),
]


def _warehouse(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, email TEXT, happened_at TEXT, title TEXT)")
        db.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?)",
            [
                (i, f"user{i}@example.com", f"2026-01-{1 + i % 28:02d}", f"Title {i % 3}")
                for i in range(1, ROWS + 1)
            ],
        )


def _wait(what: str, condition: Any, cluster: CeleryCluster, timeout: float = 180.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cluster.check_alive()
        try:
            value = condition()
        except (OSError, urllib.error.URLError, ValueError, KeyError):
            value = None
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}\n{cluster.logs()}")


@pytest.fixture(scope="module")
def outcome(emulator_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Run the scenario once; the tests below assert on what happened."""
    emulator_server.emulator.reset()
    acton = emulator_server.emulator.vendor("acton")
    acton.seed({"job_delays": {"pending": 4, "running": 1}})
    root = tmp_path_factory.mktemp("celery")
    dags, pids = root / "dags", root / "pids"
    dags.mkdir()
    pids.mkdir()
    shutil.copy(HERE / "celery_sync_dag.py", dags / "celery_sync_dag.py")
    _warehouse(root / "warehouse.db")
    env = {
        "AIRFLOW_CONN_ACTON_DEFAULT": json.dumps(emulator_server.connection("acton")),
        "AIRFLOW_CONN_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(root / "warehouse.db")}),
        "PE_TEST_PID_DIR": str(pids),
        "PYTHONPATH": os.pathsep.join([str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")]),
    }
    cluster = CeleryCluster(root / "home", dags, env)
    started = time.monotonic()
    try:
        cluster.start()
        worker1 = cluster.start_worker("worker1", root / "host1")
        _wait("the DAG to be parsed", lambda: cluster.api.get(f"dags/{DAG_ID}"), cluster)
        run = cluster.api.request("POST", f"dags/{DAG_ID}/dagRuns", {"logical_date": None})
        run_id = run["dag_run_id"]
        ti_path = f"dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/sync"

        # try 1 on worker 1: killed once its Act-On job is submitted and it is waiting for it
        first = _wait("try 1 to start", lambda: sorted(pids.glob("1-*")), cluster)
        _wait("the first Act-On job", lambda: acton.snapshot()["jobs"], cluster)
        os.kill(int(first[0].name.split("-")[1]), signal.SIGKILL)
        _wait("up_for_retry", lambda: cluster.api.get(ti_path)["state"] == "up_for_retry", cluster)
        worker1.stop()  # the first host is gone; the retry can only run on the second
        cluster.start_worker("worker2", root / "host2")
        _wait("try 2 to start", lambda: sorted(pids.glob("2-*")), cluster)
        worker1_gone = not worker1.alive()
        final = _wait(
            "the run to finish",
            lambda: (
                (state := cluster.api.get(f"dags/{DAG_ID}/dagRuns/{run_id}")["state"])
                in ("success", "failed")
                and state
            ),
            cluster,
            timeout=240,
        )
        snapshot = acton.snapshot()
        yield {
            "run_state": final,
            "ti": cluster.api.get(ti_path),
            "logins": snapshot["logins"],
            "counters": snapshot["counters"],
            "events": snapshot["events"],
            "jobs": snapshot["jobs"],
            "worker1_gone_when_try2_started": worker1_gone,
            "host_token_files": [p.name for p in root.glob("host*/tokens/*.json")],
            "seconds": time.monotonic() - started,
            "logs": cluster.logs(),
        }
    finally:
        left = cluster.stop()
        assert not left, f"processes left behind: {left}"


def test_the_retry_ran_on_the_second_host_and_succeeded(outcome: dict[str, Any]) -> None:
    print(f"\nscenario took {outcome['seconds']:.0f} s; Act-On counters {outcome['counters']}")
    assert outcome["run_state"] == "success", outcome["logs"]
    assert outcome["ti"]["try_number"] == 2
    assert outcome["worker1_gone_when_try2_started"]  # so try 2 ran on worker 2


def test_act_on_logged_in_once_across_both_workers(outcome: dict[str, Any]) -> None:
    (logins,) = outcome["logins"].values()
    assert logins["password_grants"] == 1
    assert outcome["counters"]["password_grants"] == 1
    assert outcome["host_token_files"] == []  # the token lived in a Variable, not on either host's disk


def test_every_event_is_held_exactly_once(outcome: dict[str, Any]) -> None:
    emails = [event["email"] for event in outcome["events"]]
    assert sorted(emails) == sorted(f"user{i}@example.com" for i in range(1, ROWS + 1))
