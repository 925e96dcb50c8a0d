"""The durable delivery checkpoint: which idempotency keys the vendor acknowledged, per task attempt series.

A checkpoint belongs to one ``(dag_id, run_id, task_id, map_index)``: every attempt of that task instance
(retries, a cleared task re-run in the same DAG run) reads it and skips what an earlier attempt delivered;
a new DAG run, or another mapped task, has its own. Layout below the root::

    <root>/checkpoints/<dag_id>/<run_id>/<task_id>/<map_index|task>/
        acks.bin      9-byte records: kind + the key's 64-bit digest; append-only. Kinds: b"P" about to be
                      sent (write-ahead, before the request), b"R" about to be resent after an unconfirmed
                      attempt (a possible duplicate), b"A" accepted, b"D" already held by the vendor, b"M"
                      in doubt and given up (never resent), b"F" certainly not delivered (resent by a retry).
                      A key whose last record is P or R was in the air when its attempt ended.
        state.json    the JSON values batch adapters store with put() (submitted job ids ...)
        spool/        local files a batch adapter spools (always on local disk)

Two stores:

- **local directory** (default: ``$AIRFLOW_PROVIDER_EVENTS_STATE_DIR``, else
  ``<tmp>/airflow-provider-events``): every acknowledgement is one unbuffered ``write()`` to ``acks.bin``,
  so it survives a process kill (OOM, ``SIGKILL``, worker lost) the moment the call returns; the file is
  also ``fsync``-ed at most once a second (``fsync_interval``) to bound what a power loss of the machine
  can lose. Retries must land on the same
  worker (or the directory must be on shared storage) for a local checkpoint to be found.
- **Airflow's task state store** (Airflow >= 3.3, inside a task, no ``checkpoint_path``: the default there):
  see :mod:`~.task_state`; follows the task to any worker.
- **object storage** (``checkpoint_path="s3://bucket/prefix"`` or any ``ObjectStoragePath`` URI, shared by
  every worker): acknowledgements are buffered and written as a new ``acks-*.bin`` segment object at most
  every ``flush_interval`` seconds (default 5) and on every exit that runs Python's ``finally`` blocks
  (exceptions, task timeout, ``SIGTERM``). A hard kill can lose the last window of acknowledgements: a retry
  then resends those events (at-least-once inside that window; vendors that deduplicate on the key absorb it).
  Write-ahead records (``begin``/``resend``) are written at once, before the send.

Memory: the acknowledged keys are held as 64-bit digests in a :class:`~.digests.DigestSet` (about 16-32 bytes
a key).
"""

from __future__ import annotations

import json
import logging
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

logger = logging.getLogger(__name__)

#: the vendor accepted the event.
ACKED = b"A"
#: the vendor said it already held the event (delivered by an earlier attempt).
ALREADY = b"D"
#: sent with an unknown outcome and given up (at-most-once): *in doubt*, never resent.
ATTEMPTED = b"M"
#: write-ahead: about to be sent. A key whose last record is ``P`` or ``R`` was in the air when its
#: attempt ended: the next attempt settles it first.
PENDING = b"P"
#: write-ahead: about to be sent *again* after an unconfirmed attempt (a possible duplicate).
RESENT = b"R"
#: sent, and certainly not delivered (refused before processing, vendor down): a retry sends it again.
FAILED = b"F"
#: final outcomes: the key is settled and never sent again by this task instance.
SETTLED = (ACKED, ALREADY, ATTEMPTED)
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
    """Settled keys, keys in the air, and batch state of one task instance; see the module docstring.

    One interface, several backends (local directory, object storage, Airflow's task state store): the
    engine only calls :meth:`is_done`, :meth:`outcome`, :meth:`begin`, :meth:`resend`, :meth:`ack`,
    :meth:`fail` and :meth:`flush`, and reads :attr:`in_doubt` and :attr:`resent_count`.
    """

    def __init__(self) -> None:
        self.done = DigestSet()
        #: the settled keys whose outcome was not ``ACKED`` (few: kept apart to attribute them in reports).
        self.already: set[int] = set()
        self.doubted: set[int] = set()
        #: keys written ahead (``P``/``R``) and not settled since: in the air when the last attempt ended.
        self.pending: set[int] = set()
        #: ``R`` records: resends of an unconfirmed event, summed over every attempt (possible duplicates).
        self.resent_count = 0
        #: records found when the checkpoint was opened (acknowledged, attempted-once).
        self.loaded_acked = 0
        self.loaded_attempted = 0

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the checkpoint lives (for logs and the report)."""

    @property
    def in_doubt(self) -> set[int]:
        """Keys an earlier attempt had in the air when it ended (to settle before anything else)."""
        return self.pending

    def _apply(self, kind: bytes, digest: int) -> bool:
        """Apply one record to the in-memory state; True when it changed the settled set."""
        if not digest:
            return False
        if kind in (PENDING, RESENT):
            if digest not in self.done:
                self.pending.add(digest)
            if kind == RESENT:
                self.resent_count += 1
            return False
        if kind == FAILED:
            self.pending.discard(digest)
            return False
        self.pending.discard(digest)
        if not self.done.add(digest):
            return False
        if kind == ALREADY:
            self.already.add(digest)
        elif kind == ATTEMPTED:
            self.doubted.add(digest)
        return True

    def _load(self, data: bytes) -> None:
        for kind, digest in _parse_records(data):
            if self._apply(kind, digest):
                if kind == ATTEMPTED:
                    self.loaded_attempted += 1
                else:
                    self.loaded_acked += 1

    def is_done(self, digest: int) -> bool:
        """True when the key is settled (acknowledged, or sent with an unknown outcome and given up)."""
        return digest in self.done

    def outcome(self, digest: int) -> bytes | None:
        """The settled outcome of a key (``ACKED``, ``ALREADY``, ``ATTEMPTED``), or ``None``."""
        if digest not in self.done:
            return None
        if digest in self.doubted:
            return ATTEMPTED
        if digest in self.already:
            return ALREADY
        return ACKED

    def begin(self, digests: Iterable[int]) -> None:
        """Write ahead: record the keys about to be sent, durably, *before* they are sent."""
        buffer = bytearray()
        for digest in digests:
            self._apply(PENDING, digest)
            buffer += PENDING + digest.to_bytes(8, "big")
        if buffer:
            self._append(bytes(buffer))
            self._write_ahead()

    def resend(self, digest: int) -> None:
        """Write ahead a resend of an unconfirmed event (counted as a possible duplicate), durably."""
        self._apply(RESENT, digest)
        self._append(RESENT + digest.to_bytes(8, "big"))
        self._write_ahead()

    def _write_ahead(self) -> None:
        """Make the write-ahead records durable before the send (buffered backends flush here)."""

    def ack(self, digest: int, kind: bytes = ACKED) -> None:
        """Durably record one key's final outcome (see the module docstring for "durably" per store)."""
        if self._apply(kind, digest):
            self._append(kind + digest.to_bytes(8, "big"))

    def fail(self, digest: int) -> None:
        """Record that a sent key was certainly not delivered (a retry sends it again)."""
        if digest in self.pending:
            self._apply(FAILED, digest)
            self._append(FAILED + digest.to_bytes(8, "big"))

    def ack_many(self, digests: Iterable[int], kind: bytes = ACKED) -> None:
        buffer = bytearray()
        for digest in digests:
            if self._apply(kind, digest):
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

    def _write_ahead(self) -> None:
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


DISTRIBUTED_EXECUTORS = ("CeleryExecutor", "KubernetesExecutor", "CeleryKubernetesExecutor", "EdgeExecutor")


def _warn_if_distributed(location: str) -> None:
    """Log a warning when the executor runs tasks on several hosts and the state stays on this one."""
    try:
        from airflow.configuration import conf

        executor = str(conf.get("core", "executor", fallback="") or "")
    except Exception:  # outside an Airflow deployment
        return
    if any(name in executor for name in DISTRIBUTED_EXECUTORS):
        logger.warning(
            "the delivery checkpoint is on this worker's local disk (%s) but the executor is %s: a retry on "
            "another worker will not find it and will resend what this attempt delivered. Run on Airflow >= "
            "3.3 (the task state store follows the task) or set checkpoint_path to shared object storage.",
            location,
            executor,
        )


def open_checkpoint(
    identity: CheckpointIdentity, checkpoint_path: str | None = None, task_state_store: Any = None
) -> Checkpoint:
    """The checkpoint of ``identity``: where it lives depends on what is available.

    - ``checkpoint_path`` set: below it (a local directory, or an object storage URI opened as an
      ``ObjectStoragePath`` whose spool directory stays local, under the state directory);
    - else ``task_state_store`` given (``context["task_state_store"]`` on Airflow >= 3.3): a
      :class:`~.task_state.TaskStateCheckpoint` in it, which follows the task to any worker;
    - else the local state directory (a warning is logged when the executor is distributed).
    """
    parts = identity.relative_parts()
    local_default = state_root().joinpath(*parts)
    if not checkpoint_path:
        if task_state_store is not None:
            from airflow_provider_events.sync.task_state import TaskStateCheckpoint

            return TaskStateCheckpoint(
                task_state_store, spool_directory=local_default / "spool", label="/".join(parts[1:])
            )
        _warn_if_distributed(str(local_default))
        return LocalCheckpoint(local_default)
    path = str(checkpoint_path)
    if "://" not in path:
        _warn_if_distributed(path)
        return LocalCheckpoint(Path(path).joinpath(*parts))
    from airflow.sdk import ObjectStoragePath

    base = ObjectStoragePath(path)
    for part in parts:
        base = base / part
    return ObjectStorageCheckpoint(base, spool_directory=local_default / "spool")
