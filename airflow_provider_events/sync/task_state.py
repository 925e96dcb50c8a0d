"""A delivery checkpoint in Airflow's task state store (AIP-103, Airflow >= 3.3): state that follows the task.

``context["task_state_store"]`` keeps key/value pairs per task instance across its tries, on any worker
(through the execution API, in the metadata database or the configured state backend), and Airflow cleans
them up. A retry on another Celery host or in a fresh Kubernetes pod therefore finds what earlier tries
delivered, which keys were in the air when a try died, and the Act-On job handles.

Values are limited (``[state_store] max_value_storage_bytes``, 64 KB by default), so the checkpoint is spread
over keys, each well under the limit:

``events.checkpoint``
    the head, rewritten at every write-ahead: ``{"v": 1, "chunks": N, "open": <the latest settled records>,
    "pending": <digests in the air>, "resent": <resends so far>}``. One ``set`` carries the settled
    records since the last sealed chunk *and* the keys about to be sent, so the two never disagree.
``events.acks.<i>`` (``i < N``)
    sealed chunks of :data:`CHUNK_RECORDS` settled records each (written before the head that counts them,
    so a try killed in between leaves an orphan chunk that the head ignores).
``state.<name>``
    values adapters store with :meth:`put` (Act-On job handles).

Records are 9 bytes (outcome kind + the key's 64-bit digest), zlib-compressed and base64-encoded: about
12 bytes of state per delivered event (about 11-12 MB over ~980 keys for a million events; see
``docs/sync.md``). Keys in the air are at most a few windows of concurrent requests.
"""

from __future__ import annotations

import base64
import os
import time
import zlib
from pathlib import Path
from typing import Any

from airflow_provider_events.sync.checkpoint import (
    _RECORD,
    SETTLED,
    Checkpoint,
)

HEAD_KEY = "events.checkpoint"
CHUNK_KEY = "events.acks.{}"
STATE_KEY = "state.{}"
#: settled records per sealed chunk: 1024 x 9 bytes -> ~12.5 KB encoded, well under the 64 KB default limit;
#: the head (rewritten at every write-ahead) holds at most one chunk's worth, so each write stays small.
CHUNK_RECORDS = 1024
#: settled records are written with the next write-ahead, or after this many seconds at the latest.
FLUSH_INTERVAL = 1.0


def encode(data: bytes) -> str:
    """Bytes as the compact text a JSON value can hold."""
    return base64.b64encode(zlib.compress(data, 6)).decode("ascii")


def decode(text: str) -> bytes:
    return zlib.decompress(base64.b64decode(text)) if text else b""


def _digests(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 8], "big") for i in range(0, len(data) - len(data) % 8, 8)]


class TaskStateCheckpoint(Checkpoint):
    """The checkpoint of the running task instance, in its task state store; see the module docstring.

    :param store: ``context["task_state_store"]`` (anything with ``get(key, default)``, ``set(key, value)``).
    :param spool_directory: a local directory for :attr:`spool_dir` (batch spool files stay local).
    :param label: which task instance the store belongs to, for :attr:`location` (logs and the report).
    """

    def __init__(self, store: Any, spool_directory: str | os.PathLike[str], label: str = "") -> None:
        super().__init__()
        self.store = store
        self.label = label
        self._spool = Path(spool_directory)
        self._open = bytearray()  # settled records not yet in a sealed chunk
        self._dirty = False
        self._last_flush = time.monotonic()
        head = store.get(HEAD_KEY, None) or {}
        self._chunks = int(head.get("chunks", 0))
        for index in range(self._chunks):
            self._load(decode(str(store.get(CHUNK_KEY.format(index), "") or "")))
        opened = decode(str(head.get("open", "")))
        self._load(opened)
        self._open += opened
        for digest in _digests(decode(str(head.get("pending", "")))):
            if digest not in self.done:
                self.pending.add(digest)
        self.resent_count = int(head.get("resent", 0))

    @property
    def location(self) -> str:
        return f"task_state_store:{self.label + '/' if self.label else ''}{HEAD_KEY}"

    def _append(self, records: bytes) -> None:
        for offset in range(0, len(records) - len(records) % _RECORD, _RECORD):
            if records[offset : offset + 1] in SETTLED:
                self._open += records[offset : offset + _RECORD]
        self._dirty = True
        if time.monotonic() - self._last_flush >= FLUSH_INTERVAL:
            self.flush()

    def _write_ahead(self) -> None:
        self.flush()

    def flush(self) -> None:
        if not self._dirty:
            return
        size = CHUNK_RECORDS * _RECORD
        while len(self._open) >= size:
            self.store.set(CHUNK_KEY.format(self._chunks), encode(bytes(self._open[:size])))
            self._chunks += 1
            del self._open[:size]
        self.store.set(HEAD_KEY, self.head())
        self._dirty = False
        self._last_flush = time.monotonic()

    def head(self) -> dict[str, Any]:
        """The head value as written (also used to measure its size)."""
        pending = b"".join(d.to_bytes(8, "big") for d in sorted(self.pending))
        return {
            "v": 1,
            "chunks": self._chunks,
            "open": encode(bytes(self._open)),
            "pending": encode(pending),
            "resent": self.resent_count,
        }

    # ------------------------------------------------------------------ CheckpointState
    def get(self, name: str) -> Any:
        return self.store.get(STATE_KEY.format(name), None)

    def put(self, name: str, value: Any) -> None:
        self.store.set(STATE_KEY.format(name), value)

    @property
    def spool_dir(self) -> str:
        self._spool.mkdir(parents=True, exist_ok=True, mode=0o700)
        return str(self._spool)
