"""Engine outcomes against the Gainsight PX emulator, without a DAG: run abort, ambiguous, vendor down."""

from __future__ import annotations

import dataclasses
import json

import pytest
from helpers.sync import px_received

from airflow_provider_events.adapters.gainsight_px import GainsightPXAdapter
from airflow_provider_events.exceptions import (
    DeliveryAbortedError,
    DeliveryIncompleteError,
    InDoubtThresholdExceededError,
)
from airflow_provider_events.hooks.retry import RetryPolicy
from airflow_provider_events.sync.adapter import PreparedEvent
from airflow_provider_events.sync.checkpoint import CheckpointIdentity, open_checkpoint
from airflow_provider_events.sync.engine import SyncOptions, run_sync
from airflow_provider_events.sync.mapping import RowMapping
from airflow_provider_events.sync.rejects import RejectsWriter
from airflow_provider_events.sync.runner import build_adapter
from airflow_provider_events.sync.source import RecordsSource

pytestmark = pytest.mark.usefixtures("tmp_state")

RECORDS = [{"id": i, "identifyId": f"u{i}", "eventName": "e"} for i in range(1, 13)]
MAPPING = {"identifyId": "identifyId", "eventName": "eventName"}


class NoReadBackPXAdapter(GainsightPXAdapter):
    """Gainsight PX as if it could not be asked (like ExpertSender CDP): retry_ambiguous decides."""

    supports_lookup = False


def sync(tmp_path, conn_id="gainsight_px_default", attempts=1, read_back=True, **options):  # type: ignore[no-untyped-def]
    adapter = build_adapter(conn_id, {"readback_visibility_seconds": 0}, options.get("max_concurrency"))
    if not read_back:
        adapter = NoReadBackPXAdapter(adapter.hook, adapter.options)
    adapter.hook.retry_policy = RetryPolicy(max_attempts=attempts, backoff_initial=0.01, backoff_max=0.02)
    checkpoint = open_checkpoint(CheckpointIdentity("dag", "run", "task"))
    try:
        return run_sync(
            adapter=adapter,
            source=RecordsSource(RECORDS),
            mapping=RowMapping(MAPPING),
            checkpoint=checkpoint,
            rejects=RejectsWriter(str(tmp_path / "rejects.jsonl")),
            options=SyncOptions(key_columns=["id"], **options),
        )
    finally:
        checkpoint.close()


def test_bad_api_key_stops_the_run_at_once(emulator, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    conn = dict(emulator.connection("gainsight_px"), password="wrong-key")
    monkeypatch.setenv("AIRFLOW_CONN_PX_BAD", json.dumps(conn))
    with pytest.raises(DeliveryAbortedError, match="every event would be refused") as err:
        sync(tmp_path, "px_bad", max_concurrency=2)
    report = err.value.report  # type: ignore[attr-defined]
    assert report.accepted == 0
    assert report.sent <= 4
    assert "wrong-key" not in str(err.value)


def test_ambiguous_failures_are_read_back_not_resent(emulator, tmp_path) -> None:  # type: ignore[no-untyped-def]
    emulator.emulator.set_faults("gainsight_px", drop_after_accept=3)
    # 3 attempts per request: a dropped read-back (a GET) is retried by the hook
    report = sync(tmp_path, max_concurrency=1, attempts=3)
    # the dropped answers were looked up by eventId: stored, so acknowledged and not resent
    assert report.resolved_by_lookup >= 1
    assert report.accepted == 12
    assert report.in_doubt == report.failed == report.possible_duplicates == 0
    assert len(px_received(emulator)) == 12
    again = sync(tmp_path, max_concurrency=1)  # a retry: nothing resent; the report covers the task instance
    assert again.sent == report.sent  # summed over the attempts: the retry sent nothing
    assert again.accepted == 12
    assert len(px_received(emulator)) == 12


def test_ambiguous_failures_are_never_resent_by_default_and_fail_the_task(emulator, tmp_path) -> None:  # type: ignore[no-untyped-def]
    emulator.emulator.set_faults("gainsight_px", drop_after_accept=3)
    with pytest.raises(InDoubtThresholdExceededError, match="3 of 12 events are in doubt") as err:
        sync(tmp_path, max_concurrency=1, read_back=False)
    report = err.value.report  # type: ignore[attr-defined]
    assert report.in_doubt == report.ambiguous == 3
    assert report.accepted == 9
    assert report.failed == 0
    assert report.unaccounted == 0
    assert len(px_received(emulator)) == 12  # the vendor did store the 3 dropped ones
    # a retry: nothing resent, not even the 3 in doubt, and the doubt is still reported, not forgotten
    with pytest.raises(InDoubtThresholdExceededError):
        sync(tmp_path, max_concurrency=1, read_back=False)
    again = sync(tmp_path, max_concurrency=1, read_back=False, max_in_doubt=3)  # the user accepts them
    assert again.sent == report.sent == 12  # summed over the attempts: no retry sent anything
    assert (again.accepted, again.in_doubt, again.attempts) == (9, 3, 3)
    assert len(px_received(emulator)) == 12


def test_retry_ambiguous_resends_once(emulator, tmp_path) -> None:  # type: ignore[no-untyped-def]
    emulator.emulator.set_faults("gainsight_px", drop_after_accept=2)
    report = sync(tmp_path, max_concurrency=1, retry_ambiguous=True, read_back=False)
    assert report.accepted == 12
    assert report.ambiguous == 0
    assert report.possible_duplicates == 2  # counted, not hidden
    assert len(px_received(emulator)) == 14  # at-least-once: the 2 in doubt arrived twice


def test_vendor_down_stops_after_consecutive_failures(emulator, tmp_path) -> None:  # type: ignore[no-untyped-def]
    emulator.emulator.set_faults("gainsight_px", error_rate=1.0)
    with pytest.raises(DeliveryAbortedError, match="looks unavailable") as err:
        sync(tmp_path, max_concurrency=1, max_consecutive_failures=3, attempts=2)
    first = err.value.report  # type: ignore[attr-defined]
    # stopped after 3 failures (plus the in-flight window of 2), not after 12
    assert first.rows_read <= 5
    # a 500/502 to a POST may have been processed (ambiguous); the read-back failed too (the vendor is
    # down), so those stay in doubt (at-most-once), the others failed
    assert first.failed + first.in_doubt == first.rows_read
    assert first.unaccounted == 0
    assert first.accepted == 0
    emulator.emulator.set_faults("gainsight_px", error_rate=0.0)
    # failed events were not acknowledged: the next attempt delivers them; the ones in doubt are not resent
    report = sync(tmp_path, max_concurrency=2, max_in_doubt=12)
    assert report.accepted == 12 - first.in_doubt
    assert report.in_doubt == first.in_doubt
    assert len(px_received(emulator)) == 12 - first.in_doubt


def test_failed_events_fail_the_task_for_a_retry(emulator, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from airflow_provider_events.testing.emulator import free_port

    # nothing listens there: connection refused, so the events certainly did not arrive (not ambiguous)
    conn = dict(emulator.connection("gainsight_px"), host=f"http://127.0.0.1:{free_port()}/v1")
    monkeypatch.setenv("AIRFLOW_CONN_PX_DOWN", json.dumps(conn))
    with pytest.raises(DeliveryIncompleteError, match="12 events could not be delivered") as err:
        sync(tmp_path, "px_down", max_concurrency=2, max_consecutive_failures=100)
    assert err.value.report.in_doubt == 0  # type: ignore[attr-defined]
    report = sync(tmp_path, max_concurrency=2)  # the vendor is back: the retry delivers all 12
    assert report.accepted == 12


def test_prepared_event_stays_a_frozen_dataclass() -> None:
    event = PreparedEvent(3, "k3", {"a": 1})
    assert (event.row_number, event.key, event.payload) == (3, "k3", {"a": 1})
    assert event == PreparedEvent(row_number=3, key="k3", payload={"a": 1})
    assert repr(event) == "PreparedEvent(row_number=3, key='k3', payload={'a': 1})"
    assert [f.name for f in dataclasses.fields(event)] == ["row_number", "key", "payload"]
    assert dataclasses.replace(event, key="k4").key == "k4"
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.key = "other"  # type: ignore[misc]
