"""The list operators of every vendor, run by Airflow (``dag.test()``) against the emulator over HTTP."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG
from dag_runner import run_dag, task_states, xcom
from helpers.carecloud import make_events

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.hooks.carecloud import CareCloudHook
from airflow_provider_events.hooks.gainsight_px import GainsightPXHook, split_windows
from airflow_provider_events.operators.acton import ActOnListCustomEventDestinationsOperator
from airflow_provider_events.operators.carecloud import CareCloudListEventsOperator
from airflow_provider_events.operators.gainsight_px import GainsightPXListCustomEventsOperator
from airflow_provider_events.testing.emulator import EmulatorServer
from airflow_provider_events.testing.emulator.carecloud import NEWSLETTER_TYPE_ID, PURCHASE_TYPE_ID
from airflow_provider_events.testing.emulator.gainsight_px import DEFAULT_PROPERTY_KEY

pytestmark = pytest.mark.usefixtures("airflow_db", "tmp_state")

START = datetime(2025, 1, 1, tzinfo=timezone.utc)
DAY_MS = 86_400_000
START_MS = int(START.timestamp() * 1000)


def _dag(dag_id: str, **kwargs: Any) -> DAG:
    return DAG(dag_id, schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc), **kwargs)


# --------------------------------------------------------------------------------------------- Gainsight PX
def _px_events(count: int, span_days: int) -> list[dict[str, Any]]:
    """``count`` events spread over ``span_days`` days from START, two names, three accounts."""
    step = span_days * DAY_MS // count
    return [
        {
            "eventId": f"ev-{i:04d}",
            "identifyId": f"user-{i % 5}",
            "propertyKey": DEFAULT_PROPERTY_KEY,
            "eventName": "purchase" if i % 2 else "signup",
            "userType": "USER",
            "accountId": f"acct-{i % 3}",
            "date": START_MS + i * step,
            "attributes": {"n": i, "plan": "pro"},
        }
        for i in range(count)
    ]


@pytest.fixture
def px_seeded(emulator: EmulatorServer) -> list[dict[str, Any]]:
    events = _px_events(120, span_days=400)  # more than two 190-day windows
    emulator.emulator.vendor("gainsight_px").seed({"events": events})
    return events


def test_px_lists_a_400_day_window_in_190_day_reads_with_scroll_paging(
    emulator: EmulatorServer, px_seeded: list[dict[str, Any]], tmp_path: Path
) -> None:
    out = tmp_path / "px" / "events.jsonl"
    with _dag("px_list_jsonl") as dag:
        GainsightPXListCustomEventsOperator(
            task_id="export",
            output_path=str(out),
            start=START.isoformat(),
            end=(START + timedelta(days=401)).isoformat(),
            sort="date",
            page_size=7,
        )
    result = xcom(run_dag(dag), "export")
    assert result == {"count": len(px_seeded), "path": str(out)}
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["eventId"] for e in lines] == [e["eventId"] for e in px_seeded]  # each once, in date order
    assert lines[5]["attributes"] == {"n": 5, "plan": "pro"}
    reads = emulator.emulator.vendor("gainsight_px").snapshot()["reads"]
    end_ms = int((START + timedelta(days=401)).timestamp() * 1000)
    windows = list(split_windows(START_MS, end_ms, GainsightPXHook.max_window_ms))
    assert len(windows) == 3
    per_window = [sum(lo <= e["date"] <= hi for e in px_seeded) for lo, hi in windows]
    assert sum(per_window) == len(px_seeded)
    # each window is scrolled until a page comes back short (7 per page)
    assert reads == sum(n // 7 + 1 for n in per_window)


def test_px_filters_and_descending_sort_to_csv(px_seeded: list[dict[str, Any]], tmp_path: Path) -> None:
    out = tmp_path / "purchases.csv"
    with _dag("px_list_csv", params={"name": "purchase"}) as dag:
        GainsightPXListCustomEventsOperator(
            task_id="export",
            output_path=str(out),
            start=str(START_MS),
            end=str(START_MS + 180 * DAY_MS),
            event_name="{{ params.name }}",
            filters=["identifyId==user-1", "identifyId==user-3"],
            sort="-date",
        )
    result = xcom(run_dag(dag), "export")
    expected = [
        e
        for e in px_seeded
        if e["eventName"] == "purchase"
        and e["identifyId"] in ("user-1", "user-3")
        and e["date"] <= START_MS + 180 * DAY_MS
    ][::-1]
    assert expected
    assert result == {"count": len(expected), "path": str(out)}
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["eventId"] for r in rows] == [e["eventId"] for e in expected]
    assert json.loads(rows[0]["attributes"]) == expected[0]["attributes"]
    assert rows[0]["date"] == str(expected[0]["date"])
    assert rows[0]["sessionId"] == ""


def test_px_defaults_to_the_data_interval_and_writes_object_storage(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    events = _px_events(48, span_days=4)  # 12 a day from START
    emulator.emulator.vendor("gainsight_px").seed({"events": events})
    with DAG("px_list_interval", schedule="@daily", start_date=START, catchup=False) as dag:
        GainsightPXListCustomEventsOperator(
            task_id="export", output_path=f"file://{tmp_path}/store/{{{{ ds }}}}.jsonl"
        )
    run = run_dag(dag, logical_date=START + timedelta(days=2))
    result = xcom(run, "export")
    lo = int(run.data_interval_start.timestamp() * 1000)
    hi = int(run.data_interval_end.timestamp() * 1000)
    assert any(e["date"] == hi for e in events)  # on the boundary: the next run's, not this one's
    expected = [e["eventId"] for e in events if lo <= e["date"] < hi]
    assert 0 < len(expected) < len(events)
    assert result["count"] == len(expected)
    assert result["path"] == f"file://{tmp_path}/store/{run.logical_date:%Y-%m-%d}.jsonl"
    written = (tmp_path / "store" / f"{run.logical_date:%Y-%m-%d}.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["eventId"] for line in written) == sorted(expected)


def test_px_refuses_a_bad_page_size_and_format() -> None:
    with pytest.raises(ConfigurationError):
        GainsightPXListCustomEventsOperator(task_id="x", output_path="/tmp/x", page_size=0)
    with _dag("px_list_bad_format") as dag:
        GainsightPXListCustomEventsOperator(
            task_id="export", output_path="/nonexistent/x.parquet", file_format="parquet", start=START_MS
        )
        GainsightPXListCustomEventsOperator(task_id="no_window", output_path="/nonexistent/y.jsonl")
    assert task_states(run_dag(dag)) == {"export": "failed", "no_window": "failed"}


# --------------------------------------------------------------------------------------------------- Act-On
@pytest.fixture
def acton_listings(emulator: EmulatorServer) -> list[str]:
    names = [f"Webinar {i:02d}" for i in range(7)] + ["Downloads", "Trade show"]
    vendor = emulator.emulator.vendor("acton")
    vendor.seed({"destinations": [*names[:-1], {"name": names[-1], "folderName": "Events"}]})
    return names


def test_acton_lists_every_listing_and_its_title_page_by_page(
    emulator: EmulatorServer, acton_listings: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "listings.jsonl"
    with _dag("acton_list_all") as dag:
        ActOnListCustomEventDestinationsOperator(task_id="listings", output_path=str(out), page_size=2)
    result = xcom(run_dag(dag), "listings")
    assert result == {"count": len(acton_listings), "path": str(out)}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["name"] for r in rows] == acton_listings
    assert [r["title"] for r in rows] == acton_listings
    assert len({r["id"] for r in rows}) == len(rows)
    assert rows[-1]["folderName"] == "Events"
    assert emulator.emulator.vendor("acton").counters["list_calls"] >= 5  # 9 listings, 2 per page


def test_acton_filters_listings_by_pattern_and_folder_to_csv(
    acton_listings: list[str], tmp_path: Path
) -> None:
    with _dag("acton_list_filtered", params={"pattern": "webinar 0[0-2]"}) as dag:
        ActOnListCustomEventDestinationsOperator(
            task_id="webinars",
            output_path=str(tmp_path / "webinars.csv"),
            name_pattern="{{ params.pattern }}",
        )
        ActOnListCustomEventDestinationsOperator(
            task_id="events_folder", output_path=str(tmp_path / "folder.jsonl"), folder_name="Events"
        )
        ActOnListCustomEventDestinationsOperator(
            task_id="named", output_path=str(tmp_path / "named.jsonl"), names=["Downloads", "Missing"]
        )
    run = run_dag(dag)
    assert xcom(run, "webinars")["count"] == 3
    with (tmp_path / "webinars.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "id",
        "name",
        "title",
        "folderName",
        "description",
        "sourceSize",
        "tsLastModified",
    ]
    assert [r["title"] for r in rows] == ["Webinar 00", "Webinar 01", "Webinar 02"]
    assert xcom(run, "events_folder")["count"] == 1
    assert xcom(run, "named")["count"] == 1
    assert json.loads((tmp_path / "named.jsonl").read_text())["name"] == "Downloads"


# ------------------------------------------------------------------------------------------------ CareCloud
def test_carecloud_looks_an_event_type_up_by_name(emulator: EmulatorServer, tmp_path: Path) -> None:
    events = make_events(30)  # every third one a newsletter signup, the others purchases
    emulator.emulator.vendor("carecloud").seed({"events": events})
    with _dag("cc_list_by_name", params={"type": "newsletter SIGNUP"}) as dag:
        CareCloudListEventsOperator(
            task_id="by_name", output_path=str(tmp_path / "n.jsonl"), event_type="{{ params.type }}"
        )
        CareCloudListEventsOperator(
            task_id="by_text_id", output_path=str(tmp_path / "p.jsonl"), event_type="purchase"
        )
    run = run_dag(dag)
    assert (
        xcom(run, "by_name")["count"] == sum(e["event_type_id"] == NEWSLETTER_TYPE_ID for e in events) == 10
    )
    assert xcom(run, "by_text_id")["count"] == sum(e["event_type_id"] == PURCHASE_TYPE_ID for e in events)
    got = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert {e["event_type_id"] for e in got} == {PURCHASE_TYPE_ID}


def test_carecloud_unknown_or_ambiguous_names_fail_clearly(emulator: EmulatorServer, tmp_path: Path) -> None:
    cc = emulator.emulator.vendor("carecloud")
    cc.seed(
        {
            "event_types": [
                {"event_type_id": "dup-1", "name": "Visit", "text_id": "visit_web"},
                {"event_type_id": "dup-2", "name": "visit", "text_id": "visit_store"},
            ]
        }
    )
    hook = CareCloudHook()
    try:
        with pytest.raises(ConfigurationError, match=r"2 event types are named 'Visit' \(dup-1, dup-2\)"):
            hook.find_event_type("Visit")
        with pytest.raises(ConfigurationError, match="no event type with text_id or name 'Nope'"):
            hook.find_event_type("Nope")
    finally:
        hook.close()
    with _dag("cc_list_bad_name") as dag:
        CareCloudListEventsOperator(
            task_id="ambiguous", output_path=str(tmp_path / "a.jsonl"), event_type="Visit"
        )
        CareCloudListEventsOperator(
            task_id="unknown", output_path=str(tmp_path / "u.jsonl"), event_type="Nope"
        )
        CareCloudListEventsOperator(
            task_id="text_id", output_path=str(tmp_path / "t.jsonl"), event_type="visit_web"
        )
    states = task_states(run_dag(dag))
    assert states == {"ambiguous": "failed", "unknown": "failed", "text_id": "success"}
    assert not (tmp_path / "a.jsonl").exists()
    assert not (tmp_path / "u.jsonl").exists()
    with pytest.raises(ConfigurationError):
        CareCloudListEventsOperator(task_id="both", output_path="/tmp/x", event_type_id="a", event_type="b")
