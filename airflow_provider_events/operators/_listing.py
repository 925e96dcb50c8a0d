"""The file writer shared by the list operators: records streamed to JSON Lines or CSV, locally or remotely.

Every ``*List*Operator`` of the provider exports what a vendor API lists the same way: the records are
written as they are fetched (one page in memory), to a local path (atomically: a hidden ``.part`` file
renamed at the end) or to any ``ObjectStoragePath`` URI (``s3://...``, ``gs://...``, ``file://...``), and
the task returns only ``{"count": N, "path": ...}`` to XCom.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.lineage import remember_result

#: the output formats of every list operator.
FORMATS = ("jsonl", "csv")
_JSONL_ALIASES = ("json", "ndjson", "jsonlines")
#: the most records a vendor's list endpoint returns per request (Act-On, Gainsight PX).
MAX_PAGE_SIZE = 1000
#: JSON Lines output is flushed to the stream in chunks of about this many characters.
_FLUSH_CHARS = 1 << 20


def resolve_format(path: str, file_format: str | None) -> str:
    """The output format: ``file_format`` when given, else from the path's suffix (``.csv`` -> csv).

    :param path: the output path or URI.
    :param file_format: ``jsonl`` (also ``json``, ``ndjson``, ``jsonlines``) or ``csv``; ``None``: guess.
    :raises ConfigurationError: for any other format.
    """
    if file_format:
        fmt = file_format.lower().lstrip(".")
        fmt = "jsonl" if fmt in _JSONL_ALIASES else fmt
    else:
        fmt = "csv" if path.lower().endswith((".csv", ".csv.gz")) else "jsonl"
    if fmt not in FORMATS:
        raise ConfigurationError(f"file_format must be one of {FORMATS}, got {file_format!r}")
    return fmt


@contextmanager
def open_output(path: str) -> Iterator[IO[str]]:
    """A text stream to a local path (written atomically) or to any ``ObjectStoragePath`` URI."""
    if "://" in path and not path.startswith("file://"):
        from airflow.sdk import ObjectStoragePath

        target = ObjectStoragePath(path)
        with target.open("w", newline="") as handle:  # type: ignore[no-untyped-call]
            yield handle
        return
    local = Path(path.removeprefix("file://"))
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = local.with_name(f".{local.name}.{os.getpid()}.part")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(tmp, local)
    finally:
        tmp.unlink(missing_ok=True)


def csv_cell(value: Any) -> Any:
    """A CSV cell: ``None`` as empty, objects and lists as compact JSON, the rest as is."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


def write_records(
    records: Iterable[dict[str, Any]], handle: IO[str], file_format: str, csv_columns: Sequence[str]
) -> int:
    """Write records as JSON Lines (every field) or CSV (``csv_columns``, in order); returns the count."""
    count = 0
    if file_format == "csv":
        writer = csv.DictWriter(handle, fieldnames=list(csv_columns), extrasaction="ignore")
        writer.writeheader()
        for record in records:
            writer.writerow({name: csv_cell(record.get(name)) for name in csv_columns})
            count += 1
        return count
    buffer = io.StringIO()
    for record in records:
        buffer.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
        buffer.write("\n")
        count += 1
        if buffer.tell() > _FLUSH_CHARS:
            handle.write(buffer.getvalue())
            buffer = io.StringIO()
    handle.write(buffer.getvalue())
    return count


def export_records(
    records: Iterable[dict[str, Any]],
    path: str,
    file_format: str | None,
    csv_columns: Sequence[str],
) -> int:
    """Stream ``records`` to ``path``; returns how many were written (the ``count`` of the XCom).

    :param records: the records, typically a hook's paging iterator (consumed once).
    :param path: a local path or an ``ObjectStoragePath`` URI.
    :param file_format: see :func:`resolve_format`.
    :param csv_columns: the CSV header, in order (JSON Lines keeps every field).
    """
    fmt = resolve_format(path, file_format)
    with open_output(path) as handle:
        return write_records(records, handle, fmt, csv_columns)


def check_page_size(page_size: int) -> int:
    """``page_size`` when it is 1..:data:`MAX_PAGE_SIZE`; else raise ``ConfigurationError``."""
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ConfigurationError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
    return page_size


def listing_result(operator: object, count: int, path: str) -> dict[str, Any]:
    """The XCom of a list operator, ``{"count": N, "path": ...}``, also kept for its completion facets."""
    result: dict[str, Any] = {"count": count, "path": path}
    remember_result(operator, result)
    return result


class ListingLineage:
    """OpenLineage of a list operator: the vendor's listed objects in, the export file out.

    Mixed into every ``*List*Operator``; each names its vendor connection and the filters that pick the
    listed object with :meth:`_lineage_source`.
    """

    output_path: Any

    def _lineage_source(self) -> tuple[str, dict[str, Any]]:
        """``(vendor connection id, options naming the listed object)``."""
        raise NotImplementedError

    def get_openlineage_facets_on_start(self) -> Any:
        """OpenLineage: the vendor's listed events in, the export file out."""
        return self._lineage(complete=False)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """As on start, with the records written as the output's ``rowCount``."""
        return self._lineage(complete=True)

    def _lineage(self, *, complete: bool) -> Any:
        from airflow_provider_events.lineage import listing_lineage, task_result

        conn_id, options = self._lineage_source()
        return listing_lineage(
            vendor_conn_id=conn_id,
            options=options,
            output_path=str(self.output_path),
            result=task_result(self) if complete else None,
        )
