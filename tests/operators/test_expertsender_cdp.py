"""The ExpertSender CDP operators in real DAG runs (``dag.test()``) against the emulator, from real SQLite."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException
from dag_runner import run_dag, task_states, xcom

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.operators.expertsender_cdp import (
    ExpertSenderCdpScenarioEventsOperator,
    ExpertSenderCdpSegmentScenarioOperator,
    parse_segment_ids,
)
from airflow_provider_events.testing.emulator import EmulatorProcess
from airflow_provider_events.testing.emulator.expertsender_cdp import DEFAULT_API_KEY as KEY

pytestmark = pytest.mark.usefixtures("airflow_db", "tmp_state")
START = datetime(2024, 1, 1, tzinfo=timezone.utc)
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)


def make_dag(dag_id: str) -> DAG:
    return DAG(dag_id, schedule=None, start_date=START, catchup=False)


def build_purchases(path: Path, rows: int) -> Path:
    """``purchases(id, email, amount, bought_at, url, vip)``: deterministic, every row valid."""
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE purchases (id INTEGER PRIMARY KEY, email TEXT, amount TEXT, bought_at TEXT, url TEXT, "
        "vip INTEGER)"
    )
    conn.executemany(
        "INSERT INTO purchases VALUES (?, ?, ?, ?, ?, ?)",
        (
            (
                i,
                f"  Customer.{i}@Example.com ",
                f"{i % 500}.{i % 100:02d}",
                (T0 + timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M:%S"),
                f"https://shop.example.com/orders/{i}",
                i % 3 == 0,
            )
            for i in range(1, rows + 1)
        ),
    )
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    def make(rows: int) -> Path:
        db = build_purchases(tmp_path / "shop.db", rows)
        monkeypatch.setenv("AIRFLOW_CONN_SHOP", json.dumps({"conn_type": "sqlite", "host": str(db)}))
        return db

    return make


MAPPING = {
    "email_sha256": "email",
    "dataFields": {
        "order": "id",
        "amount": "amount",
        "boughtAt": "bought_at",
        "link": "url",
        "vip": "vip",
    },
}
TYPES = {"amount": "Money", "boughtAt": "DateTime", "link": "URL", "vip": "Boolean"}


def expected_event(i: int) -> dict:
    digest = hashlib.sha256(f"customer.{i}@example.com".encode()).hexdigest()
    moment = (T0 + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "identifiers": {"customerEmailSha256": digest},
        "dataFields": [
            {"name": "order", "type": "Number", "value": str(i)},
            {"name": "amount", "type": "Money", "value": str(Decimal(f"{i % 500}.{i % 100:02d}"))},
            {"name": "boughtAt", "type": "DateTime", "value": moment},
            {"name": "link", "type": "URL", "value": f"https://shop.example.com/orders/{i}"},
            {"name": "vip", "type": "Boolean", "value": "true" if i % 3 == 0 else "false"},
        ],
    }


@pytest.fixture
def emulator_process(monkeypatch):
    """The emulator in its own process (the in-process one shares the GIL with the engine, ~2.5x slower),
    with ``expertsender_cdp_default`` pointing at it."""
    with EmulatorProcess() as process:
        conn = {"conn_type": "expertsender_cdp", "host": f"{process.url}/expertsender_cdp", "password": KEY}
        monkeypatch.setenv("AIRFLOW_CONN_EXPERTSENDER_CDP_DEFAULT", json.dumps(conn))
        yield process


@pytest.mark.slow
def test_ten_thousand_rows_from_sqlite_arrive_row_by_row(warehouse, emulator_process):
    rows = 10_000
    warehouse(rows)
    with make_dag("ecdp_10k") as dag:
        ExpertSenderCdpScenarioEventsOperator(
            task_id="purchases",
            conn_id="shop",
            sql="SELECT id, email, amount, bought_at, url, vip FROM purchases ORDER BY id",
            custom_event_id="{{ params.event }}",
            identifier="email_sha256",
            hash_emails=True,
            mapping=MAPPING,
            data_field_types=TYPES,
            key_columns=["id"],
            max_concurrency=8,
            max_requests_per_second=0,  # unpaced: the emulator is local
            params={"event": 2},
        )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"purchases": "success"}
    report = xcom(dag_run, "purchases")
    assert report["rows_read"] == rows
    assert report["sent"] == rows
    assert report["accepted"] == rows
    assert report["rejected"] == report["ambiguous"] == report["failed"] == 0

    state = emulator_process.admin("GET", "expertsender_cdp/state")
    received = state["received"]
    assert len(received) == rows
    by_order = {int(e["dataFields"][0]["value"]): e for e in received}
    assert sorted(by_order) == list(range(1, rows + 1))
    for i in range(1, rows + 1):
        event = by_order[i]
        assert event["customEventId"] == 2
        assert {k: event[k] for k in ("identifiers", "dataFields")} == expected_event(i), i
    assert "@example.com" not in json.dumps(state).lower()  # hashed in the warehouse


def test_unknown_custom_event_stops_the_run_after_one_request(warehouse, ecdp, emulator):
    warehouse(10_000)
    with make_dag("ecdp_unknown_event") as dag:
        ExpertSenderCdpScenarioEventsOperator(
            task_id="purchases",
            conn_id="shop",
            sql="SELECT id, email FROM purchases",
            custom_event_id=999,
            identifier="email",
            mapping={"email": "{{ row.email | trim }}"},
            max_requests_per_second=0,
        )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"purchases": "failed"}
    assert emulator.emulator.fault_counters("expertsender_cdp")["requests"] == 1
    assert ecdp.events() == []


RECORDS = [{"crm_id": f"CRM-{i}", "step": i} for i in range(1, 31)]


@pytest.mark.parametrize(("retry_ambiguous", "ambiguous", "received"), [(False, 3, 30), (True, 0, 33)])
def test_accepted_then_dropped_per_retry_ambiguous(ecdp, emulator, retry_ambiguous, ambiguous, received):
    emulator.emulator.set_faults("expertsender_cdp", drop_after_accept=3)
    with make_dag(f"ecdp_drop_{retry_ambiguous}") as dag:
        ExpertSenderCdpScenarioEventsOperator(
            task_id="steps",
            records=RECORDS,
            custom_event_id=1,
            identifier="crm_id",
            key_columns=["crm_id"],
            retry_ambiguous=retry_ambiguous,
            max_in_doubt=3,  # accepted: the default (0) fails the task on any event in doubt
            max_concurrency=4,
            max_requests_per_second=0,
        )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"steps": "success"}
    report = xcom(dag_run, "steps")
    assert emulator.emulator.fault_counters("expertsender_cdp")["dropped_after_accept"] == 3
    assert report["ambiguous"] == report["in_doubt"] == ambiguous
    assert report["possible_duplicates"] == received - 30  # every duplicate counted
    assert report["accepted"] == 30 - ambiguous
    events = ecdp.events()
    assert len(events) == received  # at-least-once resends the 3 the vendor did take: duplicates
    assert {e["identifier_value"] for e in events} == {r["crm_id"] for r in RECORDS}


def test_slow_answers_are_ambiguous_and_not_resent(ecdp, emulator, monkeypatch):
    conn = emulator.connection("expertsender_cdp")
    conn["extra"] = {"read_timeout": 0.3}
    monkeypatch.setenv("AIRFLOW_CONN_EXPERTSENDER_CDP_DEFAULT", json.dumps(conn))
    emulator.emulator.set_faults("expertsender_cdp", slow_rate=1.0, slow_seconds=0.8)
    with make_dag("ecdp_slow") as dag:
        ExpertSenderCdpScenarioEventsOperator(
            task_id="steps",
            records=RECORDS[:6],
            custom_event_id=1,
            identifier="crm_id",
            max_in_doubt=6,  # accepted: the default (0) fails the task on any event in doubt
            max_concurrency=6,
            max_requests_per_second=0,
        )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"steps": "success"}
    report = xcom(dag_run, "steps")
    assert report["ambiguous"] == 6
    assert report["accepted"] == 0
    assert emulator.emulator.fault_counters("expertsender_cdp")["slow"] == 6
    assert len(ecdp.events()) == 6  # the vendor processed each once; none was sent twice


def test_invalid_rows_and_unknown_customers_are_rejected_per_row(ecdp, tmp_path):
    ecdp.seed(
        {
            "options": {"unknown_customer": "404"},
            "customers": [{"id": i, "phone": f"+42060000{i:04d}"} for i in range(1, 9)],
        }
    )
    records = [{"phone": f"+42060000{i:04d}", "dataFields": {"n": i}} for i in range(1, 11)]
    records.append({"phone": "+420 600 000 001"})  # spaces
    records.append({"phone": "1" * 21})  # too long
    records.append({"phone": "+420600000001", "dataFields": {"when": {"value": "soon", "type": "Date"}}})
    rejects = tmp_path / "rejects.jsonl"
    with make_dag("ecdp_rejects") as dag:
        ExpertSenderCdpScenarioEventsOperator(
            task_id="phones",
            records=records,
            custom_event_id=3,
            identifier="phone",
            rejects_path=str(rejects),
            max_rejected=10,
            max_requests_per_second=0,
        )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"phones": "success"}
    report = xcom(dag_run, "phones")
    assert report["accepted"] == 8
    assert report["rejected"] == 5
    assert report["rejected_by_vendor"] == 2  # customers 9 and 10 are unknown to the vendor
    lines = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert len(lines) == 5
    assert sorted(int(e["dataFields"][0]["value"]) for e in ecdp.events()) == list(range(1, 9))


def test_destination_options_must_not_repeat_operator_arguments():
    with pytest.raises(ConfigurationError, match="as operator arguments"):
        ExpertSenderCdpScenarioEventsOperator(
            task_id="x",
            records=[],
            custom_event_id=1,
            identifier="email",
            destination_options={"identifier": "id"},
        )
    with pytest.raises(ConfigurationError, match="32-bit integer"):
        ExpertSenderCdpScenarioEventsOperator(
            task_id="x", records=[], custom_event_id="abc", identifier="email"
        )


def test_segment_operator_templated(ecdp):
    with make_dag("ecdp_segments") as dag:
        ExpertSenderCdpSegmentScenarioOperator(
            task_id="spring",
            custom_event_id="{{ params.event }}",
            segments="{{ params.segments }}",
            data_fields={"campaign": "{{ params.campaign }}", "ends": {"value": "{{ ds }}", "type": "Date"}},
            params={"event": 3, "segments": [1, 15], "campaign": "spring-sale"},
        )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"spring": "success"}
    assert xcom(dag_run, "spring") == {"custom_event_id": 3, "segments": [1, 15], "data_fields": 2}
    (event,) = ecdp.segment_events()
    assert event["segments"] == [1, 15]
    assert event["customers"] == 127
    assert event["dataFields"][0] == {"name": "campaign", "type": "String", "value": "spring-sale"}
    assert event["dataFields"][1]["type"] == "Date"


@pytest.mark.parametrize("segments", [[1, "five"], "1,x", [], [2**31], "[1, 2.5]"])
def test_segment_ids_are_validated_as_integers(segments):
    with pytest.raises(ConfigurationError):
        ExpertSenderCdpSegmentScenarioOperator(task_id="s", custom_event_id=1, segments=segments)


@pytest.mark.parametrize(
    ("given", "ids"),
    [("1, 5,15", [1, 5, 15]), ("[1, 5]", [1, 5]), (["1", 5], [1, 5]), (15, [15]), ((5,), [5])],
)
def test_segment_ids_from_lists_comma_strings_and_json(ecdp, given, ids):
    assert parse_segment_ids(given) == ids
    op = ExpertSenderCdpSegmentScenarioOperator(task_id="s", custom_event_id="7", segments=given)
    ecdp.seed({"custom_events": [7]})
    assert op.execute({}) == {"custom_event_id": 7, "segments": ids, "data_fields": 0}
    assert ecdp.segment_events()[-1]["segments"] == ids


def test_segment_operator_fails_without_retry_when_the_outcome_is_unknown(ecdp, emulator):
    emulator.emulator.set_faults("expertsender_cdp", drop_after_accept=1)
    op = ExpertSenderCdpSegmentScenarioOperator(task_id="s", custom_event_id=1, segments=[5], retries=3)
    with pytest.raises(AirflowFailException, match="outcome is unknown"):
        op.execute({})
    assert len(ecdp.segment_events()) == 1


def test_segment_operator_unknown_segment_fails(ecdp):
    with make_dag("ecdp_segments_unknown") as dag:
        ExpertSenderCdpSegmentScenarioOperator(task_id="s", custom_event_id=1, segments=[1, 99])
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"s": "failed"}
    assert ecdp.segment_events() == []


def test_events_in_doubt_fail_the_task_by_default(ecdp, emulator):
    emulator.emulator.set_faults("expertsender_cdp", drop_after_accept=2)
    with make_dag("ecdp_doubt_fails") as dag:
        ExpertSenderCdpScenarioEventsOperator(
            task_id="steps",
            records=RECORDS,
            custom_event_id=1,
            identifier="crm_id",
            key_columns=["crm_id"],
            max_concurrency=4,
            max_requests_per_second=0,
        )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"steps": "failed"}  # doubt is never silently accepted
    assert len(ecdp.events()) == 30  # nothing resent
