"""OpenLineage of the operators: run through ``dag.test()`` against the emulator and a SQLite warehouse,
then asked for their facets as the OpenLineage listener asks (on start, and on complete with the finished
task instance); and the package without the OpenLineage provider."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from airflow.sdk import DAG
from dag_runner import run_dag, task_states, xcom

from airflow_provider_events.hooks.acton import ActOnHook
from airflow_provider_events.lineage import remember_result
from airflow_provider_events.operators.acton import (
    ActOnListCustomEventDestinationsOperator,
    ActOnSendCustomEventOperator,
)
from airflow_provider_events.operators.carecloud import CareCloudListEventsOperator
from airflow_provider_events.operators.gainsight_px import (
    GainsightPXListCustomEventsOperator,
    GainsightPXSendCustomEventsOperator,
)
from airflow_provider_events.operators.sync import SqlToEventsOperator
from airflow_provider_events.testing.emulator import EmulatorServer
from airflow_provider_events.testing.emulator.gainsight_px import DEFAULT_PROPERTY_KEY

pytest.importorskip(
    "airflow.providers.openlineage", reason="the openlineage extra is installed by make install"
)

pytestmark = pytest.mark.usefixtures("airflow_db", "tmp_state")
REPO = Path(__file__).resolve().parents[2]


def _dag(dag_id: str) -> DAG:
    return DAG(dag_id, schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc))


def _ti(run: Any, task_id: str) -> Any:
    (ti,) = [t for t in run.get_task_instances() if t.task_id == task_id]
    return ti


def _host(emulator: EmulatorServer, vendor: str) -> str:
    return urlsplit(emulator.base_url(vendor)).netloc


def _row_count(dataset: Any) -> int | None:
    stats = (dataset.outputFacets or {}).get("outputStatistics")
    return None if stats is None else int(stats.rowCount)


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "warehouse.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE usage (id INTEGER, user_id TEXT, ts TEXT)")
    conn.execute("CREATE TABLE users (user_id TEXT, plan TEXT)")
    conn.executemany(
        "INSERT INTO usage VALUES (?, ?, ?)",
        [(i, f"user-{i}" if i != 4 else "", f"2026-02-0{1 + i % 5}T10:00:00") for i in range(1, 9)],
    )
    conn.executemany("INSERT INTO users VALUES (?, ?)", [(f"user-{i}", "pro") for i in range(1, 9)])
    conn.commit()
    conn.close()
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    return db


def test_sql_to_gainsight_px_names_the_tables_the_product_and_the_event(
    emulator: EmulatorServer, warehouse: Path
) -> None:
    with _dag("ol_px") as dag:
        GainsightPXSendCustomEventsOperator(
            task_id="usage",
            conn_id="warehouse",
            sql="SELECT u.id, u.user_id, s.plan FROM usage u JOIN users s ON s.user_id = u.user_id "
            "WHERE u.ts >= :since",
            parameters={"since": "2026-01-01"},
            event_name="feature_used",
            mapping={"identifyId": "user_id", "attributes": {"plan": "plan"}},
            key_columns=["id"],
            max_rejected=5,
        )
    run = run_dag(dag)
    assert task_states(run) == {"usage": "success"}
    report = xcom(run, "usage")
    assert report["accepted"] == 7  # user 4 has no id: rejected

    operator = dag.get_task("usage")
    start = operator.get_openlineage_facets_on_start()
    assert sorted((d.namespace, d.name) for d in start.inputs) == [
        (f"sqlite://{warehouse}", "usage"),
        (f"sqlite://{warehouse}", "users"),
    ]
    (output,) = start.outputs
    assert output.namespace == f"gainsight-px://{_host(emulator, 'gainsight_px')}/{DEFAULT_PROPERTY_KEY}"
    assert output.name == "feature_used"
    assert _row_count(output) is None  # nothing counted before the run

    # the operator the listener holds kept the report: the accepted count becomes the rowCount
    remember_result(operator, report)
    complete = operator.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in complete.inputs] == [(d.namespace, d.name) for d in start.inputs]
    assert _row_count(complete.outputs[0]) == report["accepted"] == 7


def test_records_to_act_on_name_the_listing_under_the_account(emulator: EmulatorServer) -> None:
    emulator.emulator.vendor("acton").seed({"job_delays": {"pending": 0.05, "running": 0.05}})
    with _dag("ol_acton") as dag:
        SqlToEventsOperator(
            task_id="records",
            destination_conn_id="acton_default",
            records=[
                {"email": f"p{i}@example.com", "date": "2026-02-01", "title": "Intro"} for i in range(3)
            ],
            destination_options={"destination": "Webinars", "customeventaction": "CUSTOM_ATTENDED"},
        )
        ActOnSendCustomEventOperator(
            task_id="one",
            destination="Webinars",
            customeventaction="CUSTOM_ATTENDED",
            contact_email="x@example.com",
            title="Intro",
            createlistingentry=True,
        )
    run = run_dag(dag)
    assert task_states(run) == {"records": "success", "one": "success"}
    account = ActOnHook().account[:16]
    namespace = f"acton://{_host(emulator, 'acton')}/{account}"
    records = dag.get_task("records").get_openlineage_facets_on_start()
    assert records.inputs == []  # records given directly: no dataset to name
    assert [(d.namespace, d.name, _row_count(d)) for d in records.outputs] == [(namespace, "Webinars", None)]
    one = dag.get_task("one").get_openlineage_facets_on_complete(_ti(run, "one"))
    assert [(d.namespace, d.name, _row_count(d)) for d in one.outputs] == [(namespace, "Webinars", 1)]
    # nothing secret in what lineage publishes
    published = json.dumps([records.outputs[0].namespace, one.outputs[0].namespace])
    conn = json.loads(__import__("os").environ["AIRFLOW_CONN_ACTON_DEFAULT"])
    for secret in (conn.get("password"), conn.get("login"), conn.get("extra", {}).get("client_secret")):
        if secret:
            assert secret not in published


def test_list_operators_read_the_vendor_and_write_the_file(emulator: EmulatorServer, tmp_path: Path) -> None:
    emulator.emulator.vendor("acton").seed({"destinations": ["A", "B"]})
    with _dag("ol_list") as dag:
        ActOnListCustomEventDestinationsOperator(task_id="acton", output_path=str(tmp_path / "l.csv"))
        GainsightPXListCustomEventsOperator(
            task_id="px",
            output_path=f"file://{tmp_path}/px.jsonl",
            start="2026-01-01T00:00:00",
            event_name="x",
        )
        CareCloudListEventsOperator(
            task_id="cc", output_path=str(tmp_path / "cc.jsonl"), event_type="purchase"
        )
    run = run_dag(dag)
    assert set(task_states(run).values()) == {"success"}
    acton = dag.get_task("acton").get_openlineage_facets_on_start()
    assert acton.inputs[0].name == "custom_event_listings"
    assert [(d.namespace, d.name, _row_count(d)) for d in acton.outputs] == [
        ("file", str(tmp_path / "l.csv"), None)
    ]
    px_task = dag.get_task("px")
    remember_result(px_task, xcom(run, "px"))
    px = px_task.get_openlineage_facets_on_complete(None)
    assert (px.inputs[0].name, px.outputs[0].name, _row_count(px.outputs[0])) == (
        "x",
        str(tmp_path / "px.jsonl"),
        0,
    )
    cc = dag.get_task("cc").get_openlineage_facets_on_start()
    assert (cc.inputs[0].namespace, cc.inputs[0].name) == (
        f"carecloud://{_host(emulator, 'carecloud')}",
        "purchase",
    )


def test_lineage_never_fails_a_task_on_a_missing_connection() -> None:
    operator = SqlToEventsOperator(
        task_id="t", destination_conn_id="no_such_conn", conn_id="no_such_sql", sql="SELECT * FROM t"
    )
    lineage = operator.get_openlineage_facets_on_start()
    assert (lineage.inputs, lineage.outputs) == ([], [])


def test_the_package_imports_and_runs_without_openlineage(tmp_path: Path) -> None:
    """A fresh interpreter where ``openlineage`` and the provider cannot be imported."""
    script = textwrap.dedent(
        """
        import importlib.abc, sys

        OL = "airflow.providers.openlineage"

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                # the client library and the provider's modules; Airflow's provider discovery may still
                # read the provider's metadata (an installed distribution), as when it is broken
                blocked = name == "openlineage" or name.startswith("openlineage.")
                blocked |= name.startswith(OL + ".") and name != OL + ".get_provider_info"
                if blocked:
                    raise ImportError(f"blocked: {name}")
                return None

        sys.meta_path.insert(0, Block())
        import airflow_provider_events.lineage as lineage
        from airflow_provider_events.operators import acton, carecloud, expertsender_cdp, gainsight_px, sync
        assert not lineage.openlineage_available()
        op = sync.SqlToEventsOperator(task_id="t", destination_conn_id="x", records=[{"a": 1}])
        assert op.get_openlineage_facets_on_start() is None
        assert op.get_openlineage_facets_on_complete(None) is None
        lst = gainsight_px.GainsightPXListCustomEventsOperator(task_id="l", output_path="/tmp/x.jsonl")
        assert lst.get_openlineage_facets_on_start() is None
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=240, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")


E2E_SCRIPT = """
import json, sys
sys.path[:0] = ["tests", "."]
from airflow.utils import db
db.resetdb()
from datetime import datetime, timezone
from airflow.sdk import DAG
from dag_runner import run_dag, task_states
from airflow_provider_events.operators.acton import ActOnListCustomEventDestinationsOperator
from airflow_provider_events.operators.gainsight_px import (
    GainsightPXListCustomEventsOperator,
    GainsightPXSendCustomEventsOperator,
)
from airflow_provider_events.operators.sync import SqlToEventsOperator

OUT = sys.argv[1]
with DAG("ol_e2e", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)) as dag:
    usage = GainsightPXSendCustomEventsOperator(
        task_id="usage",
        conn_id="warehouse",
        sql="SELECT u.id, u.user_id FROM usage u WHERE u.ts >= '{{ params.since }}'",
        params={"since": "2026-01-01"},
        event_name="feature_used",
        mapping={"identifyId": "user_id"},
        key_columns=["id"],
        max_rejected=5,
    )
    SqlToEventsOperator(
        task_id="to_acton",
        destination_conn_id="acton_default",
        records=[{"email": f"p{i}@example.com", "date": "2026-02-01", "title": "Intro"} for i in range(3)],
        destination_options={"destination": "Webinars", "customeventaction": "CUSTOM_ATTENDED"},
    )
    ActOnListCustomEventDestinationsOperator(task_id="listings", output_path=OUT + "/listings.csv")
    usage >> GainsightPXListCustomEventsOperator(
        task_id="px_export", output_path=OUT + "/px.jsonl", start="2026-01-01T00:00:00"
    )
print("STATES=" + json.dumps(task_states(run_dag(dag))))
"""


def test_the_openlineage_listener_emits_every_task_with_its_row_count(
    emulator: EmulatorServer, warehouse: Path, tmp_path: Path
) -> None:
    """A real Airflow run with the OpenLineage provider enabled (file transport), in its own interpreter:
    the listener calls the operators' methods, in the forked process it uses on completion."""
    import os

    emulator.emulator.vendor("acton").seed(
        {"destinations": ["Downloads"], "job_delays": {"pending": 0.05, "running": 0.05}}
    )
    events_file = tmp_path / "openlineage.jsonl"
    home = tmp_path / "airflow-home"
    (home / "dags").mkdir(parents=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "provider-events-test",
        # a busy machine must not make the listener give up on the forked emission (default 10 s)
        "AIRFLOW__OPENLINEAGE__EXECUTION_TIMEOUT": "120",
    }
    env.pop("AIRFLOW__OPENLINEAGE__DISABLED", None)
    done = subprocess.run(
        [sys.executable, "-c", E2E_SCRIPT, str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (states,) = [line for line in done.stdout.splitlines() if line.startswith("STATES=")]
    assert set(json.loads(states.removeprefix("STATES=")).values()) == {"success"}
    text = events_file.read_text()
    events = [json.loads(line) for line in text.splitlines() if line.strip()]

    def event(kind: str, task_id: str) -> dict[str, Any]:
        found = [e for e in events if e["eventType"] == kind and e["job"]["name"] == f"ol_e2e.{task_id}"]
        assert len(found) == 1, (kind, task_id, [(e["eventType"], e["job"]["name"]) for e in events])
        return found[0]

    def outputs(kind: str, task_id: str) -> list[tuple[str, str, Any]]:
        return [
            (d["namespace"], d["name"], d.get("outputFacets", {}).get("outputStatistics", {}).get("rowCount"))
            for d in event(kind, task_id)["outputs"]
        ]

    px_ns = f"gainsight-px://{_host(emulator, 'gainsight_px')}/{DEFAULT_PROPERTY_KEY}"
    usage = event("COMPLETE", "usage")
    assert [(d["namespace"], d["name"]) for d in usage["inputs"]] == [(f"sqlite://{warehouse}", "usage")]
    assert outputs("START", "usage") == [(px_ns, "feature_used", None)]
    assert outputs("COMPLETE", "usage") == [(px_ns, "feature_used", 7)]

    acton_ns = f"acton://{_host(emulator, 'acton')}/{ActOnHook().account[:16]}"
    assert outputs("COMPLETE", "to_acton") == [(acton_ns, "Webinars", 3)]
    assert event("COMPLETE", "listings")["inputs"][0]["name"] == "custom_event_listings"
    listings_count = 2  # Downloads, and Webinars created by to_acton (or not yet: order is not fixed)
    (listing_out,) = outputs("COMPLETE", "listings")
    assert listing_out[:2] == ("file", str(tmp_path / "out" / "listings.csv"))
    assert listing_out[2] in (listings_count - 1, listings_count)
    assert outputs("COMPLETE", "px_export") == [("file", str(tmp_path / "out" / "px.jsonl"), 7)]
    assert event("COMPLETE", "px_export")["inputs"][0]["namespace"] == px_ns
    for secret in ("X-APTRINSIC", "password", "client_secret", "@example.com"):
        assert secret not in text


def test_expertsender_and_carecloud_destinations_are_named_by_event(emulator: EmulatorServer) -> None:
    from airflow_provider_events.operators.carecloud import CareCloudCreateEventsOperator
    from airflow_provider_events.operators.expertsender_cdp import ExpertSenderCdpSegmentScenarioOperator

    segment = ExpertSenderCdpSegmentScenarioOperator(task_id="s", custom_event_id=102, segments=[7, 12])
    (output,) = segment.get_openlineage_facets_on_start().outputs
    assert (output.namespace, output.name) == (
        f"expertsender-cdp://{_host(emulator, 'expertsender_cdp')}",
        "102",
    )
    create = CareCloudCreateEventsOperator(task_id="c", records=[{"a": 1}], event_type="purchase")
    (output,) = create.get_openlineage_facets_on_start().outputs
    assert (output.namespace, output.name) == (f"carecloud://{_host(emulator, 'carecloud')}", "purchase")
    templated = CareCloudCreateEventsOperator(task_id="t", records=[{"a": 1}], event_type="{{ params.t }}")
    assert templated.get_openlineage_facets_on_start().outputs[0].name == "events"  # not rendered: all
