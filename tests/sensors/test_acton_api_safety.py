"""The Act-On job sensor's API safety: a finite wait by default in every mode."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred
from helpers.acton import SEVEN_DAYS, write_one_event_csv

from airflow_provider_events.sensors.acton import ActOnCustomEventJobSensor


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_sensor_has_a_finite_timeout_in_poke_and_reschedule_modes(mode: str) -> None:
    assert ActOnCustomEventJobSensor(task_id="s", job_id="1", mode=mode).timeout == SEVEN_DAYS


def test_deferrable_sensor_defers_with_a_finite_deadline(acton: Any, tmp_path: Path) -> None:
    from airflow_provider_events.hooks.acton import ActOnHook

    acton.seed({"next_job_delays": {"pending": 600, "running": 0.1}})
    job = ActOnHook().upload_custom_events(
        write_one_event_csv(tmp_path / "e.csv"),
        destination="Sensor",
        customeventaction="CUSTOM_GENERAL",
        email_col=0,
        date_col=1,
        title_col=2,
        dateformat="MM/dd/yyyy",
    )
    sensor = ActOnCustomEventJobSensor(task_id="s", job_id=job, deferrable=True)
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})  # type: ignore[arg-type]
    deadline = deferred.value.trigger.deadline
    assert deadline is not None
    assert before + SEVEN_DAYS <= deadline <= time.time() + SEVEN_DAYS
