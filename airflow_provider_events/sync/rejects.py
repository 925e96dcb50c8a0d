"""The rejects file: one JSON line per rejected row, so the user can find and fix the bad data.

Each line holds ``row_number`` (1-based, in source order), ``field``, ``reason``, ``stage`` (``mapping``,
``validation`` or ``vendor``), ``key`` (the idempotency key, when known) and ``row`` (the source row itself,
JSON-encoded with ``str`` for dates and decimals). The file holds customer data: it is created with mode
0600, only when the first reject arrives, and it is never logged. Each task attempt rewrites it.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from airflow_provider_events import config

STATE_DIR_ENV = "AIRFLOW_PROVIDER_EVENTS_STATE_DIR"


def state_root() -> Path:
    """The local state directory: ``[provider_events] state_dir`` (see :mod:`.config`)."""
    return config.state_dir()


def safe_part(value: object) -> str:
    """A path segment made of ``[A-Za-z0-9._-]`` only (run ids hold ``:`` and ``+``)."""
    text = re.sub(r"[^A-Za-z0-9._-]", "_", str(value))
    return text.strip(".") or "_"


def default_rejects_path(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    """``<rejects_location>/<dag>/<run>/<task>[.<map_index>].jsonl``: one directory per run."""
    name = safe_part(task_id) + (f".{map_index}" if map_index >= 0 else "") + ".jsonl"
    return "/".join((config.rejects_location(), safe_part(dag_id), safe_part(run_id), name))


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)


class RejectsWriter:
    """Writes rejected rows to a JSON Lines file, opened on the first reject (thread-safe).

    :param path: the file: a local path, or an ``ObjectStoragePath`` URI (``s3://bucket/rejects.jsonl``,
        ``gs://...``, ``file:///...``) so that ephemeral workers write where the user can read it. Parent
        directories are created. An existing file is replaced on the first reject.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.count = 0
        self._file: IO[str] | None = None
        self._lock = threading.Lock()

    def write(
        self,
        row_number: int,
        field: str | None,
        reason: str,
        row: Mapping[str, Any] | None,
        *,
        stage: str,
        key: str | None = None,
    ) -> None:
        """Record one rejected row."""
        line = json.dumps(
            {
                "row_number": row_number,
                "field": field,
                "reason": reason,
                "stage": stage,
                "key": key,
                "row": dict(row) if row is not None else None,
            },
            default=_json_default,
            ensure_ascii=False,
        )
        with self._lock:
            if self._file is None:
                self._file = self._open()
            self._file.write(line + "\n")
            self.count += 1

    @property
    def is_uri(self) -> bool:
        """The path is an object storage URI (``scheme://...``), opened through ``ObjectStoragePath``."""
        return "://" in self.path

    def _object_path(self) -> Any:
        from airflow.sdk import ObjectStoragePath

        return ObjectStoragePath(self.path)

    def _open(self) -> IO[str]:
        if self.is_uri:
            remote = self._object_path()
            remote.parent.mkdir(parents=True, exist_ok=True)
            handle: IO[str] = remote.open("w", encoding="utf-8", errors="backslashreplace")
            return handle
        target = Path(self.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        # backslashreplace: a rejected row may hold undecodable source bytes (surrogates): keep them visible
        return os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace")

    def discard_previous(self) -> None:
        """Remove a file an earlier attempt left, so the file always describes the latest attempt."""
        with self._lock:
            if self._file is None and self.count == 0:
                if self.is_uri:
                    remote = self._object_path()
                    if remote.exists():
                        remote.unlink()
                else:
                    Path(self.path).unlink(missing_ok=True)

    @property
    def written_path(self) -> str | None:
        """The file's path when at least one row was rejected, else ``None``."""
        return self.path if self.count else None

    def flush(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> RejectsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _object_storage_path(uri: str) -> Any:
    """An ``ObjectStoragePath`` for ``uri`` (imported here: only object-storage rejects need it)."""
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(uri)


def read_rejects(path: str) -> list[dict[str, Any]]:
    """The lines of a rejects file, local or an object storage URI (for tests and follow-up tasks)."""
    if "://" in path:
        from airflow.sdk import ObjectStoragePath

        text = ObjectStoragePath(path).read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
