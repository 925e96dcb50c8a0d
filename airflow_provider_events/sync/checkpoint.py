"""The durable delivery checkpoint: which idempotency keys the vendor acknowledged, per task attempt series.

A checkpoint belongs to one ``(dag_id, run_id, task_id, map_index)``: every attempt of that task instance
(retries, a cleared task re-run in the same DAG run) reads it and skips what an earlier attempt delivered;
a new DAG run, or another mapped task, has its own. Layout below the root::

    <root>/checkpoints/<dag_id>/<run_id>/<task_id>/<map_index|task>/
        acks.bin      9-byte records: kind (b"A" acknowledged, b"M" sent once with an unknown outcome, never
                      to be resent) + the key's 64-bit digest; append-only
        state.json    the JSON values batch adapters store with put() (submitted job ids ...)
        spool/        local files a batch adapter spools (always on local disk)

Two stores:

- **local directory** (default: ``$AIRFLOW_PROVIDER_EVENTS_STATE_DIR``, else
  ``<tmp>/airflow-provider-events``): every acknowledgement is one unbuffered ``write()`` to ``acks.bin``,
  so it survives a process kill (OOM, ``SIGKILL``, worker lost) the moment the call returns; the file is
  also ``fsync``-ed at most once a second (``fsync_interval``) to bound what a power loss of the machine
  can lose. Retries must land on the same
  worker (or the directory must be on shared storage) for a local checkpoint to be found.
- **object storage** (``checkpoint_path="s3://bucket/prefix"`` or any ``ObjectStoragePath`` URI, shared by
  every worker): acknowledgements are buffered and written as a new ``acks-*.bin`` segment object at most
  every ``flush_interval`` seconds (default 5) and on every exit that runs Python's ``finally`` blocks
  (exceptions, task timeout, ``SIGTERM``). A hard kill can lose the last window of acknowledgements: a retry
  then resends those events (at-least-once inside that window; vendors that deduplicate on the key absorb it).

Memory: the acknowledged keys are held as 64-bit digests in a :class:`~.digests.DigestSet` (about 16-32 bytes
a key).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from abc import abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_events.sync.adapter import CheckpointState
from airflow_provider_events.sync.digests import DigestSet
from airflow_provider_events.sync.rejects import safe_part, state_root

ACKED = b"A"
ATTEMPTED = b"M"
_RECORD = 9


@dataclass(frozen=True)
class CheckpointIdentity:
    """Which task instance a checkpoint belongs to."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1

    def relative_parts(self) -> tuple[str, ...]:
        index = "task" if self.map_index < 0 else f"map_{self.map_index}"
        return ("checkpoints", safe_part(self.dag_id), safe_part(self.run_id), safe_part(self.task_id), index)


def _parse_records(data: bytes) -> Iterable[tuple[bytes, int]]:
    usable = len(data) - len(data) % _RECORD  # a torn last record (killed mid-write) is ignored
    for offset in range(0, usable, _RECORD):
        kind = data[offset : offset + 1]
        yield kind, int.from_bytes(data[offset + 1 : offset + _RECORD], "big")


class Checkpoint(CheckpointState):
    """Acknowledged keys and batch state of one task instance; see the module docstring."""

    def __init__(self) -> None:
        self.done = DigestSet()
        #: records found when the checkpoint was opened (acknowledged, attempted-once).
        self.loaded_acked = 0
        self.loaded_attempted = 0

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the checkpoint lives (for logs and the report)."""

    def _load(self, data: bytes) -> None:
        for kind, digest in _parse_records(data):
            if digest and self.done.add(digest):
                if kind == ATTEMPTED:
                    self.loaded_attempted += 1
                else:
                    self.loaded_acked += 1

    def is_done(self, digest: int) -> bool:
        """True when the key was acknowledged (or sent once with an unknown outcome) before."""
        return digest in self.done

    def ack(self, digest: int, kind: bytes = ACKED) -> None:
        """Durably record one key (see the module docstring for what "durably" means per store)."""
        if self.done.add(digest):
            self._append(kind + digest.to_bytes(8, "big"))

    def ack_many(self, digests: Iterable[int], kind: bytes = ACKED) -> None:
        buffer = bytearray()
        for digest in digests:
            if self.done.add(digest):
                buffer += kind + digest.to_bytes(8, "big")
                if len(buffer) >= 1 << 20:
                    self._append(bytes(buffer))
                    buffer.clear()
        if buffer:
            self._append(bytes(buffer))

    @abstractmethod
    def _append(self, records: bytes) -> None: ...

    def flush(self) -> None:
        """Make every acknowledgement so far durable."""

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalCheckpoint(Checkpoint):
    """A checkpoint in a local directory; each acknowledgement is written through at once.

    :param directory: the checkpoint's own directory (created).
    :param fsync_interval: seconds between ``fsync`` calls (0: fsync every acknowledgement).
    """

    def __init__(self, directory: str | os.PathLike[str], fsync_interval: float = 1.0) -> None:
        super().__init__()
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.fsync_interval = fsync_interval
        acks = self.directory / "acks.bin"
        if acks.exists():
            self._load(acks.read_bytes())
        self._fd: int | None = None
        self._acks_path = acks
        self._last_sync = time.monotonic()
        self._dirty = False

    @property
    def location(self) -> str:
        return str(self.directory)

    def _append(self, records: bytes) -> None:
        if self._fd is None:
            self._fd = os.open(self._acks_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        view = memoryview(records)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._dirty = True
        now = time.monotonic()
        if now - self._last_sync >= self.fsync_interval:
            os.fsync(self._fd)
            self._dirty = False
            self._last_sync = now

    def flush(self) -> None:
        if self._fd is not None and self._dirty:
            os.fsync(self._fd)
            self._dirty = False
            self._last_sync = time.monotonic()

    def close(self) -> None:
        self.flush()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # ------------------------------------------------------------------ CheckpointState
    def _state(self) -> dict[str, Any]:
        path = self.directory / "state.json"
        if not path.exists():
            return {}
        loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return loaded

    def get(self, name: str) -> Any:
        return self._state().get(name)

    def put(self, name: str, value: Any) -> None:
        state = self._state()
        state[name] = value
        target = self.directory / "state.json"
        tmp = self.directory / f".state.{uuid.uuid4().hex}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)

    @property
    def spool_dir(self) -> str:
        spool = self.directory / "spool"
        spool.mkdir(exist_ok=True, mode=0o700)
        return str(spool)


class ObjectStorageCheckpoint(Checkpoint):
    """A checkpoint under an ``ObjectStoragePath`` (S3, GCS, Azure, ``file://`` ...), shared by all workers.

    :param base: the checkpoint's own ``ObjectStoragePath`` directory.
    :param spool_directory: a local directory for :attr:`spool_dir`.
    :param flush_interval: at most this many seconds of acknowledgements are buffered before a segment is
        written (a hard kill loses at most this window; see the module docstring).
    :param flush_records: write a segment once this many acknowledgements are buffered.
    """

    def __init__(
        self,
        base: Any,
        spool_directory: str | os.PathLike[str],
        flush_interval: float = 5.0,
        flush_records: int = 50_000,
    ) -> None:
        super().__init__()
        self.base = base
        self.base.mkdir(parents=True, exist_ok=True)
        self._spool = Path(spool_directory)
        self.flush_interval = flush_interval
        self.flush_records = flush_records
        self._buffer = bytearray()
        self._last_flush = time.monotonic()
        for child in sorted(self.base.iterdir(), key=lambda p: p.name):
            if child.name.startswith("acks-") and child.name.endswith(".bin"):
                self._load(child.read_bytes())

    @property
    def location(self) -> str:
        return str(self.base)

    def _append(self, records: bytes) -> None:
        self._buffer += records
        if (
            len(self._buffer) >= self.flush_records * _RECORD
            or time.monotonic() - self._last_flush >= self.flush_interval
        ):
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            name = f"acks-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.bin"
            (self.base / name).write_bytes(bytes(self._buffer))
            self._buffer.clear()
        self._last_flush = time.monotonic()

    def get(self, name: str) -> Any:
        path = self.base / "state.json"
        if not path.exists():
            return None
        return json.loads(path.read_text()).get(name)

    def put(self, name: str, value: Any) -> None:
        path = self.base / "state.json"
        state = json.loads(path.read_text()) if path.exists() else {}
        state[name] = value
        path.write_text(json.dumps(state))

    @property
    def spool_dir(self) -> str:
        self._spool.mkdir(parents=True, exist_ok=True, mode=0o700)
        return str(self._spool)


def open_checkpoint(identity: CheckpointIdentity, checkpoint_path: str | None = None) -> Checkpoint:
    """The checkpoint of ``identity`` below ``checkpoint_path`` (a local directory or an object storage URI).

    ``None`` uses the local state directory. A path with a URI scheme other than ``file`` is opened as an
    ``ObjectStoragePath``; its spool directory stays local, under the state directory.
    """
    parts = identity.relative_parts()
    local_default = state_root().joinpath(*parts)
    if not checkpoint_path:
        return LocalCheckpoint(local_default)
    path = str(checkpoint_path)
    if "://" not in path:
        return LocalCheckpoint(Path(path).joinpath(*parts))
    from airflow.sdk import ObjectStoragePath

    base = ObjectStoragePath(path)
    for part in parts:
        base = base / part
    return ObjectStorageCheckpoint(base, spool_directory=local_default / "spool")
