"""The custom-events CSV of an upload, parsed row by row as Act-On is described to."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import IO, Any

from airflow_provider_events.testing.emulator.acton.contract import is_valid_email
from airflow_provider_events.testing.emulator.acton.dates import JavaDateParser


class UploadRejected(Exception):
    """The whole upload is refused (a 400 with an Act-On error body)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class ParsedUpload:
    """What the CSV parser found in one upload."""

    width: int
    rows: int = 0
    #: (record, email, date_iso, date_text, title, note)
    appended: list[tuple[int, str, str, str, str, str | None]] = field(default_factory=list)
    #: {"record", "line", "reason", "fields"}
    rejected: list[dict[str, Any]] = field(default_factory=list)


def parse_custom_events_csv(
    binary: IO[bytes],
    *,
    separator: str,
    quotechar: str | None,
    header: bool,
    email_idx: int,
    date_idx: int,
    title_idx: int,
    note_idx: int | None,
    dateformat: str,
) -> ParsedUpload:
    """Parse an uploaded custom-events CSV, row by row, as Act-On is described to.

    :raises UploadRejected: empty file, unreadable CSV, or a column index outside the first row.
    """
    buffer: Any = binary if hasattr(binary, "readable") else getattr(binary, "_file", binary)
    text = io.TextIOWrapper(buffer, encoding="utf-8-sig", errors="replace", newline="")
    try:
        reader = csv.reader(
            text,
            delimiter=separator,
            quotechar=quotechar,
            quoting=csv.QUOTE_NONE if quotechar is None else csv.QUOTE_MINIMAL,
            doublequote=True,
            strict=False,
        )
        dates = JavaDateParser(dateformat)
        result: ParsedUpload | None = None
        indexes = [email_idx, date_idx, title_idx] + ([note_idx] if note_idx is not None else [])
        need = max(indexes)
        record = 0
        try:
            for row in reader:
                if not row:
                    continue  # blank line
                if result is None:
                    result = ParsedUpload(width=len(row))
                    for name, idx in (
                        ("emailcolidx", email_idx),
                        ("datecolidx", date_idx),
                        ("titlecolidx", title_idx),
                        ("notecolidx", note_idx),
                    ):
                        if idx is not None and idx >= len(row):
                            raise UploadRejected(
                                10001,
                                f"Invalid parameter - {name}: column {idx} is outside the "
                                f"{len(row)} columns of the first row",
                            )
                    if header:
                        continue
                record += 1
                result.rows += 1
                reason = None
                if len(row) <= need:
                    reason = "row too short"
                elif not is_valid_email(row[email_idx]):
                    reason = "invalid email"
                else:
                    when = dates.parse(row[date_idx])
                    if when is None:
                        reason = "unparsable date"
                    elif not row[title_idx].strip():
                        reason = "missing title"
                    else:
                        note = row[note_idx] if note_idx is not None else None
                        result.appended.append(
                            (record, row[email_idx], when, row[date_idx], row[title_idx], note)
                        )
                        continue
                result.rejected.append(
                    {"record": record, "line": reader.line_num, "reason": reason, "fields": row}
                )
        except csv.Error as exc:
            raise UploadRejected(10085, f"Invalid file: {exc}") from exc
        if result is None:
            raise UploadRejected(10003, "Input file is empty")
        return result
    finally:
        text.detach()
