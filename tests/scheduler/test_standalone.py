"""``acton_webinar_attendance`` under a real scheduler, triggerer and API server (``airflow standalone``).

The DAG: ``dags_examples/acton_webinar_attendance.py`` itself, parsed from the examples folder.

What it proves: the DAG, parsed by a real DAG processor, triggered through the REST API, runs on
the LocalExecutor; the deferrable ``ActOnCustomEventJobSensor`` really defers, its trigger runs in the
*triggerer* process (which writes the trigger's own log file and fires the event), the task resumes in a
worker and the run succeeds with every valid warehouse row of the data interval appended in Act-On.

Set-up: the vendor emulator in its own process on a free loopback port (its Act-On jobs held pending and
running for long enough that the sensor's first poke cannot find them finished, so it must defer); a
SQLite sample warehouse with one day of events; ``airflow standalone`` in a private ``AIRFLOW_HOME`` under
pytest's tmp dir, its API server bound to ``127.0.0.1`` on a free port, connections passed as
``AIRFLOW_CONN_*`` environment variables. ``[scheduler] use_job_schedule`` is off, so only the run the test
triggers exists (the DAG's ``@daily`` timetable would otherwise add a run of its own).

Network: the API server and the emulator listen on loopback only. Airflow hard-codes ``0.0.0.0`` as the
listen address of its two log servers (worker and triggerer, given free ports here); that is only a listen
socket: no traffic leaves the loopback interface.

Teardown: ``airflow standalone`` runs in its own session; its process group is terminated (then killed),
and any process still carrying this test's ``AIRFLOW_HOME`` in its environment is killed by pid; the
teardown fails if one survives. The emulator process is terminated by its context manager.

Timing on this project's 2-core machine: 20-200 s until the API server is healthy (the slow end when
other test suites load the machine), ~10 s until the DAG is parsed, then ~30 s for the run (Act-On jobs are
held 25 s). Whole test: ~1.5 min on an idle machine, 2.5-4 min under load. The example's sensor polls
every 30 s, which adds ~15 s when the test points at it.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from airflow_provider_events.testing.emulator.server import EmulatorProcess, EmulatorServer
from airflow_provider_events.testing.warehouse import (
    TS_FORMAT,
    WarehouseSpec,
    build_warehouse,
    warehouse_connection,
)
from tests.scheduler.standalone import AirflowStandalone

# the timeout covers the health wait (240 s) + parse (90 s) + run (240 s) limits, which fail first with logs
pytestmark = [pytest.mark.scheduler, pytest.mark.slow, pytest.mark.timeout(620)]

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "dags_examples"
DAG_ID = "acton_webinar_attendance"
WAREHOUSE_CONN_ID = "events_warehouse"
SENSOR_OPERATOR = "ActOnCustomEventJobSensor"
#: the warehouse's one day of events: yesterday (UTC). A manual run at its end gets exactly that @daily
#: interval. It must not precede the DAG's start_date: Airflow creates no task instance for tasks whose
#: start_date is after the run's logical date, and such a run "succeeds" at once with nothing done.
WINDOW_END = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
WINDOW_START = WINDOW_END - timedelta(days=1)
#: Act-On jobs stay pending then running this long: the sensor starts a second or two after the upload,
#: so its first poke finds the job unfinished and it must defer. Below the example's 30 s poke interval,
#: so the trigger's second poll sees the job done and the delay costs nothing extra.
JOB_PENDING_S, JOB_RUNNING_S = 15.0, 10.0
RUN_TIMEOUT = 240.0
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class Stack:
    airflow: AirflowStandalone
    emulator: EmulatorProcess
    warehouse: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Emulator process + sample warehouse + ``airflow standalone``; everything stopped afterwards."""
    tmp = tmp_path_factory.mktemp("standalone")
    warehouse = build_warehouse(tmp / "warehouse.sqlite", WINDOW_START, WarehouseSpec(seed=11))
    with EmulatorProcess() as emulator:
        emulator.admin(
            "POST", "acton/seed", {"job_delays": {"pending": JOB_PENDING_S, "running": JOB_RUNNING_S}}
        )
        env = EmulatorServer(emulator.port).connection_env()  # same default credentials, emulator's port
        env[f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}"] = json.dumps(warehouse_connection(warehouse))
        env["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "False"
        airflow = AirflowStandalone(tmp / "airflow-home", DAGS_FOLDER, env)
        try:
            airflow.start()
            airflow.wait_healthy()
            # the example's Act-On tasks share one pool slot per account (docs/tokens-and-pacing.md)
            airflow.request("POST", "pools", {"name": "acton_default", "slots": 1})
            yield Stack(airflow, emulator, warehouse)
        finally:
            left = airflow.stop()
            assert not left, f"airflow processes left running: {left}"


def run_path(run_id: str) -> str:
    """The REST path of a DAG run (run ids hold ``:`` and ``+``)."""
    return f"dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}"


def wait_for_dag(airflow: AirflowStandalone, timeout: float = 90.0) -> dict[str, Any]:
    """The DAG as the API knows it, once the DAG processor has parsed and serialized it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return dict(airflow.get(f"dags/{DAG_ID}"))
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise
        time.sleep(1)
    errors = airflow.get("importErrors")
    raise AssertionError(
        f"{DAG_ID} not parsed in {timeout:.0f} s; import errors: {errors}\n{airflow.log_tail()}"
    )


def follow_run(airflow: AirflowStandalone, run_id: str) -> tuple[str, list[dict[str, str]]]:
    """Poll the run until it ends; returns its final state and every change of task states seen."""
    seen: list[dict[str, str]] = []
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        run = airflow.get(f"{run_path(run_id)}")
        tis = airflow.get(f"{run_path(run_id)}/taskInstances")["task_instances"]
        states = {ti["task_id"]: str(ti["state"]) for ti in tis}
        if not seen or seen[-1] != states:
            seen.append(states)
        # the example retries after 5 minutes: a failed try is reported now, not after the retry
        if run["state"] in ("success", "failed") or "up_for_retry" in states.values():
            return str(run["state"]), seen
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} not finished in {RUN_TIMEOUT:.0f} s; states: {seen[-3:]}")


def task_log_entries(airflow: AirflowStandalone, run_id: str, task_id: str) -> list[str]:
    """The task's log as the REST API serves it (worker attempts and the triggerer's trigger log)."""
    body = airflow.get(f"{run_path(run_id)}/taskInstances/{task_id}/logs/1?full_content=true")
    content = body.get("content") or []
    return [e.get("event", "") if isinstance(e, dict) else str(e) for e in content]


def valid_rows_in_window(warehouse: Path) -> int:
    """Rows of the data interval with a plausible e-mail and a title (what Act-On should append)."""
    start, end = WINDOW_START.strftime(TS_FORMAT), WINDOW_END.strftime(TS_FORMAT)
    with sqlite3.connect(warehouse) as con:
        rows = con.execute(
            "SELECT email, webinar_title FROM webinar_attendance WHERE attended_at >= ? AND attended_at < ?",
            (start, end),
        ).fetchall()
    return sum(1 for email, title in rows if email and EMAIL.match(email.strip()) and (title or "").strip())


def test_example_dag_defers_to_the_triggerer_and_succeeds(stack: Stack) -> None:
    airflow = stack.airflow
    dag = wait_for_dag(airflow)
    assert dag["is_paused"] is False
    details = airflow.get(f"dags/{DAG_ID}/details")
    start_date = datetime.fromisoformat(details["start_date"].replace("Z", "+00:00"))
    assert start_date <= WINDOW_START, f"the example's start_date {start_date} is after the test window"

    run = airflow.request(
        "POST", f"dags/{DAG_ID}/dagRuns", {"logical_date": WINDOW_END.strftime("%Y-%m-%dT%H:%M:%SZ")}
    )
    run_id = run["dag_run_id"]
    # the DAG's own @daily timetable turns that logical date into the warehouse's one-day window
    assert run["data_interval_start"].startswith(WINDOW_START.strftime(TS_FORMAT))
    assert run["data_interval_end"].startswith(WINDOW_END.strftime(TS_FORMAT))

    state, seen = follow_run(airflow, run_id)
    assert state == "success", f"run {state}; task states seen: {seen}\n{airflow.log_tail()}"

    tis = airflow.get(f"{run_path(run_id)}/taskInstances")["task_instances"]
    assert len(tis) >= 2, f"the run has task instances {tis}"
    assert {ti["state"] for ti in tis} == {"success"}
    sensor = next(ti for ti in tis if ti["operator"] == SENSOR_OPERATOR)
    sensor_id = sensor["task_id"]

    # 1. the scheduler saw the sensor in the DEFERRED state (it handed its wait to the triggerer) ...
    assert any(states.get(sensor_id) == "deferred" for states in seen), seen
    # ... and it was still its first try: deferring and resuming is not a retry
    assert sensor["try_number"] == 1

    # 2. the trigger ran in the triggerer process: it wrote the trigger log file of this task instance
    #    (only the triggerer writes "<attempt>.log.trigger.<triggerer job id>.log") and fired the event
    log_dir = airflow.home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={sensor_id}"
    trigger_logs = sorted(log_dir.glob("attempt=1.log.trigger.*.log"))
    assert trigger_logs, f"no triggerer log in {log_dir}: {sorted(p.name for p in log_dir.iterdir())}"
    trigger_events = [json.loads(line) for p in trigger_logs for line in p.read_text().splitlines() if line]
    fired = [e for e in trigger_events if e.get("event") == "Trigger fired event"]
    assert len(fired) == 1, trigger_events
    assert "'status': 'success'" in fired[0]["result"]

    # 3. the worker's attempt log, read through the REST API, shows the deferral and the resumption
    entries = task_log_entries(airflow, run_id, sensor_id)
    assert any("Pausing task as DEFERRED" in e for e in entries), entries[-20:]
    assert any("Act-On jobs still pending or running" in e for e in entries)

    # 4. what Act-On received: one job, every valid row of the window appended, none of another day
    acton = stack.emulator.admin("GET", "acton/state")
    expected = valid_rows_in_window(stack.warehouse)
    assert expected > 1000
    assert [job["state"] for job in acton["jobs"]] == ["done"]
    assert len(acton["events"]) == expected
    assert {e["action"] for e in acton["events"]} == {"CUSTOM_ATTENDED"}
    assert {e["date_text"] for e in acton["events"]} == {WINDOW_START.strftime("%Y-%m-%d")}
    sensor_result = airflow.get(f"{run_path(run_id)}/taskInstances/{sensor_id}/xcomEntries/return_value")[
        "value"
    ]
    assert sensor_result["appended"] == expected
    assert sensor_result["job_ids"] == [acton["jobs"][0]["job_id"]]
    # the sensor's one poke plus the trigger's polls (at least one more, when the job was done)
    assert acton["counters"]["status_polls"] >= 2
