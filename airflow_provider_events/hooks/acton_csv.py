"""Act-On custom-event CSV files: their layout, record-exact reading, title counting and splitting into parts.

Act-On takes at most 400 MB per upload job, so larger files go as several parts; :class:`CsvPartWriter` is
the one place parts are cut and :func:`part_filename` the one place they are named, for the hook (which
splits a file it is given) and the delivery adapter (which writes its rows straight into parts).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from airflow_provider_events.exceptions import ConfigurationError

#: ``fieldseparator`` value -> the character.
FIELD_SEPARATORS = {"TAB": "\t", "COMMA": ",", "SEMICOLON": ";", "SPACE": " "}
#: ``quotecharacter`` value -> the character (``None``: no quoting).
QUOTE_CHARACTERS: dict[str, str | None] = {"NONE": None, "SINGLE_QUOTE": "'", "DOUBLE_QUOTE": '"'}
#: Act-On's published per-file upload limit (400 MB).
DEFAULT_MAX_UPLOAD_BYTES = 400 * 1024 * 1024


@dataclass(frozen=True)
class CsvLayout:
    """How an Act-On custom-event CSV is laid out (the upload's separator, quote character and header flag).

    :param fieldseparator: ``TAB``, ``COMMA``, ``SEMICOLON`` or ``SPACE``.
    :param quotecharacter: ``NONE``, ``SINGLE_QUOTE`` or ``DOUBLE_QUOTE``.
    :param firstrow: the first row holds headings.
    """

    fieldseparator: str = "COMMA"
    quotecharacter: str = "DOUBLE_QUOTE"
    firstrow: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "fieldseparator", str(self.fieldseparator).upper())
        object.__setattr__(self, "quotecharacter", str(self.quotecharacter).upper())
        if self.fieldseparator not in FIELD_SEPARATORS:
            raise ConfigurationError(
                f"fieldseparator {self.fieldseparator!r} is not one of {sorted(FIELD_SEPARATORS)}"
            )
        if self.quotecharacter not in QUOTE_CHARACTERS:
            raise ConfigurationError(
                f"quotecharacter {self.quotecharacter!r} is not one of {sorted(QUOTE_CHARACTERS)}"
            )

    @property
    def delimiter(self) -> str:
        return FIELD_SEPARATORS[self.fieldseparator]

    @property
    def quotechar(self) -> str | None:
        return QUOTE_CHARACTERS[self.quotecharacter]

    def reader_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`csv.reader` reading such a file."""
        if self.quotechar is None:
            return {"delimiter": self.delimiter, "quoting": csv.QUOTE_NONE}
        return {"delimiter": self.delimiter, "quotechar": self.quotechar, "doublequote": True}

    def writer_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`csv.writer` writing such a file (quotes only where needed)."""
        if self.quotechar is None:
            return {
                "delimiter": self.delimiter,
                "quoting": csv.QUOTE_NONE,
                "escapechar": None,
                "lineterminator": "\r\n",
            }
        return {
            "delimiter": self.delimiter,
            "quotechar": self.quotechar,
            "doublequote": True,
            "quoting": csv.QUOTE_MINIMAL,
            "lineterminator": "\r\n",
        }


def iter_csv_records(path: str | os.PathLike[str], layout: CsvLayout) -> Iterator[bytes]:
    """Yield the raw bytes of each CSV record of a file, one record in memory at a time.

    Records end at a newline outside quotes: with a quote character, a newline ends the record when the
    quote characters seen so far in it are even in number (the doubled-quote escape keeps parity), so a
    quoted value holding newlines stays in one record. The bytes are returned exactly as in the file.
    """
    quote = layout.quotechar.encode() if layout.quotechar else None
    with open(path, "rb") as handle:
        pending: list[bytes] = []
        quotes = 0
        for line in handle:
            pending.append(line)
            if quote is not None:
                quotes += line.count(quote)
                if quotes % 2:
                    continue
            yield b"".join(pending)
            pending = []
            quotes = 0
        if pending:
            yield b"".join(pending)


def count_distinct_titles(
    path: str | os.PathLike[str], layout: CsvLayout, title_col: int, *, encoding: str = "utf-8"
) -> int:
    """Distinct non-empty values of the title column of a CSV file (streamed; only the titles are kept)."""
    titles: set[str] = set()
    with open(path, encoding=encoding, errors="replace", newline="") as handle:
        reader = csv.reader(handle, **layout.reader_kwargs())
        if layout.firstrow:
            next(reader, None)
        for row in reader:
            if len(row) > title_col and row[title_col].strip():
                titles.add(row[title_col])
    return len(titles)


def part_filename(filename: str, index: int, count: int) -> str:
    """The name announced to Act-On for part ``index`` (0-based) of ``count``.

    ``big.csv`` -> ``big.part2.csv``;

    a file sent whole (``count == 1``) keeps its name.
    """
    if count == 1:
        return filename
    stem, dot, ext = filename.rpartition(".")
    return f"{stem}.part{index + 1}.{ext}" if dot else f"{filename}.part{index + 1}"


class CsvPartWriter:
    """Writes CSV records into numbered part files of at most ``max_bytes`` bytes, each opening with a header.

    Records are written whole (never cut); a new part starts when the next record would not fit. The part
    files are ``<directory>/<prefix>part0001.csv``, ``...0002.csv`` and so on, so the same records always
    give the same parts.

    :param directory: where the parts are written (created when missing).
    :param header: the bytes every part starts with (``b""``: none).
    :param max_bytes: the size limit of one part.
    :param prefix: prepended to each part's file name.
    """

    def __init__(
        self, directory: str | os.PathLike[str], header: bytes, max_bytes: int, *, prefix: str = ""
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.header = header
        self.max_bytes = max_bytes
        self.prefix = prefix
        #: the part files, in order.
        self.parts: list[Path] = []
        #: bytes written to the current part, header included.
        self.size = 0
        self._handle: IO[bytes] | None = None

    def fits(self, record: bytes) -> bool:
        """True when ``record`` (after the header) fits in one part at all."""
        return len(self.header) + len(record) <= self.max_bytes

    def fits_current(self, data: bytes) -> bool:
        """True when ``data`` fits in the part being written (``False`` before the first part)."""
        return self._handle is not None and self.size + len(data) <= self.max_bytes

    def write(self, record: bytes) -> bool:
        """Write one record, starting a new part first when it would not fit; True when a part was started.

        :raises ConfigurationError: when the record alone (after the header) is larger than a part.
        """
        if not self.fits(record):
            raise ConfigurationError(
                f"one CSV record of {len(record)} bytes does not fit in max_upload_bytes={self.max_bytes}"
            )
        started = False
        if self._handle is None or self.size + len(record) > self.max_bytes:
            self.close()
            part = self.directory / f"{self.prefix}part{len(self.parts) + 1:04d}.csv"
            self.parts.append(part)
            self._handle = open(part, "wb")  # noqa: SIM115 - closed when the part is full or by close()
            self._handle.write(self.header)
            self.size = len(self.header)
            started = True
        self._handle.write(record)
        self.size += len(record)
        return started

    def close(self) -> None:
        """Close the current part (the writer may go on with a new one)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def ensure_line_end(record: bytes) -> bytes:
    """The record ending with a line break (``\\r\\n`` added when it has none)."""
    return record if record.endswith(b"\n") else record + b"\r\n"


def split_csv_file(
    path: str | os.PathLike[str],
    layout: CsvLayout,
    max_bytes: int,
    directory: str | os.PathLike[str],
) -> list[Path]:
    """Split a CSV file on record boundaries into parts of at most ``max_bytes`` bytes each.

    Each part repeats the header row when ``layout.firstrow``. Parts are written to ``directory`` and
    the same file always gives the same parts (so a retried task can skip parts already uploaded).

    :raises ConfigurationError: when one record (plus the header) is larger than ``max_bytes``.
    """
    records = iter_csv_records(path, layout)
    header = next(records, b"") if layout.firstrow else b""
    if header:
        header = ensure_line_end(header)
    writer = CsvPartWriter(directory, header, max_bytes, prefix=f"{Path(path).stem}.")
    try:
        for record in records:
            if not writer.fits(record):
                raise ConfigurationError(
                    f"one CSV record of {len(record)} bytes does not fit in max_upload_bytes={max_bytes}"
                )
            writer.write(ensure_line_end(record))
    finally:
        writer.close()
    return writer.parts
