"""Source streaming over a real SQLite connection, the checkpoint stores, digests, and the rejects file."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.sync.checkpoint import (
    ATTEMPTED,
    CheckpointIdentity,
    LocalCheckpoint,
    ObjectStorageCheckpoint,
    open_checkpoint,
)
from airflow_provider_events.sync.digests import DigestSet, key_digest
from airflow_provider_events.sync.rejects import RejectsWriter, default_rejects_path, read_rejects
from airflow_provider_events.sync.source import RecordsSource, SqlSource

IDENTITY = CheckpointIdentity("dag", "manual__2024-01-01T00:00:00+00:00", "sync", 3)


def test_sql_source_streams_rows_in_chunks(warehouse) -> None:  # type: ignore[no-untyped-def]
    warehouse(2500)
    source = SqlSource(
        "warehouse",
        "SELECT id, user_id, amount FROM events WHERE id > :low ORDER BY id",
        {"low": 500},
        chunk_size=300,
    )
    iterator = iter(source)
    first = next(iterator)
    assert source.columns == ["id", "user_id", "amount"]
    assert first == {"id": 501, "user_id": "user-000501", "amount": 751.5}
    rest = sum(1 for _ in iterator)
    assert rest == 1999
    assert "chunks of 300" in source.describe()


def test_sql_source_refuses_duplicate_columns_and_non_sql_connections(warehouse, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    warehouse(3)
    with pytest.raises(ConfigurationError, match="duplicate column names"):
        list(SqlSource("warehouse", "SELECT id, id FROM events"))
    monkeypatch.setenv("AIRFLOW_CONN_NOTSQL", json.dumps({"conn_type": "gainsight_px", "host": "http://x"}))
    with pytest.raises(ConfigurationError, match="not a SQL"):
        list(SqlSource("notsql", "SELECT 1"))


def test_records_source_accepts_lists_and_json() -> None:
    source = RecordsSource('[{"a": 1}, {"a": 2, "b": 3}]')
    assert source.total == 2
    assert source.columns == ["a", "b"]
    assert list(source) == [{"a": 1}, {"a": 2, "b": 3}]
    with pytest.raises(ConfigurationError, match="not a dict"):
        RecordsSource([{"a": 1}, 5])  # type: ignore[list-item]


def test_digest_set_behaves_like_a_set() -> None:
    digests = [key_digest(f"key-{i}") for i in range(5000)]
    s = DigestSet(digests[:2500])
    assert len(s) == 2500
    assert all(d in s for d in digests[:2500])
    assert not any(d in s for d in digests[2500:])
    assert not s.add(digests[0])
    assert s.add(digests[-1])
    assert sorted(s) == sorted(set(digests[:2500]) | {digests[-1]})
    assert s.nbytes <= 16 * 8 * 2501  # at most 16 slots of 8 bytes per key after growth


def test_local_checkpoint_persists_acks_state_and_ignores_a_torn_record(tmp_state: Path) -> None:
    cp = open_checkpoint(IDENTITY)
    assert isinstance(cp, LocalCheckpoint)
    assert "map_3" in cp.location
    assert ":" not in cp.location
    cp.ack(key_digest("a"))
    cp.ack(key_digest("b"), ATTEMPTED)
    cp.ack_many([key_digest("c"), key_digest("a")])
    cp.put("jobs", ["j1"])
    cp.close()
    with open(Path(cp.location) / "acks.bin", "ab") as handle:  # a record cut short by a kill
        handle.write(b"A\x01\x02")
    again = open_checkpoint(IDENTITY)
    assert again.loaded_acked == 2
    assert again.loaded_attempted == 1
    assert again.is_done(key_digest("a"))
    assert again.is_done(key_digest("b"))
    assert not again.is_done(key_digest("d"))
    assert again.get("jobs") == ["j1"]
    assert again.get("other") is None
    assert Path(again.spool_dir).is_dir()
    other = open_checkpoint(CheckpointIdentity("dag", IDENTITY.run_id, "sync", 4))
    assert not other.is_done(key_digest("a"))  # another map index has its own checkpoint


def test_object_storage_checkpoint_flushes_segments(tmp_state: Path) -> None:
    uri = f"file://{tmp_state / 'remote'}"
    cp = open_checkpoint(IDENTITY, uri)
    assert isinstance(cp, ObjectStorageCheckpoint)
    cp.flush_interval = 3600
    cp.ack(key_digest("a"))
    segments = lambda: sorted(p.name for p in Path(cp.location.removeprefix("file://")).glob("acks-*.bin"))  # noqa: E731
    assert segments() == []  # buffered inside the flush window
    cp.ack(key_digest("b"))
    cp.flush()
    cp.ack(key_digest("c"))
    cp.close()
    assert len(segments()) == 2
    cp.put("job", {"id": 1})
    again = open_checkpoint(IDENTITY, uri)
    assert again.loaded_acked == 3
    assert again.get("job") == {"id": 1}
    assert str(tmp_state) in again.spool_dir  # spooling stays local


def test_rejects_file_only_on_first_reject(tmp_state: Path) -> None:
    path = default_rejects_path("dag", "manual__2024:1", "sync", 2)
    assert path.endswith("sync.2.jsonl")
    assert str(tmp_state) in path
    writer = RejectsWriter(path)
    writer.discard_previous()
    writer.close()
    assert not Path(path).exists()
    assert writer.written_path is None
    with RejectsWriter(path) as w:
        w.write(
            7,
            "identifyId",
            "is required",
            {"id": 7, "when": __import__("datetime").date(2024, 1, 2)},
            stage="validation",
            key="k7",
        )
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert read_rejects(path) == [
        {
            "row_number": 7,
            "field": "identifyId",
            "reason": "is required",
            "stage": "validation",
            "key": "k7",
            "row": {"id": 7, "when": "2024-01-02"},
        }
    ]
