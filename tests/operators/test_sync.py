"""SqlToEventsOperator end to end: real SQLite -> engine -> Gainsight PX emulator, via dag.test()."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from airflow.sdk import DAG, Asset
from helpers.sync import PX_MAPPING, SQL, make_dag, px_received

from airflow_provider_events.operators.sync import SqlToEventsOperator
from airflow_provider_events.sync.partitions import partition_clauses, partition_parameters
from airflow_provider_events.sync.rejects import read_rejects, state_root
from tests.dag_runner import run_dag, task_states, xcom

pytestmark = pytest.mark.usefixtures("airflow_db", "tmp_state")


def test_delivers_every_row_once_and_reports(emulator, warehouse) -> None:  # type: ignore[no-untyped-def]
    warehouse(60)
    asset = Asset("px://feature_used")
    # a local checkpoint: re-running with dag.test() below replaces the DAG run, and with it the task state
    # store that a cleared task keeps in a real deployment (tests/sync/test_task_state.py covers that store)
    local = str(state_root())
    dr = run_dag(
        make_dag("sync_basic", key_columns=["id"], max_concurrency=4, outlets=[asset], checkpoint_path=local)
    )
    assert task_states(dr) == {"sync": "success"}
    report = xcom(dr, "sync")
    assert report["rows_read"] == 60
    assert report["sent"] == 60
    assert report["accepted"] == 60
    assert report["rejected"] == 0
    assert report["failed"] == 0
    assert report["rejects_path"] is None
    received = px_received(emulator)
    assert sorted(e["identifyId"] for e in received) == [f"user-{i:06d}" for i in range(1, 61)]
    first = next(e for e in received if e["identifyId"] == "user-000001")
    assert first["attributes"] == {"amount": 1.5, "plan": "PRO"}
    assert first["date"] == 1_704_067_201_000
    assert len({e["eventId"] for e in received}) == 60
    # the asset event carries the report as its extra
    events = dr.get_task_instances()[0].get_dagrun()  # noqa: F841 - the run exists
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        extras = [e.extra for e in session.query(AssetEvent).all() if e.extra.get("vendor") == "gainsight_px"]
    assert extras
    assert extras[-1]["accepted"] == 60

    # a second run of the same DAG run id (task cleared) sends nothing again: all keys are checkpointed
    dr2 = run_dag(
        make_dag("sync_basic", key_columns=["id"], max_concurrency=4, checkpoint_path=local),
        logical_date=dr.logical_date,
        run_after=dr.run_after,
    )
    again = xcom(dr2, "sync")
    # the report covers the task instance over its attempts: 60 accepted by the first, nothing sent since
    assert (again["accepted"], again["sent"], again["attempts"]) == (60, 60, 2)
    assert len(px_received(emulator)) == 60


def test_rejects_have_row_numbers_and_ratio_decides(emulator, warehouse, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    warehouse(40, bad_rows=frozenset({3, 17, 29}))
    rejects = tmp_path / "rejects-{{ task.task_id }}.jsonl"
    # 3/40 = 7.5% rejected: over a 5% limit -> fails, after delivering the 37 good rows
    dr = run_dag(make_dag("sync_rejects_fail", rejects_path=str(rejects), max_rejected_ratio=0.05))
    assert task_states(dr) == {"sync": "failed"}
    assert len(px_received(emulator)) == 37
    lines = read_rejects(str(tmp_path / "rejects-sync.jsonl"))
    assert [(r["row_number"], r["field"], r["stage"]) for r in lines] == [
        (3, "identifyId", "validation"),
        (17, "identifyId", "validation"),
        (29, "identifyId", "validation"),
    ]
    assert lines[0]["row"]["id"] == 3
    assert lines[0]["row"]["user_id"] is None
    assert lines[0]["reason"]

    # under a 10% limit the same data passes (and the retry of this new run delivers all 37 good rows); the
    # vendor was reset, so the 37 events the delivery ledger remembers are resent on purpose
    emulator.emulator.reset()
    dr = run_dag(
        make_dag(
            "sync_rejects_ok",
            rejects_path=str(rejects),
            max_rejected_ratio=0.10,
            resend_delivered="{{ True }}",
        )
    )
    assert task_states(dr) == {"sync": "success"}
    report = xcom(dr, "sync")
    assert report["rejected"] == 3
    assert report["accepted"] == 37
    assert report["resent_delivered"] == 37
    assert report["rejects_path"] == str(tmp_path / "rejects-sync.jsonl")
    assert len(px_received(emulator)) == 37


def test_dry_run_sends_nothing_and_reports_what_would_be_sent(emulator, warehouse) -> None:  # type: ignore[no-untyped-def]
    warehouse(25, bad_rows=frozenset({5}))
    dr = run_dag(make_dag("sync_dry", dry_run=True, max_rejected=1))
    assert task_states(dr) == {"sync": "success"}
    report = xcom(dr, "sync")
    assert report["dry_run"] is True
    assert report["would_send"] == 24
    assert report["sent"] == 0
    assert report["rejected"] == 1
    assert read_rejects(report["rejects_path"])[0]["row_number"] == 5
    assert px_received(emulator) == []
    assert emulator.emulator.fault_counters("gainsight_px")["requests"] == 0


def test_client_rate_limit_under_the_vendors_means_no_429(emulator, warehouse) -> None:  # type: ignore[no-untyped-def]
    warehouse(90)
    emulator.emulator.set_faults("gainsight_px", rate_limit=60)
    dr = run_dag(make_dag("sync_rate", max_requests_per_second=45, max_concurrency=8))
    report = xcom(dr, "sync")
    counters = emulator.emulator.fault_counters("gainsight_px")
    print(
        f"\n90 events paced at 45 rps against a 60 rps limit: {report['seconds']}s, "
        f"{counters['rate_limited']} x 429"
    )
    assert report["accepted"] == 90
    assert counters["rate_limited"] == 0
    assert report["throttled"] == 0
    # 90 events at 45/s with a burst of 10 take at least (90 - 10) / 45 s
    assert report["seconds"] >= (90 - 10) / 45 * 0.95


def test_sandbox_escape_fails_the_task_cleanly_sending_nothing(emulator, warehouse) -> None:  # type: ignore[no-untyped-def]
    warehouse(5)
    mapping = dict(PX_MAPPING, eventName="{{ row.event.__class__.__mro__[1].__subclasses__() }}")
    dr = run_dag(make_dag("sync_sandbox", mapping=mapping))
    assert task_states(dr) == {"sync": "failed"}
    assert px_received(emulator) == []
    assert emulator.emulator.fault_counters("gainsight_px")["requests"] == 0


def test_airflow_renders_context_templates_in_the_mapping(emulator, warehouse) -> None:  # type: ignore[no-untyped-def]
    warehouse(3)
    mapping = dict(PX_MAPPING, eventName="{{ params.event_name }}", sessionId="{{ row.id }}-{{ run_id[:6] }}")
    with DAG(
        dag_id="sync_params",
        schedule=None,
        start_date=datetime(2024, 1, 1),
        params={"event_name": "imported"},
    ) as dag:
        SqlToEventsOperator(
            task_id="sync",
            conn_id="warehouse",
            sql=SQL,
            destination_conn_id="gainsight_px_default",
            mapping=mapping,
        )
    dr = run_dag(dag)
    assert task_states(dr) == {"sync": "success"}
    received = sorted(px_received(emulator), key=lambda e: e["identifyId"])
    assert {e["eventName"] for e in received} == {"imported"}
    assert received[0]["sessionId"] == "1-manual"


def test_dynamic_task_mapping_one_partition_per_mapped_task(emulator, warehouse) -> None:  # type: ignore[no-untyped-def]
    warehouse(40)
    with DAG(dag_id="sync_partitions", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        SqlToEventsOperator.partial(
            task_id="sync",
            conn_id="warehouse",
            destination_conn_id="gainsight_px_default",
            mapping=PX_MAPPING,
            key_columns=["id"],
        ).expand(sql=[f"SELECT * FROM events WHERE {c}" for c in partition_clauses("id", 4, modulo="%")])
        SqlToEventsOperator.partial(
            task_id="sync_params",
            conn_id="warehouse",
            destination_conn_id="gainsight_px_default",
            mapping=PX_MAPPING,
            key_columns=["id"],
            dry_run=True,
            use_ledger=False,  # runs beside "sync" to the same destination: not "delivered earlier" by it
            sql="SELECT * FROM events WHERE id % :partitions = :partition",
        ).expand(parameters=partition_parameters(3))
    dr = run_dag(dag)
    states = task_states(dr)
    assert states == {
        **{f"sync[{i}]": "success" for i in range(4)},
        **{f"sync_params[{i}]": "success" for i in range(3)},
    }
    reports = [xcom(dr, "sync", map_index=i) for i in range(4)]
    assert [r["accepted"] for r in reports] == [10, 10, 10, 10]
    assert len({r["checkpoint"] for r in reports}) == 4  # each mapped task has its own checkpoint
    assert sorted(e["identifyId"] for e in px_received(emulator)) == [f"user-{i:06d}" for i in range(1, 41)]
    assert sum(xcom(dr, "sync_params", map_index=i)["would_send"] for i in range(3)) == 40


def test_records_source_and_identity_mapping(emulator) -> None:  # type: ignore[no-untyped-def]
    records = [{"identifyId": f"u{i}", "eventName": "signup", "attributes": {"n": i}} for i in range(5)]
    with DAG(dag_id="sync_records", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        SqlToEventsOperator(
            task_id="sync", records=json.dumps(records), destination_conn_id="gainsight_px_default"
        )
    dr = run_dag(dag)
    assert xcom(dr, "sync")["accepted"] == 5
    assert sorted(e["attributes"]["n"] for e in px_received(emulator)) == [0, 1, 2, 3, 4]
