"""The checkpoint stores: local files (acks, state, a torn record ignored) and object storage segments."""

from __future__ import annotations

from pathlib import Path

from airflow_provider_events.sync.checkpoint import (
    ATTEMPTED,
    CheckpointIdentity,
    LocalCheckpoint,
    ObjectStorageCheckpoint,
    open_checkpoint,
)
from airflow_provider_events.sync.digests import key_digest

IDENTITY = CheckpointIdentity("dag", "manual__2024-01-01T00:00:00+00:00", "sync", 3)


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
