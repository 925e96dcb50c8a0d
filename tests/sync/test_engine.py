"""Engine outcomes against the Gainsight PX emulator, without a DAG: run abort, ambiguous, vendor down."""

from __future__ import annotations

import json

import pytest

from airflow_provider_events.exceptions import DeliveryAbortedError, DeliveryIncompleteError
from airflow_provider_events.hooks.retry import RetryPolicy
from airflow_provider_events.sync.checkpoint import CheckpointIdentity, open_checkpoint
from airflow_provider_events.sync.engine import SyncOptions, run_sync
from airflow_provider_events.sync.mapping import RowMapping
from airflow_provider_events.sync.rejects import RejectsWriter
from airflow_provider_events.sync.runner import build_adapter
from airflow_provider_events.sync.source import RecordsSource

from .conftest import px_received

pytestmark = pytest.mark.usefixtures("tmp_state")

RECORDS = [{"id": i, "identifyId": f"u{i}", "eventName": "e"} for i in range(1, 13)]
MAPPING = {"identifyId": "identifyId", "eventName": "eventName"}


def sync(tmp_path, conn_id="gainsight_px_default", attempts=1, **options):  # type: ignore[no-untyped-def]
    adapter = build_adapter(conn_id, None, options.get("max_concurrency"))
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


def test_ambiguous_failures_are_never_resent_by_default(emulator, tmp_path) -> None:  # type: ignore[no-untyped-def]
    emulator.emulator.set_faults("gainsight_px", drop_after_accept=3)
    report = sync(tmp_path, max_concurrency=1)
    assert report.ambiguous == 3
    assert report.accepted == 9
    assert report.failed == 0
    assert len(px_received(emulator)) == 12  # the vendor did store the 3 dropped ones
    again = sync(tmp_path, max_concurrency=1)  # a retry: nothing resent, not even the 3 in doubt
    assert again.duplicates_skipped == 12
    assert again.sent == 0
    assert len(px_received(emulator)) == 12


def test_retry_ambiguous_resends_once(emulator, tmp_path) -> None:  # type: ignore[no-untyped-def]
    emulator.emulator.set_faults("gainsight_px", drop_after_accept=2)
    report = sync(tmp_path, max_concurrency=1, retry_ambiguous=True)
    assert report.accepted == 12
    assert report.ambiguous == 0
    assert len(px_received(emulator)) == 14  # at-least-once: the 2 in doubt arrived twice


def test_vendor_down_stops_after_consecutive_failures(emulator, tmp_path) -> None:  # type: ignore[no-untyped-def]
    emulator.emulator.set_faults("gainsight_px", error_rate=1.0)
    with pytest.raises(DeliveryAbortedError, match="looks unavailable") as err:
        sync(tmp_path, max_concurrency=1, max_consecutive_failures=3, attempts=2)
    first = err.value.report  # type: ignore[attr-defined]
    # stopped after 3 failures (plus the in-flight window of 2), not after 12
    assert first.sent <= 5
    assert first.failed + first.ambiguous == first.sent
    assert first.accepted == 0
    emulator.emulator.set_faults("gainsight_px", error_rate=0.0)
    # failed events were not acknowledged: the next attempt delivers them; a 500/502 to a POST may have been
    # processed (ambiguous), so those were recorded as attempted and are not resent (at-most-once)
    report = sync(tmp_path, max_concurrency=2)
    assert report.accepted == 12 - first.ambiguous
    assert report.duplicates_skipped == first.ambiguous


def test_failed_events_fail_the_task_for_a_retry(emulator, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from airflow_provider_events.testing.emulator import free_port

    # nothing listens there: connection refused, so the events certainly did not arrive (not ambiguous)
    conn = dict(emulator.connection("gainsight_px"), host=f"http://127.0.0.1:{free_port()}/v1")
    monkeypatch.setenv("AIRFLOW_CONN_PX_DOWN", json.dumps(conn))
    with pytest.raises(DeliveryIncompleteError, match="12 events could not be delivered") as err:
        sync(tmp_path, "px_down", max_concurrency=2, max_consecutive_failures=100)
    assert err.value.report.ambiguous == 0  # type: ignore[attr-defined]
    report = sync(tmp_path, max_concurrency=2)  # the vendor is back: the retry delivers all 12
    assert report.accepted == 12
