"""Gainsight PX's read-back knobs driven from Params: rendered as text, converted when the task runs."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from airflow.sdk import DAG, Param
from dag_runner import run_dag, task_states, xcom
from helpers.gainsight_px import PX

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.operators.gainsight_px import GainsightPXSendCustomEventsOperator

pytestmark = pytest.mark.usefixtures("airflow_db", "tmp_state")

RECORDS = [
    {"id": i, "identifyId": f"u{i}", "eventName": "opened", "date": 1_767_225_600_000 + i} for i in range(3)
]


def make_dag(dag_id: str) -> DAG:
    params = {
        "verify": Param(True, type="boolean"),
        "dry": Param(False, type="boolean"),
        "verify_timeout": Param(0, type="number"),
        "verify_interval": Param(0.5, type="number"),
    }
    with DAG(
        dag_id, schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc), params=params
    ) as dag:
        GainsightPXSendCustomEventsOperator(
            task_id="send",
            records=RECORDS,
            mapping={"identifyId": "identifyId", "eventName": "eventName", "date": "date"},
            key_columns=["id"],
            verify_delivery="{{ params.verify }}",
            verify_timeout="{{ params.verify_timeout }}",
            verify_interval="{{ params.verify_interval }}",
            dry_run="{{ params.dry }}",
        )
    return dag


def test_verify_delivery_from_a_param(px: PX) -> None:
    dr = run_dag(make_dag("px_templated_verify"))
    assert task_states(dr) == {"send": "success"}
    result = xcom(dr, "send")
    assert result["accepted"] == 3
    assert result["verification"]["found"] == 3


def test_dry_run_from_a_param_skips_the_read_back(px: PX) -> None:
    """A rendered ``"False"``/``"True"`` is a flag, not a non-empty (truthy) string."""
    dr = run_dag(make_dag("px_templated_dry"), run_conf={"dry": True})
    assert task_states(dr) == {"send": "success"}
    result = xcom(dr, "send")
    assert result["dry_run"] is True
    assert "verification" not in result


def test_a_bad_interval_names_the_argument() -> None:
    op = GainsightPXSendCustomEventsOperator(task_id="t", records=RECORDS, verify_interval="{{ x }}")
    op.verify_interval = "0"  # as rendered
    with pytest.raises(ConfigurationError, match="verify_interval must be more than 0"):
        op._destination_options({})  # type: ignore[arg-type]
