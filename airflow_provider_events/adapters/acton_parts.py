"""Act-On upload parts: validated rows written as CSV parts, each uploaded while the next one is written.

The delivery adapter cuts its CSV into parts of at most ``part_bytes`` and hands each finished part to a
background upload, so Act-On receives (and starts reading) part *k* while the engine reads, validates and
writes part *k + 1*: the upload no longer waits for the whole source to be read. At most one upload is in
flight; the next part is handed once it finished, so a slow gateway slows the reading down instead of
letting parts pile up on disk.

What survives a retry is recorded in the checkpoint (never only on the worker's disk): after each upload,
the job id and the source row number of the part's last row (:class:`UploadedParts`). A retry on any worker
reads the source again, skips the rows of the recorded parts and goes on with the next part; once every
part is uploaded (``complete``), a retry only re-attaches to the jobs.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_events.adapters.acton_job_results import record_result, recorded_results
from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.hooks.acton_csv import CsvLayout, CsvPartWriter

if TYPE_CHECKING:
    from airflow_provider_events.hooks.acton_jobs import ActOnCustomEventJob
    from airflow_provider_events.sync.adapter import PreparedBlock

#: one event's CSV values: email, date, title, note (``adapters.acton.ActOnRow`` is one, with names).
ActOnValues = tuple[str, str, str, str]

#: rows encoded to CSV together (one ``writerows`` and one ``encode`` per block).
SPOOL_BLOCK = 500
HEADER = ("email", "date", "title", "note")
_TITLE, _NOTE = itemgetter(2), itemgetter(3)


@dataclass
class SpooledPart:
    """One finished CSV part: its file, which rows it holds and what the upload needs to announce."""

    path: Path
    #: 0-based, counted across attempts (the part's number in the announced file name).
    index: int
    rows: int = 0
    #: the source row number of the part's last row.
    last_row: int = 0
    titles: set[str] = field(default_factory=set)
    has_note: bool = False
    #: the last part of the run (known only once the source is exhausted).
    final: bool = False
    #: the previous part's job, to look at once after this upload (``None``: no look).
    check_job: str | None = None
    #: what that look found (set in the upload thread, read once the upload is settled).
    seen_job: ActOnCustomEventJob | None = None


class UploadedParts:
    """The checkpoint record of the parts uploaded so far: ``job_ids``, ``parts`` and ``complete``.

    ``parts`` holds ``{"rows": N, "last_row": R}`` per uploaded part, in the order of ``job_ids``. Before each
    upload starts, ``uploading`` records the part going up; its job id clears it. A retry that finds it set
    cannot know whether Act-On received that part (the API lists no jobs to look it up in): the rows are
    left out and counted ``in_doubt`` (at most once, the default), or uploaded again and counted
    ``possible_duplicates`` (``retry_ambiguous``). A record written by an earlier version (parts with a
    ``path``, uploaded only after the whole spool was written) is read too: its uploaded parts are skipped by
    row count.
    """

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record
        self.job_ids: list[str] = [str(j) for j in record.get("job_ids") or []]
        parts = list(record.get("parts") or [])
        legacy = any("path" in p for p in parts)
        if legacy and "complete" not in record:
            record["complete"] = len(self.job_ids) >= len(parts)
        self.parts: list[dict[str, Any]] = [
            {"rows": int(p["rows"]), "last_row": p.get("last_row")} for p in parts[: len(self.job_ids)]
        ]
        record["parts"] = self.parts
        record["job_ids"] = list(self.job_ids)

    @property
    def complete(self) -> bool:
        """Every row was written and every part uploaded."""
        return bool(self.record.get("complete"))

    @property
    def rows(self) -> int:
        """Rows in the recorded jobs."""
        return sum(int(p["rows"]) for p in self.parts)

    @property
    def in_doubt(self) -> int:
        return int(self.record.get("in_doubt_rows") or 0)

    @property
    def possible_duplicates(self) -> int:
        return int(self.record.get("possible_duplicate_rows") or 0)

    def settle_interrupted(self, retry_ambiguous: bool) -> int:
        """Decide on the part an earlier attempt ended uploading; returns its rows (0: there was none)."""
        interrupted = self.record.pop("uploading", None)
        if not interrupted:
            return 0
        rows = int(interrupted["rows"])
        if retry_ambiguous:
            self.record["possible_duplicate_rows"] = self.possible_duplicates + rows
        else:
            self.record["in_doubt_rows"] = self.in_doubt + rows
            self.record["skip_through"] = max(int(interrupted["last_row"]), self._through())
        return rows

    def starting(self, part: SpooledPart) -> None:
        """Note the part about to go up (before its upload starts)."""
        self.record["uploading"] = {"index": part.index, "rows": part.rows, "last_row": part.last_row}
        self.record["next_index"] = part.index + 1

    def add(self, part: SpooledPart, job_id: str) -> None:
        self.job_ids.append(job_id)
        self.parts.append({"rows": part.rows, "last_row": part.last_row})
        self.record["job_ids"] = list(self.job_ids)
        self.record.pop("uploading", None)

    def mark_complete(self) -> None:
        self.record["complete"] = True

    @property
    def finished(self) -> set[str]:
        """The jobs already seen finished (in the record as ``ActOnJobResults`` keeps them)."""
        return set(recorded_results(self.record))

    def finish(self, job: ActOnCustomEventJob) -> None:
        """Record a job seen finished, so the wait does not poll it."""
        record_result(self.record, job)

    def _through(self) -> int:
        last_rows = [int(p["last_row"]) for p in self.parts if p["last_row"] is not None]
        return max([int(self.record.get("skip_through") or 0), *last_rows])

    def not_yet_uploaded(self, blocks: Iterable[PreparedBlock[Any]]) -> Iterable[PreparedBlock[Any]]:
        """``blocks`` without the rows already uploaded or left out (by source row number, else by count)."""
        if any(p["last_row"] is None for p in self.parts):
            return _skip_first(blocks, self.rows)
        through = self._through()
        if not through:
            return blocks
        return (block.after(through) for block in blocks if block.last_row > through)

    @property
    def next_index(self) -> int:
        """The index of the next part (those uploaded or left out come before)."""
        return max(len(self.parts), int(self.record.get("next_index") or 0))


def _skip_first(blocks: Iterable[PreparedBlock[Any]], count: int) -> Iterator[PreparedBlock[Any]]:
    """The blocks without their first ``count`` events."""
    iterator = iter(blocks)
    for block in iterator:
        if len(block) > count:
            yield block.sliced(count)
            break
        count -= len(block)
    yield from iterator


class PartSpool:
    """Writes rows into CSV parts of at most ``max_bytes`` and hands each finished part to ``hand``.

    Parts are cut exactly where a row-by-row writer cuts them: a block of rows is written whole only when it
    fits the current part, row by row otherwise.

    :param directory: where the part files go.
    :param layout: the CSV layout.
    :param max_bytes: the size limit of one part.
    :param first_index: the index of the first part (parts uploaded by an earlier attempt come before).
    """

    def __init__(self, directory: Path, layout: CsvLayout, max_bytes: int, first_index: int = 0) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, **layout.writer_kwargs())
        self._delimiter, self._quotechar = layout.delimiter, layout.quotechar
        self._lineterminator: str = layout.writer_kwargs()["lineterminator"]
        self.max_bytes = max_bytes
        self._parts = CsvPartWriter(directory, self._encode([HEADER]), max_bytes)
        self._first_index = first_index
        self._current: SpooledPart | None = None

    def _encode_block(self, rows: Sequence[ActOnValues]) -> bytes:
        """:meth:`_encode` of a block, joined directly when no value needs quoting (checked on the text).

        The same bytes as the CSV writer's: when the joined text holds exactly one separator between fields,
        one ``\r\n`` per row and no quote character, no value held a separator, quote or line break, and
        ``QUOTE_MINIMAL`` quotes none (0.12 us a row instead of 0.9); otherwise the writer encodes the block.
        """
        count = len(rows)
        text = self._lineterminator.join(map(self._delimiter.join, rows)) + self._lineterminator
        if (
            text.count(self._delimiter) == (len(HEADER) - 1) * count
            and text.count("\n") == count
            and text.count("\r") == count
            and (self._quotechar is None or self._quotechar not in text)
        ):
            return text.encode("utf-8")
        return self._encode(rows)

    def _encode(self, rows: Iterable[tuple[str, ...]]) -> bytes:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerows(rows)
        return self._buffer.getvalue().encode("utf-8")

    def write_all(
        self, blocks: Iterable[PreparedBlock[ActOnValues]], hand: Callable[[SpooledPart], None]
    ) -> None:
        """Write every event; ``hand`` gets each part once it is finished (the last with ``final`` set)."""
        try:
            for block in blocks:
                if not len(block):
                    continue
                if len(block) <= SPOOL_BLOCK:
                    self._write_block(block, hand)
                    continue
                for start in range(0, len(block), SPOOL_BLOCK):
                    self._write_block(block.sliced(start, start + SPOOL_BLOCK), hand)
        finally:
            self._parts.close()
        if self._current is not None:
            self._current.final = True
            hand(self._current)

    def _write_block(self, block: PreparedBlock[ActOnValues], hand: Callable[[SpooledPart], None]) -> None:
        values = block.payloads  # tuples in CSV column order
        data = self._encode_block(values)
        current = self._current
        if current is not None and self._parts.fits_current(data):
            self._parts.write(data)
            current.rows += len(values)
            current.last_row = block.last_row
            current.has_note = current.has_note or any(map(_NOTE, values))
            current.titles.update(map(_TITLE, values))
            return
        for row_number, row in zip(block.row_numbers, values, strict=True):
            line = self._encode([row])
            if not self._parts.fits(line):
                raise ConfigurationError(
                    f"row {row_number} alone exceeds the part size of {self.max_bytes} bytes "
                    "(part_bytes, at most max_upload_bytes)"
                )
            if self._parts.write(line):  # a new part was started: the previous one is finished
                if current is not None:
                    hand(current)
                index = self._first_index + len(self._parts.parts) - 1
                current = self._current = SpooledPart(self._parts.parts[-1], index)
            assert current is not None
            current.rows += 1
            current.last_row = row_number
            current.has_note = current.has_note or bool(row[3])
            current.titles.add(row[2])


class BackgroundUpload:
    """Uploads one part at a time in a worker thread; results are recorded in the caller's thread.

    :param upload: uploads a part and returns its job id (runs in the worker thread).
    :param uploaded: records a part's job id durably (runs in the caller's thread, in part order).
    :param starting: records that a part is about to go up (the caller's thread, before the upload starts).
    :param held: called with a part once its job is recorded, after the next part's upload started (the
        caller's thread, in part order): slower follow-up work (the delivery ledger's write) that need not
        keep the upload thread idle.
    """

    def __init__(
        self,
        upload: Callable[[SpooledPart], str],
        uploaded: Callable[[SpooledPart, str], None],
        starting: Callable[[SpooledPart], None] | None = None,
        held: Callable[[SpooledPart], None] | None = None,
    ) -> None:
        self._upload = upload
        self._uploaded = uploaded
        self._starting = starting
        self._held = held
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="acton-upload")
        self._in_flight: tuple[Future[str], SpooledPart] | None = None

    def hand(self, part: SpooledPart) -> None:
        """Start uploading ``part`` once the previous upload is recorded (its error, if any, raised here)."""
        previous = self.settle()
        if self._starting is not None:
            self._starting(part)
        self._in_flight = (self._executor.submit(self._upload, part), part)
        if previous is not None and self._held is not None:
            self._held(previous)

    def settle(self) -> SpooledPart | None:
        """Wait for the upload in flight and record its job id; the part recorded (``None``: none was up)."""
        if self._in_flight is None:
            return None
        future, part = self._in_flight
        self._in_flight = None
        self._uploaded(part, future.result())
        return part

    def close(self) -> None:
        """Settle the last upload, even when the writing failed: a job Act-On created must be recorded."""
        try:
            last = self.settle()
        finally:
            self._executor.shutdown(wait=True)
        if last is not None and self._held is not None:
            self._held(last)
