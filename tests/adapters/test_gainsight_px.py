"""GainsightPXAdapter alone and through the delivery engine, against the emulator over loopback."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from helpers.gainsight_px import PROPERTY_KEY, PX, READ_KEY

from airflow_provider_events.adapters.gainsight_px import DeliveryLedger, GainsightPXAdapter
from airflow_provider_events.exceptions import ConfigurationError, DeliveryAbortedError, InvalidRecordError
from airflow_provider_events.hooks.gainsight_px import GainsightPXHook, event_id_for_key
from airflow_provider_events.sync.adapter import ErrorScope, SendOutcome, adapter_class_for
from airflow_provider_events.sync.checkpoint import CheckpointIdentity
from airflow_provider_events.sync.engine import SyncOptions
from airflow_provider_events.sync.runner import sync_rows
from airflow_provider_events.sync.source import RecordsSource

T0_MS = 1_709_294_400_000
MAPPING = {
    "identifyId": "user_id",
    "eventName": "event",
    "date": "ts_ms",
    "accountId": "account",
    "attributes": {"amount": "amount", "sku": "sku"},
}


def _rows(n: int, **overrides: Any) -> list[dict[str, Any]]:
    rows = [
        {
            "order_id": f"o-{i}",
            "user_id": f"user-{i % 50}",
            "event": "purchase",
            "ts_ms": T0_MS + i,
            "account": "acme",
            "amount": i / 4,
            "sku": f"SKU{i % 7}",
        }
        for i in range(n)
    ]
    for row in rows:
        row.update(overrides)
    return rows


def _sync(rows: list[dict[str, Any]], tmp_path: Path, **options: Any) -> Any:
    destination_options = options.pop("destination_options", None)
    return sync_rows(
        destination_conn_id="gainsight_px_default",
        source=RecordsSource(rows),
        mapping=options.pop("mapping", MAPPING),
        identity=CheckpointIdentity("px_dag", f"run-{time.monotonic_ns()}", "send"),
        destination_options=destination_options,
        options=SyncOptions(key_columns=["order_id"], **options),
        rejects_path=str(tmp_path / "rejects.jsonl"),
        checkpoint_path=str(tmp_path / "checkpoint"),
    )


# ---------------------------------------------------------------- the adapter on its own
def test_registered_for_the_connection_type() -> None:
    assert adapter_class_for("gainsight_px") is GainsightPXAdapter
    assert GainsightPXAdapter.default_max_requests_per_second is not None
    assert GainsightPXAdapter.default_max_requests_per_second < 200
    assert GainsightPXAdapter.default_max_concurrency >= 8


def test_prepare_sets_event_id_and_defaults(hook: GainsightPXHook) -> None:
    adapter = GainsightPXAdapter(hook, {"user_type": "lead", "event_name": "fallback"})
    adapter.open()
    payload = adapter.prepare({"identifyId": "u1", "date": T0_MS, "attributes": {"a": 1}}, "key-1")
    assert payload == {
        "identifyId": "u1",
        "propertyKey": PROPERTY_KEY,
        "eventName": "fallback",
        "userType": "LEAD",
        "date": T0_MS,
        "eventId": event_id_for_key("key-1"),
        "attributes": {"a": 1},
    }
    assert adapter.prepare({"identifyId": "u1", "date": T0_MS}, "key-1")["eventId"] == payload["eventId"]


def test_prepare_rejects_per_field(hook: GainsightPXHook) -> None:
    adapter = GainsightPXAdapter(hook)
    adapter.open()
    with pytest.raises(InvalidRecordError) as info:
        adapter.prepare({"identifyId": "u1"}, "k")
    assert info.value.field == "eventName"
    with pytest.raises(InvalidRecordError) as info:
        adapter.prepare({"identifyId": "u1", "eventName": "e", "date": 1_700_000_000}, "k")
    assert info.value.field == "date"


def test_property_key_option_wins_and_missing_key_is_a_row_error(
    monkeypatch: pytest.MonkeyPatch, hook: GainsightPXHook, px: PX
) -> None:
    adapter = GainsightPXAdapter(hook, {"property_key": "AP-OPTION-2"})
    adapter.open()
    assert adapter.prepare({"identifyId": "u", "eventName": "e"}, "k")["propertyKey"] == "AP-OPTION-2"
    monkeypatch.setenv(
        "AIRFLOW_CONN_PX_NO_TAG", json.dumps({"conn_type": "gainsight_px", "host": px.base, "password": "x"})
    )
    bare = GainsightPXAdapter(GainsightPXHook("px_no_tag"))
    bare.open()
    with pytest.raises(InvalidRecordError, match="property_key") as info:
        bare.prepare({"identifyId": "u", "eventName": "e"}, "k")
    assert info.value.field == "propertyKey"


def test_bad_options_are_configuration_errors(hook: GainsightPXHook) -> None:
    with pytest.raises(ConfigurationError, match="unknown destination_options"):
        GainsightPXAdapter(hook, {"propertyKey": "x"})
    with pytest.raises(ConfigurationError, match="user_type"):
        GainsightPXAdapter(hook, {"user_type": "ADMIN"})
    with pytest.raises(ConfigurationError, match="DeliveryLedger"):
        GainsightPXAdapter(hook, {"delivery_ledger": {}})


def test_send_delivers_and_records_in_the_ledger(hook: GainsightPXHook, px: PX) -> None:
    ledger = DeliveryLedger()
    adapter = GainsightPXAdapter(hook, {"delivery_ledger": ledger})
    adapter.open()
    payload = adapter.prepare({"identifyId": "u", "eventName": "e", "date": T0_MS}, "k")
    assert adapter.send(payload) is SendOutcome.ACCEPTED
    assert px.state.snapshot()["received"] == [payload]
    assert (ledger.accepted, ledger.min_date, ledger.max_date) == (1, T0_MS, T0_MS)
    assert ledger.holds(payload["eventId"])


# ---------------------------------------------------------------- through the engine
def test_engine_delivers_rejects_per_field_and_keeps_event_ids(px: PX, tmp_path: Path) -> None:
    rows = _rows(20)
    rows[3]["ts_ms"] = 1_709_294_400  # seconds, not milliseconds
    rows[7]["event"] = None
    report = _sync(rows, tmp_path, max_rejected=5)
    assert (report.rows_read, report.accepted, report.rejected, report.failed) == (20, 18, 2, 0)
    rejects = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert sorted(r.get("field") for r in rejects) == ["date", "eventName"]
    received = px.state.snapshot()["received"]
    assert {e["eventId"] for e in received} == {
        event_id_for_key(r["order_id"]) for i, r in enumerate(rows) if i not in (3, 7)
    }
    [first] = [e for e in received if e["eventId"] == event_id_for_key("o-1")]
    assert first["attributes"] == {"amount": 0.25, "sku": "SKU1"}
    assert (first["identifyId"], first["date"], first["userType"]) == ("user-1", T0_MS + 1, "USER")


def test_engine_stops_at_once_on_a_read_only_key(
    monkeypatch: pytest.MonkeyPatch, px: PX, tmp_path: Path
) -> None:
    conn = {
        "conn_type": "gainsight_px",
        "host": px.base,
        "password": READ_KEY,
        "extra": {"property_key": "AP-2"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_GAINSIGHT_PX_DEFAULT", json.dumps(conn))
    with pytest.raises(DeliveryAbortedError):
        _sync(_rows(50), tmp_path)
    assert px.state.snapshot()["events_received"] == 0
    assert px.state.snapshot()["forbidden"] <= GainsightPXAdapter.default_max_concurrency * 2


def test_vendor_400_rejects_only_that_event(hook: GainsightPXHook) -> None:
    from airflow_provider_events.exceptions import VendorBadRequestError

    adapter = GainsightPXAdapter(hook)
    error = VendorBadRequestError("gainsight_px", 400, "eventName exceeds 2000 characters")
    assert adapter.error_scope(error) is ErrorScope.ROW


def test_engine_reads_back_events_processed_but_unanswered(px: PX, tmp_path: Path) -> None:
    """Events processed but unanswered are looked up by their eventId instead of resent: no duplicate, even
    with retry_ambiguous (which applies only when the read-back cannot tell)."""
    px.server.emulator.set_faults("gainsight_px", drop_after_accept=2)
    report = _sync(
        _rows(60),
        tmp_path,
        retry_ambiguous=True,
        max_requests_per_second=0,
        max_concurrency=4,
        destination_options={"readback_visibility_seconds": 0},
    )
    snap = px.state.snapshot()
    assert report.failed == 0
    assert report.accepted == 60
    assert report.resolved_by_lookup >= 1
    assert report.possible_duplicates == 0
    assert {e["eventId"] for e in snap["received"]} == {event_id_for_key(f"o-{i}") for i in range(60)}
    assert snap["duplicate_event_id_count"] == 0
    assert px.server.emulator.fault_counters("gainsight_px")["dropped_after_accept"] == 2


@pytest.mark.slow
def test_ten_thousand_events_at_the_rate_limit_without_429(px: PX, tmp_path: Path) -> None:
    px.server.emulator.set_faults("gainsight_px", rate_limit=400)
    started = time.monotonic()
    report = _sync(_rows(10_000), tmp_path, max_requests_per_second=350)
    elapsed = time.monotonic() - started
    counters = px.server.emulator.fault_counters("gainsight_px")
    assert report.accepted == 10_000
    assert report.throttled == 0
    assert counters["rate_limited"] == 0
    assert px.state.snapshot()["events_received"] == 10_000
    assert elapsed >= 10_000 / 350 - 2, "the client paced itself"
