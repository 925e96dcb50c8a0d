"""The delivery ledger on its own: segment format, sharing between runs, retention, compaction, resends."""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.sync.digests import key_digest
from airflow_provider_events.sync.ledger import (
    DEFAULT_RETENTION_DAYS,
    LedgerOptions,
    as_bool,
    destination_dir_name,
    ledger_root,
    open_ledger,
    warn_unstable_keys,
)
from airflow_provider_events.sync.ledger_segments import (
    CorruptSegmentError,
    SegmentStore,
    day_bucket,
    decode_digests,
    encode_digests,
)
from airflow_provider_events.sync.report import DeliveryReport

DEST = "gainsight_px:gainsight_px_default:property=AP-1/event=*"


def digests(prefix: str, count: int) -> list[int]:
    return [key_digest(f"{prefix}-{i}") for i in range(count)]


def ledger(root: Path, **options: object):  # type: ignore[no-untyped-def]
    opened = open_ledger(DEST, LedgerOptions(path=str(root), **options))  # type: ignore[arg-type]
    assert opened is not None
    return opened


def days_ago(days: int) -> str:
    return day_bucket(datetime.now(timezone.utc) - timedelta(days=days))


# ---------------------------------------------------------------------------------------------- format
@pytest.mark.parametrize("count", [0, 1, 2, 1000])
def test_segment_round_trip_is_sorted_and_distinct(count: int) -> None:
    values = [random.getrandbits(64) or 1 for _ in range(count)]
    decoded = decode_digests(encode_digests(values + values[: count // 2]))
    assert list(decoded) == sorted(set(values))


def test_segment_is_smaller_than_eight_bytes_a_key() -> None:
    values = [random.getrandbits(64) or 1 for _ in range(100_000)]
    assert len(encode_digests(values)) < 100_000 * 7  # ~6.2 bytes a key at this count


def test_damaged_segments_are_refused() -> None:
    data = encode_digests(range(1, 500))
    with pytest.raises(CorruptSegmentError):
        decode_digests(b"nope" + data[4:])
    with pytest.raises(CorruptSegmentError):
        decode_digests(data[: len(data) // 2])


# ---------------------------------------------------------------------------------------------- sharing
def test_keys_recorded_by_one_run_are_skipped_by_the_next(tmp_path: Path) -> None:
    first = ledger(tmp_path)
    assert not first.delivered_earlier(key_digest("order-1"))
    for d in digests("order", 50):
        first.record(d)
    first.close()

    second = ledger(tmp_path)
    assert all(second.delivered_earlier(d) for d in digests("order", 50))
    assert not second.delivered_earlier(key_digest("order-50"))
    assert len(second) == 50
    # another destination has its own ledger
    other = open_ledger(DEST.replace("AP-1", "AP-2"), LedgerOptions(path=str(tmp_path)))
    assert other is not None
    assert not other.delivered_earlier(digests("order", 1)[0])


def test_concurrent_writers_never_lose_each_others_keys(tmp_path: Path) -> None:
    a, b = ledger(tmp_path), ledger(tmp_path)
    a.load()
    b.load()
    a.record_many(digests("a", 300))
    b.record_many(digests("b", 300))
    a.close()
    b.close()
    reader = ledger(tmp_path)
    assert all(reader.holds(d) for d in digests("a", 300) + digests("b", 300))


def test_a_running_ledger_picks_up_what_other_runs_wrote_meanwhile(tmp_path: Path) -> None:
    running = ledger(tmp_path, refresh_interval=0.0)
    running.load()
    other = ledger(tmp_path)
    other.record_many(digests("late", 10))
    assert all(running.delivered_earlier(d) for d in digests("late", 10))


def test_runs_at_the_same_moment_are_told_they_both_sent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = ledger(tmp_path), ledger(tmp_path)
    a.load()
    b.load()  # both looked before either recorded: both send the same 30 keys
    for d in digests("same", 30):
        a.record(d)
        b.record(d)
    b.record_many(digests("b-only", 5))
    b.flush()
    log = logging.getLogger("ledger-test")
    with caplog.at_level(logging.WARNING, logger="ledger-test"):
        a.finish(DeliveryReport(vendor="gainsight_px", rows_read=30), log, fresh_attempt=True)
    assert a.concurrent_overlap == 30
    (record,) = [r for r in caplog.records if r.name == "ledger-test"]
    assert "30 events" in record.getMessage()
    assert "pool" in record.getMessage()
    b.finish(DeliveryReport(vendor="gainsight_px", rows_read=35), log, fresh_attempt=True)
    assert b.concurrent_overlap == 30


def test_records_are_written_out_by_count_without_waiting_for_close(tmp_path: Path) -> None:
    writer = ledger(tmp_path, flush_records=100, flush_interval=3600.0)
    for d in digests("k", 250):
        writer.record(d)
    reader = ledger(tmp_path)  # the writer has not closed: a hard kill now keeps 200 of 250
    assert sum(reader.holds(d) for d in digests("k", 250)) == 200
    assert writer.recorded == 250


def test_resend_switch_sends_again_and_counts(tmp_path: Path) -> None:
    first = ledger(tmp_path)
    first.record_many(digests("e", 20))
    again = ledger(tmp_path, resend_delivered=True)
    assert not any(again.delivered_earlier(d) for d in digests("e", 20))
    assert again.resent == 20
    report = DeliveryReport(vendor="gainsight_px", rows_read=20)
    again.finish(report, logging.getLogger("test"), fresh_attempt=True)
    assert report.resent_delivered == 20


# ---------------------------------------------------------------------------------------------- retention
def test_keys_older_than_the_retention_are_forgotten_and_removed(tmp_path: Path) -> None:
    base = tmp_path / destination_dir_name(DEST)
    store = SegmentStore(base)
    store.write(days_ago(10), digests("old", 30))
    store.write(days_ago(2), digests("recent", 30))
    store.write(days_ago(0), digests("today", 30))

    fresh = ledger(tmp_path, retention_days=5)
    assert not any(fresh.holds(d) for d in digests("old", 30))
    assert all(fresh.holds(d) for d in digests("recent", 30) + digests("today", 30))
    fresh.close()  # housekeeping drops the expired bucket
    assert store.buckets() == sorted([days_ago(2), days_ago(0)])

    default = ledger(tmp_path)
    assert default.retention_days == DEFAULT_RETENTION_DAYS == 30
    with pytest.raises(ConfigurationError):
        ledger(tmp_path, retention_days=0)


def test_retention_can_be_set_for_the_deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_PROVIDER_EVENTS_LEDGER_RETENTION_DAYS", "7")
    assert ledger(tmp_path).retention_days == 7
    assert ledger(tmp_path, retention_days=3).retention_days == 3


# ---------------------------------------------------------------------------------------------- compaction
def test_many_small_segments_of_a_day_are_merged_into_one(tmp_path: Path) -> None:
    writers = []
    for n in range(20):  # twenty runs of the day, each with its own segment
        writer = ledger(tmp_path, compact_threshold=1000)
        writer.record_many(digests(f"run{n}", 100))
        writer.close()
        writers.append(writer)
    store = writers[0].store
    before = store.segments(day_bucket())
    assert len(before) == 20
    size_before = sum(p.stat().st_size for p in before)

    compactor = ledger(tmp_path, compact_threshold=16)
    compactor.close()
    after = store.segments(day_bucket())
    assert len(after) == 1
    assert after[0].name.startswith("c-")
    assert after[0].stat().st_size < size_before  # one header, denser deltas
    reader = ledger(tmp_path)
    assert all(reader.holds(d) for n in range(20) for d in digests(f"run{n}", 100))
    assert len(reader) == 2000


def test_a_reader_racing_a_compaction_finds_every_key(tmp_path: Path) -> None:
    store = SegmentStore(tmp_path / "dest")
    paths = [store.write(day_bucket(), digests(f"s{n}", 50))[0] for n in range(3)]
    listed = store.segments(day_bucket())
    # a compaction finishes between the reader's listing and its reads: merged written, inputs removed
    store.write(day_bucket(), [d for n in range(3) for d in digests(f"s{n}", 50)], compacted=True)
    for path in paths:
        store.remove(path)
    with pytest.raises(FileNotFoundError):
        store.read(listed[0])
    arrays = store.read_bucket(day_bucket())
    assert {d for a in arrays for d in a} == {d for n in range(3) for d in digests(f"s{n}", 50)}


# ---------------------------------------------------------------------------------------------- where
def test_object_storage_root_works_like_a_directory(tmp_path: Path) -> None:
    uri = f"memory://ledger-test-{random.getrandbits(32):x}/ledger"
    writer = open_ledger(DEST, LedgerOptions(path=uri))
    assert writer is not None
    assert not isinstance(writer.store.base, Path)
    writer.record_many(digests("s3", 40))
    writer.close()
    reader = open_ledger(DEST, LedgerOptions(path=uri))
    assert reader is not None
    assert all(reader.holds(d) for d in digests("s3", 40))


def test_root_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_PROVIDER_EVENTS_LEDGER_PATH", raising=False)
    monkeypatch.setenv("AIRFLOW_PROVIDER_EVENTS_STATE_DIR", str(tmp_path / "state"))
    assert ledger_root() == tmp_path / "state" / "ledger"
    assert ledger_root(checkpoint_path=str(tmp_path / "cp")) == tmp_path / "state" / "ledger"
    assert str(ledger_root(checkpoint_path="memory://bucket/cp")).endswith("bucket/cp/ledger")
    assert ledger_root(f"file://{tmp_path}/l") == tmp_path / "l"
    monkeypatch.setenv("AIRFLOW_PROVIDER_EVENTS_LEDGER_PATH", str(tmp_path / "env"))
    assert ledger_root() == tmp_path / "env"
    assert ledger_root(str(tmp_path / "explicit")) == tmp_path / "explicit"
    assert open_ledger(DEST, LedgerOptions(enabled=False)) is None


def test_a_deployment_setting_puts_the_ledger_where_every_worker_reaches_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``ledger_location``, else beside an object-storage ``rejects_location``; local only as a last resort,
    and then with a warning when tasks run on several hosts."""
    monkeypatch.delenv("AIRFLOW_PROVIDER_EVENTS_LEDGER_PATH", raising=False)
    monkeypatch.setenv("AIRFLOW_PROVIDER_EVENTS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("AIRFLOW__PROVIDER_EVENTS__REJECTS_LOCATION", "memory://shared/airflow/rejects/")
    assert str(ledger_root()).endswith("shared/airflow/ledger")
    assert type(ledger_root()).__name__ == "ObjectStoragePath"
    # the task's own checkpoint_path comes before the deployment's rejects_location
    assert str(ledger_root(checkpoint_path="memory://bucket/cp")).endswith("bucket/cp/ledger")
    monkeypatch.setenv("AIRFLOW__PROVIDER_EVENTS__LEDGER_LOCATION", "memory://shared/ledger-root")
    assert str(ledger_root(checkpoint_path="memory://bucket/cp")).endswith("shared/ledger-root")
    assert ledger_root(str(tmp_path / "explicit")) == tmp_path / "explicit"  # the operator's ledger_path wins

    monkeypatch.delenv("AIRFLOW__PROVIDER_EVENTS__LEDGER_LOCATION")
    monkeypatch.setenv("AIRFLOW__PROVIDER_EVENTS__REJECTS_LOCATION", str(tmp_path / "rejects"))  # local
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    with caplog.at_level("WARNING", logger="airflow_provider_events.sync.ledger"):
        assert ledger_root() == tmp_path / "state" / "ledger"
    assert "while tasks run on several hosts" in caplog.text
    caplog.clear()
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    with caplog.at_level("WARNING", logger="airflow_provider_events.sync.ledger"):
        assert ledger_root() == tmp_path / "state" / "ledger"
    assert "several hosts" not in caplog.text


# ---------------------------------------------------------------------------------------------- keys
def test_unstable_key_warning_only_for_scheduled_runs_without_key_columns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("ledger-test")
    with caplog.at_level(logging.WARNING, logger="ledger-test"):
        warn_unstable_keys(log, None, "manual")
        warn_unstable_keys(log, ["order_id"], "scheduled")
        assert not caplog.records
        warn_unstable_keys(log, None, "scheduled")
        warn_unstable_keys(log, [], "backfill")
    assert len(caplog.records) == 2
    assert "key_columns" in caplog.records[0].getMessage()


def test_many_rows_sharing_a_key_are_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("ledger-test")
    report = DeliveryReport(vendor="gainsight_px", rows_read=100, accepted=10, duplicates_skipped=90)
    with caplog.at_level(logging.WARNING, logger="ledger-test"):
        ledger(tmp_path).finish(report, log, fresh_attempt=False)  # a retry: skips are the checkpoint's
        assert not caplog.records
        ledger(tmp_path).finish(report, log, fresh_attempt=True)
    (record,) = caplog.records
    assert "90 of 100 rows shared an idempotency key" in record.getMessage()
    assert "identify ONE event" in record.getMessage()


def test_switch_parsing() -> None:
    assert [as_bool("x", v) for v in ("True", " yes ", True, "1")] == [True] * 4
    assert [as_bool("x", v) for v in ("false", None, "", False, "0")] == [False] * 5
    with pytest.raises(ConfigurationError):
        as_bool("x", "maybe")
