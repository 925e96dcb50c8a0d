"""The sync operator's knobs driven from DAG Params (rendered as text, converted when the task runs), its
``hook_params`` reaching the SQL hook, and the one threshold rule, through ``dag.test()`` against SQLite and
the Gainsight PX emulator."""

from __future__ import annotations

from datetime import datetime

import pytest
from airflow.sdk import DAG, Param
from helpers.sync import PX_MAPPING, px_received

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.operators.sync import SqlToEventsOperator
from airflow_provider_events.sync.source import SqlSource
from tests.dag_runner import run_dag, task_states, xcom

pytestmark = pytest.mark.usefixtures("airflow_db", "tmp_state")

SQL = "SELECT * FROM events ORDER BY id"

#: every knob a user would drive from a Param, as a template (each renders as text)
TEMPLATED = {
    "max_concurrency": "{{ params.concurrency }}",
    "max_requests_per_second": "{{ params.rps }}",
    "max_rejected": "{{ params.max_rejected }}",
    "max_rejected_ratio": "{{ params.max_rejected_ratio }}",
    "dry_run": "{{ params.dry }}",
    "retry_ambiguous": "{{ params.retry }}",
    "key_columns": "{{ params.key_cols }}",
    "chunk_size": "{{ params.chunk }}",
    "max_consecutive_failures": "{{ params.max_failures }}",
    "hook_params": {"log_sql": "{{ params.log_sql }}"},
}

PARAMS = {
    "concurrency": Param(2, type="integer"),
    "rps": Param(0, type="number"),
    "max_rejected": Param(1, type="integer"),
    "max_rejected_ratio": Param(None, type=["null", "number"]),
    "dry": Param(False, type="boolean"),
    "retry": Param(False, type="boolean"),
    "key_cols": Param(["id"], type="array"),
    "chunk": Param(3, type="integer"),
    "max_failures": Param(5, type="integer"),
    "log_sql": Param(False, type="boolean"),
}


def templated_dag(dag_id: str) -> DAG:
    with DAG(dag_id, schedule=None, start_date=datetime(2024, 1, 1), catchup=False, params=PARAMS) as dag:
        SqlToEventsOperator(
            task_id="sync",
            conn_id="warehouse",
            sql=SQL,
            destination_conn_id="gainsight_px_default",
            mapping=PX_MAPPING,
            **TEMPLATED,
        )
    return dag


def test_params_drive_every_knob(emulator, warehouse) -> None:  # type: ignore[no-untyped-def]
    warehouse(10, bad_rows=frozenset({4}))
    dr = run_dag(templated_dag("templated_defaults"))
    assert task_states(dr) == {"sync": "success"}  # 1 reject, max_rejected=1 from the Param
    report = xcom(dr, "sync")
    assert (report["rows_read"], report["accepted"], report["rejected"]) == (10, 9, 1)
    assert report["dry_run"] is False
    # key_columns came from a list Param rendered as text: the event ids derive from the id column, so a
    # second run of the same rows is recognised (same keys) rather than hashed differently
    assert len(px_received(emulator)) == 9


def test_run_conf_overrides_the_knobs(emulator, warehouse) -> None:  # type: ignore[no-untyped-def]
    warehouse(10, bad_rows=frozenset({4}))
    dry = run_dag(templated_dag("templated_dry"), run_conf={"dry": True})
    assert task_states(dry) == {"sync": "success"}
    assert xcom(dry, "sync")["dry_run"] is True
    assert px_received(emulator) == []

    strict = run_dag(templated_dag("templated_strict"), run_conf={"max_rejected": 0})
    assert task_states(strict) == {"sync": "failed"}  # over the threshold; the valid rows were delivered
    assert len(px_received(emulator)) == 9


def test_a_bad_rendered_value_fails_the_task(emulator, warehouse) -> None:  # type: ignore[no-untyped-def]
    warehouse(5)
    with DAG("templated_bad", schedule=None, start_date=datetime(2024, 1, 1), params={"n": "ten"}) as dag:
        SqlToEventsOperator(
            task_id="sync",
            conn_id="warehouse",
            sql=SQL,
            destination_conn_id="gainsight_px_default",
            mapping=PX_MAPPING,
            max_concurrency="{{ params.n }}",
        )
    dr = run_dag(dag)
    assert task_states(dr) == {"sync": "failed"}
    assert px_received(emulator) == []


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("max_concurrency", "ten", "max_concurrency must be an integer"),
        ("max_concurrency", "0", "max_concurrency must be at least 1"),
        ("max_requests_per_second", "fast", "max_requests_per_second must be a number"),
        ("max_rejected", "-1", "max_rejected must be at least 0"),
        ("max_rejected_ratio", "1.5", "max_rejected_ratio must be at most 1"),
        ("dry_run", "maybe", "dry_run must be true or false"),
        ("retry_ambiguous", "2", "retry_ambiguous must be true or false"),
        ("chunk_size", "1.5", "chunk_size must be an integer"),
        ("key_columns", "[", "key_columns is not a list"),
        ("hook_params", "[1]", "hook_params must be a mapping"),
    ],
)
def test_rendered_values_are_checked_naming_the_argument(name: str, value: str, message: str) -> None:
    op = SqlToEventsOperator(
        task_id="t", conn_id="warehouse", sql=SQL, destination_conn_id="gainsight_px_default"
    )
    setattr(op, "dry_run_only" if name == "dry_run" else name, value)  # as Airflow sets a rendered field

    def build() -> None:
        op._options()
        op._source({})  # type: ignore[arg-type]

    with pytest.raises(ConfigurationError, match=message):
        build()


def test_rendered_text_converts_to_the_engine_options() -> None:
    op = SqlToEventsOperator(
        task_id="t", conn_id="warehouse", sql=SQL, destination_conn_id="gainsight_px_default"
    )
    for name, value in {
        "max_concurrency": "4",
        "max_requests_per_second": "2.5",
        "max_rejected": "",
        "max_rejected_ratio": "0.1",
        "dry_run_only": "True",
        "retry_ambiguous": "false",
        "key_columns": "['a', 'b']",
        "wait_for_completion": "0",
        "max_consecutive_failures": "7",
    }.items():
        setattr(op, name, value)
    options = op._options()
    assert options.max_concurrency == 4
    assert options.max_requests_per_second == 2.5
    assert (options.max_rejected, options.max_rejected_ratio) == (None, 0.1)
    assert (options.dry_run, options.retry_ambiguous, options.wait_for_completion) == (True, False, False)
    assert options.key_columns == ["a", "b"]
    assert options.max_consecutive_failures == 7
    op.key_columns = "a, b"
    assert op._options().key_columns == ["a", "b"]


def test_every_knob_is_a_template_field() -> None:
    fields = set(SqlToEventsOperator.template_fields)
    for name in TEMPLATED:
        assert ("dry_run_only" if name == "dry_run" else name) in fields, name


def test_hook_params_reach_the_sql_hook(warehouse) -> None:  # type: ignore[no-untyped-def]
    warehouse(3)
    assert SqlSource("warehouse", SQL).hook().log_sql is True
    source = SqlSource("warehouse", SQL, hook_params={"log_sql": False})
    assert source.hook().log_sql is False
    assert [row["id"] for row in source] == [1, 2, 3]
    # a parameter the hook does not take fails when the hook is built, so it cannot be silently ignored
    from airflow.providers.sqlite.hooks.sqlite import SqliteHook

    with pytest.raises(TypeError):
        list(SqlSource("warehouse", SQL, hook_params={SqliteHook.conn_name_attr: "other"}))
