"""Vendor failures mid-run: expired and revoked tokens, bad keys, unknown ids.

Covered elsewhere and not repeated here: an unknown ExpertSender custom event stopping the run after one
request (``tests/operators/test_expertsender_cdp.py``), an Act-On job that ends failed failing the sensor
with Act-On's reason in poke, reschedule and deferrable modes (``tests/sensors/test_acton.py``), and the
hook-level token refresh paths (``tests/hooks/test_acton.py``).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_events.exceptions import ConfigurationError, DeliveryAbortedError, VendorAuthError
from airflow_provider_events.hooks.carecloud import CareCloudHook
from airflow_provider_events.operators.acton import ActOnUploadCustomEventsOperator
from airflow_provider_events.operators.carecloud import CareCloudCreateEventsOperator
from airflow_provider_events.sync.checkpoint import CheckpointIdentity
from airflow_provider_events.sync.engine import SyncOptions
from airflow_provider_events.sync.runner import sync_rows
from airflow_provider_events.sync.source import SqlSource
from airflow_provider_events.testing.emulator.carecloud import CUSTOMER_IDS
from tests.dag_runner import run_dag, task_states, xcom

from .conftest import set_connection

pytestmark = pytest.mark.usefixtures("airflow_db", "tmp_state")

ROWS = 200


@pytest.fixture
def rows(sqlite_warehouse: Any) -> None:
    sqlite_warehouse(
        "events",
        ["id", "customer_id", "email", "visits"],
        ((i, CUSTOMER_IDS[i % 3], f"user{i}@example.com", i) for i in range(1, ROWS + 1)),
    )


def when(condition: Any, action: Any, timeout: float = 60) -> threading.Thread:
    """Run ``action`` in a thread as soon as ``condition()`` holds (the sync runs meanwhile)."""

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                return
            time.sleep(0.005)
        action()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_acton_expired_then_revoked_tokens_while_waiting_for_the_job(
    emulator, monkeypatch, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The access token expires mid-wait (refresh grant), then every token is revoked (password login): the
    task carries on and succeeds.

    Ordered by events, not delays, so a busy machine cannot reorder them: the job stays pending until the
    client has recovered, and the grant is revoked right after the refresh, before the refreshed token's
    first use (the case that used to fail: one renewal per request was allowed, two are needed).
    """
    acton = emulator.emulator.vendor("acton")
    acton.seed({"job_delays": {"pending": 3600, "running": 0}})
    conn = emulator.connection("acton")
    set_connection(monkeypatch, "acton_default", conn)
    csv = tmp_path / "events.csv"
    csv.write_text(
        "email,date,title\n" + "".join(f"u{i}@example.com,2024-01-0{i},T{i}\n" for i in range(1, 6))
    )

    def login_counts() -> dict[str, int]:
        found = acton.snapshot()["logins"]
        return dict(next(iter(found.values()))) if found else {}

    def break_tokens() -> None:
        acton.seed({"revoke_next_refresh": True})
        acton.expire_access_tokens()
        deadline = time.monotonic() + 120
        while login_counts().get("password_grants", 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        acton.finish_job(acton.snapshot()["jobs"][0]["job_id"])

    watcher = when(lambda: bool(acton.snapshot()["jobs"]), break_tokens)
    with DAG(dag_id="fail_acton_tokens", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        ActOnUploadCustomEventsOperator(
            task_id="upload",
            file_path=str(csv),
            destination="Tokens",
            customeventaction="CUSTOM_GENERAL",
            dateformat="yyyy-MM-dd",
            poll_interval=0.1,
        )
    dr = run_dag(dag)
    watcher.join(timeout=120)
    assert task_states(dr) == {"upload": "success"}
    assert xcom(dr, "upload")["appended"] == 5
    (logins,) = acton.snapshot()["logins"].values()
    print(f"\nAct-On logins: {logins}")
    assert logins["refresh_grants"] >= 1  # the expired access token was renewed with the refresh token
    assert logins["password_grants"] == 2  # the revoked grant forced exactly one new password login
    assert len(acton.snapshot()["jobs"]) == 1  # and the upload was not repeated


def test_carecloud_tokens_expire_mid_sync_relogin_and_continue(emulator, rows) -> None:  # type: ignore[no-untyped-def]
    cc = emulator.emulator.vendor("carecloud")
    watcher = when(lambda: len(cc.events()) >= 50, cc.expire_tokens)
    with DAG(dag_id="fail_cc_tokens", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        CareCloudCreateEventsOperator(
            task_id="sync",
            conn_id="warehouse",
            sql="SELECT * FROM events ORDER BY id",
            event_type="purchase",
            mapping={"customer_id": "customer_id", "property_records": {"visit_count": "visits"}},
            key_columns=["id"],
            max_concurrency=4,
            max_requests_per_second=200,
        )
    dr = run_dag(dag)
    watcher.join(timeout=5)
    assert task_states(dr) == {"sync": "success"}
    assert xcom(dr, "sync")["accepted"] == ROWS
    snap = cc.snapshot()
    print(f"\nCareCloud logins {snap['logins']}, auth {snap['auth']}")
    # re-logged in and carried on; each worker re-logs in at most once (that a racing worker's late 401
    # does not cause an extra login is proven by the stale-401 test below)
    assert 2 <= snap["logins"] <= 1 + 4
    assert len({e["external_id"] for e in snap["events"]}) == len(snap["events"]) == ROWS


@pytest.mark.parametrize(
    ("vendor", "options", "mapping"),
    [
        ("gainsight_px", {}, {"identifyId": "email", "eventName": "{{ 'x' }}"}),
        ("expertsender_cdp", {"custom_event_id": 1, "identifier": "email"}, {"email": "email"}),
    ],
)
def test_bad_api_key_is_a_clear_error_without_a_retry_storm(  # type: ignore[no-untyped-def]
    emulator, monkeypatch, rows, vendor, options, mapping
) -> None:
    conn = emulator.connection(vendor)
    conn["password"] = "wrong-key-" + vendor
    set_connection(monkeypatch, f"{vendor}_default", conn)
    with pytest.raises(DeliveryAbortedError) as err:
        sync_rows(
            destination_conn_id=f"{vendor}_default",
            destination_options=options,
            source=SqlSource("warehouse", "SELECT * FROM events ORDER BY id"),
            mapping=mapping,
            identity=CheckpointIdentity("fail_key", vendor, "sync"),
            options=SyncOptions(key_columns=["id"], max_concurrency=8, max_requests_per_second=0),
        )
    requests = emulator.emulator.fault_counters(vendor)["requests"]
    print(f"\n{vendor} with a bad key: {requests} request(s) for {ROWS} rows: {err.value}")
    assert isinstance(err.value.__cause__, VendorAuthError)
    assert "401" in str(err.value)
    assert vendor in str(err.value)
    assert "wrong-key" not in str(err.value)  # the key itself is never echoed
    assert requests <= 2 * 8  # at most the in-flight window, never one per row or a retry per request
    assert err.value.report.accepted == 0  # type: ignore[attr-defined]


def test_carecloud_wrong_password_fails_once_without_retrying_the_login(emulator, monkeypatch, rows) -> None:  # type: ignore[no-untyped-def]
    conn = emulator.connection("carecloud")
    conn["password"] = "wrong-password"
    set_connection(monkeypatch, "carecloud_default", conn)
    with pytest.raises(VendorAuthError) as err:
        sync_rows(
            destination_conn_id="carecloud_default",
            destination_options={"event_type": "purchase"},
            source=SqlSource("warehouse", "SELECT * FROM events ORDER BY id"),
            mapping={"customer_id": "customer_id"},
            identity=CheckpointIdentity("fail_key", "carecloud", "sync"),
        )
    requests = emulator.emulator.fault_counters("carecloud")["requests"]
    print(f"\nCareCloud wrong password: {requests} request(s): {err.value}")
    assert "wrong-password" not in str(err.value)
    assert requests == 1  # one login attempt, no retry, nothing sent
    assert emulator.emulator.vendor("carecloud").snapshot()["events"] == []


@pytest.mark.parametrize(
    "option", [{"event_type": "no_such_type"}, {"event_type_id": "8deadbeef0000000000000000"}]
)
def test_carecloud_unknown_event_type_names_it_and_sends_nothing(emulator, rows, option) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigurationError) as err:
        sync_rows(
            destination_conn_id="carecloud_default",
            destination_options=option,
            source=SqlSource("warehouse", "SELECT * FROM events ORDER BY id"),
            mapping={"customer_id": "customer_id"},
            identity=CheckpointIdentity("fail_type", str(option), "sync"),
        )
    (value,) = option.values()
    assert value in str(err.value)
    assert emulator.emulator.vendor("carecloud").snapshot()["events"] == []
    assert emulator.emulator.vendor("carecloud").snapshot()["counters"]["invalid"] == 0  # no POST was made


def test_carecloud_stale_401_after_a_relogin_does_not_log_in_again(emulator) -> None:  # type: ignore[no-untyped-def]
    cc = emulator.emulator.vendor("carecloud")
    hook = CareCloudHook()
    hook.bearer_token()  # login 1
    cc.expire_tokens()
    emulator.emulator.set_faults("carecloud", latency_ms=400)  # requests are checked 0.4 s after being sent
    errors: list[BaseException] = []

    def call() -> None:
        try:
            hook.request_json("GET", "event-types", params={"count": 1})
        except BaseException as exc:
            errors.append(exc)

    first = threading.Thread(target=call)
    second = threading.Thread(target=call)
    first.start()
    time.sleep(0.1)
    second.start()  # sent with the same expired token; its 401 arrives while `first` is re-logging in
    first.join(timeout=30)
    second.join(timeout=30)
    assert errors == []
    assert cc.snapshot()["logins"] == 2  # the expired token is replaced once
