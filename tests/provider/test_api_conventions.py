"""The public API's naming convention.

``<vendor>_conn_id`` names the vendor, ``conn_id`` the SQL source, ``destination_conn_id`` the vendor of the
generic sync operator; the old names warn, still work, and clash with the new ones.
"""

from __future__ import annotations

import inspect
import warnings
from datetime import datetime
from typing import Any

import pytest
from airflow.exceptions import AirflowProviderDeprecationWarning

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.operators.acton import (
    ActOnSendCustomEventOperator,
    ActOnUploadCustomEventsOperator,
)
from airflow_provider_events.operators.carecloud import (
    CareCloudCreateEventsOperator,
    CareCloudListEventsOperator,
)
from airflow_provider_events.operators.expertsender_cdp import (
    ExpertSenderCdpScenarioEventsOperator,
    ExpertSenderCdpSegmentScenarioOperator,
)
from airflow_provider_events.operators.gainsight_px import GainsightPXSendCustomEventsOperator
from airflow_provider_events.operators.sync import SqlToEventsOperator
from airflow_provider_events.sensors.acton import ActOnCustomEventJobSensor
from airflow_provider_events.triggers.acton import ActOnCustomEventJobTrigger

RECORDS: list[dict[str, Any]] = [{"id": 1}]

#: (class, deprecated name, new name, other required arguments)
RENAMES: list[tuple[type, str, str, dict[str, Any]]] = [
    (CareCloudListEventsOperator, "conn_id", "carecloud_conn_id", {"output_path": "/tmp/x.jsonl"}),
    (
        CareCloudCreateEventsOperator,
        "destination_conn_id",
        "carecloud_conn_id",
        {"records": RECORDS, "event_type_id": "1"},
    ),
    (
        ExpertSenderCdpScenarioEventsOperator,
        "destination_conn_id",
        "expertsender_cdp_conn_id",
        {"records": RECORDS, "custom_event_id": 1, "identifier": "email"},
    ),
    (
        ExpertSenderCdpSegmentScenarioOperator,
        "conn_id",
        "expertsender_cdp_conn_id",
        {"custom_event_id": 1, "segments": [1]},
    ),
    (
        GainsightPXSendCustomEventsOperator,
        "destination_conn_id",
        "gainsight_px_conn_id",
        {"records": RECORDS},
    ),
]

VENDOR_CONN_ID = {
    ActOnUploadCustomEventsOperator: "acton_conn_id",
    ActOnSendCustomEventOperator: "acton_conn_id",
    ActOnCustomEventJobSensor: "acton_conn_id",
    ActOnCustomEventJobTrigger: "acton_conn_id",
    CareCloudListEventsOperator: "carecloud_conn_id",
    CareCloudCreateEventsOperator: "carecloud_conn_id",
    ExpertSenderCdpScenarioEventsOperator: "expertsender_cdp_conn_id",
    ExpertSenderCdpSegmentScenarioOperator: "expertsender_cdp_conn_id",
    GainsightPXSendCustomEventsOperator: "gainsight_px_conn_id",
}


@pytest.mark.parametrize(("cls", "name"), VENDOR_CONN_ID.items(), ids=lambda v: getattr(v, "__name__", v))
def test_vendor_classes_take_vendor_conn_id(cls: type, name: str) -> None:
    params = inspect.signature(cls).parameters
    assert name in params
    assert "destination_conn_id" not in params
    sql_sources = (ActOnUploadCustomEventsOperator,)
    assert ("conn_id" in params) == (cls in sql_sources), "conn_id means the SQL source only"


def test_generic_operator_keeps_common_sql_names() -> None:
    params = inspect.signature(SqlToEventsOperator).parameters
    assert {"conn_id", "destination_conn_id", "hook_params"} <= set(params)


@pytest.mark.parametrize(("cls", "old", "new", "required"), RENAMES, ids=lambda v: getattr(v, "__name__", v))
def test_old_name_warns_and_still_works(cls: type, old: str, new: str, required: dict[str, Any]) -> None:
    with pytest.warns(AirflowProviderDeprecationWarning, match=f"'{old}' is deprecated, use '{new}'"):
        op = cls(task_id="t", **{old: "my_vendor_conn"}, **required)
    assert getattr(op, new) == "my_vendor_conn"
    if issubclass(cls, SqlToEventsOperator):
        assert op.destination_conn_id == "my_vendor_conn"  # where the delivery engine reads it


@pytest.mark.parametrize(("cls", "old", "new", "required"), RENAMES, ids=lambda v: getattr(v, "__name__", v))
def test_old_and_new_name_together_raise(cls: type, old: str, new: str, required: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match=f"give {new} only"):
        cls(task_id="t", **{old: "a", new: "b"}, **required)


@pytest.mark.parametrize(("cls", "old", "new", "required"), RENAMES, ids=lambda v: getattr(v, "__name__", v))
def test_new_name_does_not_warn(cls: type, old: str, new: str, required: dict[str, Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", AirflowProviderDeprecationWarning)
        op = cls(task_id="t", **{new: "mine"}, **required)
    assert getattr(op, new) == "mine"
    assert new in cls.template_fields


def test_trigger_serialised_by_an_earlier_version_still_loads() -> None:
    with pytest.warns(AirflowProviderDeprecationWarning, match="acton_conn_id"):
        trigger = ActOnCustomEventJobTrigger(
            job_ids=["1"], conn_id="old_conn", poll_interval=1.0, deadline=None
        )
    assert trigger.serialize()[1]["acton_conn_id"] == "old_conn"
    with pytest.raises(TypeError, match="unexpected"):
        ActOnCustomEventJobTrigger(job_ids=["1"], acton_conn_id="a", bogus=1)


def test_sql_to_events_does_not_take_the_vendor_names_of_a_vendor_operator() -> None:
    with pytest.raises(TypeError):
        SqlToEventsOperator(task_id="t", records=RECORDS, gainsight_px_conn_id="x")  # type: ignore[call-arg]


@pytest.mark.usefixtures("airflow_db", "tmp_state")
def test_templated_vendor_conn_id_reaches_the_engine(emulator: Any) -> None:
    from airflow.sdk import DAG

    from tests.dag_runner import run_dag, task_states, xcom

    with DAG(
        "conn_id_templated",
        schedule=None,
        start_date=datetime(2024, 1, 1),
        params={"px": "gainsight_px_default"},
    ) as dag:
        GainsightPXSendCustomEventsOperator(
            task_id="send",
            gainsight_px_conn_id="{{ params.px }}",
            records=[{"identifyId": "u1", "eventName": "e", "date": 1_704_067_200_000}],
            key_columns=["identifyId"],
        )
    dr = run_dag(dag)
    assert task_states(dr) == {"send": "success"}
    assert xcom(dr, "send")["accepted"] == 1
    assert len(emulator.emulator.vendor("gainsight_px").snapshot()["received"]) == 1


def test_carecloud_form_leaves_the_optional_accept_language_empty() -> None:
    """The docs call ``accept_language`` optional: the UI form must not pre-fill a language."""
    from airflow_provider_events.get_provider_info import get_provider_info

    [form] = [c for c in get_provider_info()["connection-types"] if c["connection-type"] == "carecloud"]
    schema = form["conn-fields"]["accept_language"]["schema"]
    assert "default" not in schema
    assert "null" in schema["type"]
