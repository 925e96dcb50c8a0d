"""Extra links: the operator pushes the object's name and region, the link turns them into a vendor URL.

Real DAG runs (``dag.test()``) against the emulator: Airflow's task runner calls each link's ``get_link``
after the task and stores the URL as the XCom ``_link_<class>``, which is what the UI's button opens.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone

import pytest
from airflow.sdk import DAG
from dag_runner import run_dag, task_states, xcom

from airflow_provider_events.get_provider_info import get_provider_info
from airflow_provider_events.links import (
    EXTRA_LINKS,
    LINK_TARGET_KEY,
    ActOnListingLink,
    GainsightPXEventLink,
)
from airflow_provider_events.operators.acton import ActOnUploadCustomEventsOperator
from airflow_provider_events.operators.gainsight_px import GainsightPXSendCustomEventsOperator

pytestmark = pytest.mark.usefixtures("airflow_db", "tmp_state")
START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_every_link_class_is_registered_in_the_provider_info() -> None:
    registered = get_provider_info()["extra-links"]
    assert sorted(registered) == sorted(f"{c.__module__}.{c.__qualname__}" for c in EXTRA_LINKS)


@pytest.mark.parametrize(
    ("link", "target", "expected"),
    [
        (
            GainsightPXEventLink(),
            {"vendor": "gainsight_px", "region": "eu", "name": "trial started"},
            "https://app-eu.aptrinsic.com/analytics/events/custom?eventName=trial%20started",
        ),
        (
            GainsightPXEventLink(),
            {"vendor": "gainsight_px", "region": "us", "name": None},
            "https://app.aptrinsic.com/analytics/events/custom",
        ),
        (
            ActOnListingLink(),
            {"vendor": "acton", "region": "eu", "name": "Webinar/2026"},
            "https://app-eu.actonsoftware.com/acton/lists/customEvents?listing=Webinar%2F2026",
        ),
        (ActOnListingLink(), {"vendor": "gainsight_px", "region": "us", "name": "x"}, ""),  # not its vendor
        (ActOnListingLink(), None, ""),  # the task never pushed a target
    ],
)
def test_link_urls(link, target, expected) -> None:  # type: ignore[no-untyped-def]
    assert link.url(target) == expected


def test_gainsight_px_task_gets_an_event_link(emulator, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    conn = emulator.connection("gainsight_px")
    conn["extra"]["region"] = "US2"  # an upper-case stored region still works
    monkeypatch.setenv("AIRFLOW_CONN_GAINSIGHT_PX_DEFAULT", json.dumps(conn))
    records = [{"identifyId": f"u{i}", "date": 1_767_225_600_000 + i, "k": i} for i in range(3)]
    with DAG("ui_px_link", schedule=None, start_date=START) as dag:
        GainsightPXSendCustomEventsOperator(
            task_id="send",
            records=records,
            mapping={"identifyId": "identifyId", "date": "date"},
            key_columns=["k"],
            event_name="trial_started",
        )
    run = run_dag(dag)
    assert task_states(run) == {"send": "success"}
    assert xcom(run, "send")["accepted"] == 3
    target = xcom(run, "send", key=LINK_TARGET_KEY)
    assert target == {"vendor": "gainsight_px", "region": "us2", "name": "trial_started"}
    assert conn["password"] not in json.dumps(target)
    link = xcom(run, "send", key="_link_GainsightPXEventLink")
    assert link == "https://app-us2.aptrinsic.com/analytics/events/custom?eventName=trial_started"


def test_acton_upload_gets_a_listing_link(emulator, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "rows.sqlite"
    sqlite3.connect(db).close()
    monkeypatch.setenv("AIRFLOW_CONN_UI_LINKS_SQLITE", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    records_sql = "select 'a@example.com' as email, '2026-01-01' as date, 'Webinar' as title"
    with DAG("ui_acton_link", schedule=None, start_date=START) as dag:
        ActOnUploadCustomEventsOperator(
            task_id="upload",
            destination="Webinar attendance",
            customeventaction="CUSTOM_ATTENDED",
            conn_id="ui_links_sqlite",
            sql=records_sql,
            poll_interval=0.2,
        )
    run = run_dag(dag)
    assert task_states(run) == {"upload": "success"}
    link = xcom(run, "upload", key="_link_ActOnListingLink")
    assert link == "https://app.actonsoftware.com/acton/lists/customEvents?listing=Webinar%20attendance"


def test_rendered_templates_mark_the_per_row_templates(emulator) -> None:  # type: ignore[no-untyped-def]
    """*Rendered Templates* marks the mapping templates the engine renders per row; the rest are rendered."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields

    records = [{"user": f"u{i}", "ts": 1_767_225_600_000 + i} for i in range(2)]
    with DAG("ui_rendered_mapping", schedule=None, start_date=START) as dag:
        GainsightPXSendCustomEventsOperator(
            task_id="send",
            records=records,
            mapping={
                "identifyId": "user",
                "date": "ts",
                "attributes": {"dag": "{{ dag.dag_id }}", "upper": "{{ row.user | upper }}"},
            },
            key_columns=["user"],
            event_name="rendered",
        )
    run = run_dag(dag)
    assert task_states(run) == {"send": "success"}
    ti = next(t for t in run.get_task_instances() if t.task_id == "send")
    rendered = RenderedTaskInstanceFields.get_templated_fields(ti)
    assert rendered["mapping"]["attributes"]["dag"] == "ui_rendered_mapping"  # rendered once, by Airflow
    assert rendered["mapping"]["attributes"]["upper"] == "{{ row.user | upper }}"  # left to the engine
    per_row = rendered["mapping_per_row"]
    assert list(per_row) == ["attributes.upper"]
    assert per_row["attributes.upper"].startswith("rendered per row by the delivery engine")
    received = emulator.emulator.vendor("gainsight_px").snapshot()["received"]
    assert sorted(e["attributes"]["upper"] for e in received) == ["U0", "U1"]
