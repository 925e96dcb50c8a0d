"""The Act-On job sensor in real DAG runs (``dag.test()`` through ``run_dag``) against the emulator: poke,
reschedule and deferrable modes, failed and expired jobs, thresholds, and a day without a job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dag_runner import run_dag, task_states, xcom
from helpers.acton import ROWS, make_dag, write_csv

from airflow_provider_events.sensors.acton import ActOnCustomEventJobSensor


def test_sensor_poke_and_reschedule_modes_and_failed_job(airflow_db: Any, acton: Any, tmp_path: Path) -> None:
    from airflow_provider_events.hooks.acton import ActOnHook

    hook = ActOnHook()
    path = write_csv(tmp_path / "e.csv", ROWS)
    kwargs: dict[str, Any] = {
        "destination": "Sensor",
        "customeventaction": "CUSTOM_GENERAL",
        "email_col": 0,
        "date_col": 1,
        "title_col": 2,
        "dateformat": "MM/dd/yyyy",
    }
    ok = hook.upload_custom_events(path, **kwargs)
    acton.seed({"fail_next_job": "Listing is archived"})
    bad = hook.upload_custom_events(path, **kwargs)
    with make_dag("acton_sensor_modes") as dag:
        ActOnCustomEventJobSensor(task_id="poke", job_id=ok, poke_interval=0.1, timeout=30)
        ActOnCustomEventJobSensor(
            task_id="resched", job_id=ok, mode="reschedule", poke_interval=0.1, timeout=30
        )
        ActOnCustomEventJobSensor(task_id="failed", job_id=bad, poke_interval=0.1, timeout=30)
        ActOnCustomEventJobSensor(task_id="expired", job_id="1", poke_interval=0.1, timeout=30)
        ActOnCustomEventJobSensor(task_id="strict", job_id=ok, max_rejected_ratio=0.0, poke_interval=0.1)
    dr = run_dag(dag)
    states = task_states(dr)
    assert states == {
        "poke": "success",
        "resched": "success",
        "failed": "failed",
        "expired": "failed",
        "strict": "success",
    }
    assert xcom(dr, "poke") == {"job_ids": [ok], "appended": 3, "rejected": 0}
    # deferrable mode checks once first: a finished job costs one status call and no deferral
    polls = acton.snapshot()["counters"]["status_polls"]
    with make_dag("acton_sensor_done") as dag2:
        ActOnCustomEventJobSensor(task_id="done", job_id=ok, deferrable=True, poke_interval=5, timeout=30)
    dr2 = run_dag(dag2)
    assert task_states(dr2) == {"done": "success"}
    assert acton.snapshot()["counters"]["status_polls"] - polls == 1


def test_sensor_with_no_job_settles_at_once(acton: Any, airflow_db: Any) -> None:
    """A day with no valid rows submits no job: the sensor (any mode) succeeds with zero counts."""
    dag = make_dag("acton_sensor_no_job")
    with dag:
        ActOnCustomEventJobSensor(
            task_id="rendered_empty", job_id="{{ [] }}", deferrable=True, poke_interval=1
        )
        ActOnCustomEventJobSensor(task_id="empty_list", job_id=[], poke_interval=1)
    run = run_dag(dag)
    assert task_states(run) == {"rendered_empty": "success", "empty_list": "success"}
    assert xcom(run, "rendered_empty") == {"job_ids": [], "appended": 0, "rejected": 0}
    assert acton.snapshot()["counters"]["status_polls"] == 0
