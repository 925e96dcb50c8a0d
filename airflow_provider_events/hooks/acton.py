"""Act-On hook: OAuth2 tokens, CSV custom-event uploads that run as jobs, and single custom events.

This module also holds the Act-On vocabulary shared by the hook, the delivery adapter, the operators, the
sensor and the trigger: :class:`ActOnJobStatus`, :class:`ActOnCustomEventJob`, :func:`classify_job_status`
and the date-pattern helpers (:func:`format_acton_date`, :func:`parse_acton_date`).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import os
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from airflow_provider_events.exceptions import (
    ConfigurationError,
    EventsProviderError,
    RejectedThresholdExceededError,
    VendorApiError,
    VendorAuthError,
    VendorBadRequestError,
)
from airflow_provider_events.hooks.base import REFRESH_MARGIN_EXTRAS, BaseEventsHook
from airflow_provider_events.hooks.pagination import paginate_offset
from airflow_provider_events.hooks.security import mask
from airflow_provider_events.hooks.token_store import CachedToken, FileTokenStore, TokenSlot, account_key
from airflow_provider_events.utils.ratelimit import TokenBucket

REGION_BASE_URLS = {
    "us": "https://api.actonsoftware.com",
    "eu": "https://api-eu.actonsoftware.com",
}

#: the documented ``customeventaction`` values (one per upload).
CUSTOM_EVENT_ACTIONS = frozenset(
    {
        "CUSTOM_DOWNLOADED",
        "CUSTOM_REGISTERED",
        "CUSTOM_ATTENDED",
        "CUSTOM_GENERAL",
        "CUSTOM_GENERAL1",
        "CUSTOM_GENERAL2",
        "CUSTOM_GENERAL3",
        "CUSTOM_GENERAL4",
        "CUSTOM_GENERAL5",
    }
)
#: ``fieldseparator`` value -> the character.
FIELD_SEPARATORS = {"TAB": "\t", "COMMA": ",", "SEMICOLON": ";", "SPACE": " "}
#: ``quotecharacter`` value -> the character (``None``: no quoting).
QUOTE_CHARACTERS: dict[str, str | None] = {"NONE": None, "SINGLE_QUOTE": "'", "DOUBLE_QUOTE": '"'}
#: Act-On's published per-file upload limit (400 MB).
DEFAULT_MAX_UPLOAD_BYTES = 400 * 1024 * 1024
#: the job-status error code for an unknown or expired job id.
EXPIRED_JOB_ERROR_CODE = 10017

_STREAM_CHUNK = 64 * 1024


# ------------------------------------------------------------------------------- job vocabulary
class ActOnJobStatus(str, Enum):
    """Where an Act-On custom-event upload job stands."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: Act-On does not know the job id (never existed, or expired): errorCode 10017.
    EXPIRED = "expired"

    @property
    def terminal(self) -> bool:
        """True when the job will not change any more."""
        return self not in (ActOnJobStatus.PENDING, ActOnJobStatus.RUNNING)


@dataclass(frozen=True)
class ActOnCustomEventJob:
    """One upload job as Act-On reports it.

    :param job_id: the ``jobId`` returned by the upload.
    :param status: the classified status.
    :param append_count: rows appended (``details.appendCount``), once succeeded.
    :param rejected_count: rows rejected (``details.rejectedCount``), once succeeded.
    :param message: the vendor's status text, or its reason for a failed/expired job.
    """

    job_id: str
    status: ActOnJobStatus
    append_count: int | None = None
    rejected_count: int | None = None
    message: str = ""

    @property
    def terminal(self) -> bool:
        return self.status.terminal

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (trigger events, XCom)."""
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ActOnCustomEventJob:
        return cls(
            job_id=str(data["job_id"]),
            status=ActOnJobStatus(data["status"]),
            append_count=data.get("append_count"),
            rejected_count=data.get("rejected_count"),
            message=str(data.get("message") or ""),
        )


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def is_expired_job_error(body: Any) -> bool:
    """True for Act-On's "Invalid or expired Job Id" error body (errorCode 10017)."""
    if not isinstance(body, Mapping):
        return False
    return _as_int(body.get("errorCode")) == EXPIRED_JOB_ERROR_CODE


def classify_job_status(job_id: str, body: Any, http_status: int = 200) -> ActOnCustomEventJob:
    """THE status rule, shared by hook, sensor, trigger and operators.

    - a 400 whose body has ``errorCode`` 10017 -> :attr:`ActOnJobStatus.EXPIRED`;
    - top-level ``status == "success"`` (case-insensitive) -> :attr:`ActOnJobStatus.SUCCEEDED`, with the
      counts read from ``details`` (or from the ``jobDetails`` JSON string when ``details`` is absent);
    - a ``status`` mentioning *pending* / *running* (case-insensitive) -> PENDING / RUNNING;
    - anything else -> :attr:`ActOnJobStatus.FAILED` with the body's message.

    :param job_id: the job id asked about.
    :param body: the decoded JSON body.
    :param http_status: the HTTP status of the answer.
    """
    if http_status >= 400:
        if is_expired_job_error(body):
            message = str(body.get("message") or "Invalid or expired Job Id")
            return ActOnCustomEventJob(job_id, ActOnJobStatus.EXPIRED, message=message)
        return ActOnCustomEventJob(job_id, ActOnJobStatus.FAILED, message=_describe(body))
    if not isinstance(body, Mapping):
        return ActOnCustomEventJob(job_id, ActOnJobStatus.FAILED, message=_describe(body))
    status_text = str(body.get("status") or "").strip()
    lowered = status_text.lower()
    if lowered == "success":
        details = body.get("details")
        if not isinstance(details, Mapping):
            details = _json_object(body.get("jobDetails"))
        return ActOnCustomEventJob(
            job_id,
            ActOnJobStatus.SUCCEEDED,
            append_count=_as_int(details.get("appendCount")) or 0,
            rejected_count=_as_int(details.get("rejectedCount")) or 0,
            message=status_text,
        )
    if "pending" in lowered:
        return ActOnCustomEventJob(job_id, ActOnJobStatus.PENDING, message=status_text)
    if "running" in lowered:
        return ActOnCustomEventJob(job_id, ActOnJobStatus.RUNNING, message=status_text)
    return ActOnCustomEventJob(job_id, ActOnJobStatus.FAILED, message=_describe(body))


class ActOnJobFailedError(EventsProviderError):
    """An upload job ended without success (failed, or unknown/expired before it was seen succeeding).

    :param job: the job as last seen, with the vendor's reason in ``message``.
    """

    def __init__(self, job: ActOnCustomEventJob) -> None:
        self.job = job
        super().__init__(f"Act-On job {job.job_id} {job.status.value}: {job.message}")


class ActOnJobTimeoutError(EventsProviderError):
    """Jobs were still pending or running when the wait's deadline passed."""


@dataclass(frozen=True)
class JobsSummary:
    """Totals over finished jobs.

    :param job_ids: the jobs, in submission order.
    :param appended: rows appended by all jobs.
    :param rejected: rows rejected by all jobs.
    """

    job_ids: list[str]
    appended: int
    rejected: int

    @property
    def rejected_ratio(self) -> float:
        total = self.appended + self.rejected
        return self.rejected / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"job_ids": list(self.job_ids), "appended": self.appended, "rejected": self.rejected}


def summarize_jobs(
    jobs: Sequence[ActOnCustomEventJob],
    *,
    max_rejected: int | None = None,
    max_rejected_ratio: float | None = None,
) -> JobsSummary:
    """Totals of succeeded jobs; raise for a job that did not succeed or when too many rows were rejected.

    :param jobs: terminal jobs.
    :param max_rejected: most rejected rows tolerated over all jobs (``None``: no limit).
    :param max_rejected_ratio: most rejected rows tolerated as a fraction of appended + rejected
        (``None``: no limit).
    :raises ActOnJobFailedError: for the first job that failed or expired.
    :raises RejectedThresholdExceededError: when a threshold is exceeded.
    """
    for job in jobs:
        if job.status is not ActOnJobStatus.SUCCEEDED:
            raise ActOnJobFailedError(job)
    summary = JobsSummary(
        [job.job_id for job in jobs],
        sum(job.append_count or 0 for job in jobs),
        sum(job.rejected_count or 0 for job in jobs),
    )
    if max_rejected is not None and summary.rejected > max_rejected:
        raise RejectedThresholdExceededError(
            f"Act-On rejected {summary.rejected} rows (appended {summary.appended}) in jobs "
            f"{summary.job_ids}: more than max_rejected={max_rejected}"
        )
    if max_rejected_ratio is not None and summary.rejected_ratio > max_rejected_ratio:
        raise RejectedThresholdExceededError(
            f"Act-On rejected {summary.rejected} of {summary.appended + summary.rejected} rows in jobs "
            f"{summary.job_ids} ({summary.rejected_ratio:.2%}): "
            f"more than max_rejected_ratio={max_rejected_ratio}"
        )
    return summary


def _json_object(value: Any) -> Mapping[str, Any]:
    import json

    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            return {}
        return decoded if isinstance(decoded, Mapping) else {}
    return {}


def _describe(body: Any) -> str:
    """A one-line reason from a job-status body (never the whole body of a huge answer)."""
    if isinstance(body, Mapping):
        parts = []
        for key in ("status", "message", "errorCode", "error", "error_description", "reason"):
            if body.get(key) not in (None, ""):
                parts.append(f"{key}={body[key]}")
        details = body.get("details")
        if isinstance(details, Mapping):
            for key in ("status", "message", "reason", "error"):
                if details.get(key) not in (None, ""):
                    parts.append(f"details.{key}={details[key]}")
        if parts:
            return "; ".join(parts)[:500]
    if isinstance(body, str) and body.strip():
        return body.strip().splitlines()[0][:300]
    return "job failed without a reason in the response"


# ------------------------------------------------------------------------------- date patterns
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_PATTERN_LETTERS = frozenset("yMdEHhmsSa")


@functools.lru_cache(maxsize=64)
def _tokenize_pattern(pattern: str) -> tuple[tuple[str, str], ...]:
    """Split a Java ``SimpleDateFormat`` pattern into ``("field", "MMM")`` / ``("literal", ", ")`` tokens.

    Cached: a sync formats every row's date with the same pattern.
    """
    if not pattern:
        raise ConfigurationError("dateformat must not be empty")
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "'":
            if pattern[i + 1 : i + 2] == "'":
                tokens.append(("literal", "'"))
                i += 2
                continue
            end = pattern.find("'", i + 1)
            if end < 0:
                raise ConfigurationError(f"dateformat {pattern!r}: unterminated quote")
            tokens.append(("literal", pattern[i + 1 : end]))
            i = end + 1
        elif char.isascii() and char.isalpha():
            if char not in _PATTERN_LETTERS:
                raise ConfigurationError(
                    f"dateformat {pattern!r}: pattern letter {char!r} is not supported "
                    f"(supported: {''.join(sorted(_PATTERN_LETTERS))})"
                )
            j = i
            while j < len(pattern) and pattern[j] == char:
                j += 1
            tokens.append(("field", pattern[i:j]))
            i = j
        else:
            tokens.append(("literal", char))
            i += 1
    return tuple(tokens)


def validate_dateformat(pattern: str) -> str:
    """Check a Java-style ``dateformat`` can be produced here; return it unchanged.

    :raises ConfigurationError: for an unsupported pattern letter or an unterminated quote.
    """
    _tokenize_pattern(pattern)
    return pattern


def format_acton_date(value: date | datetime, pattern: str) -> str:
    """Format a date/datetime with a Java ``SimpleDateFormat`` pattern, month/day names in English.

    Supported letters: ``y`` (``yy`` two digits, otherwise four), ``M`` (``M``/``MM`` numbers, ``MMM`` =
    ``Jan``, ``MMMM`` = ``January``), ``d``, ``E`` (``EEE`` = ``Tue``, ``EEEE`` = ``Tuesday``), ``H``, ``h``,
    ``m``, ``s``, ``S`` (milliseconds) and ``a`` (AM/PM); ``'quoted'`` literals. Names are English regardless
    of the process locale (no ``strftime`` ``%b``). An aware datetime is formatted in its own offset.
    """
    moment = value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)
    return _date_formatter(pattern)(moment)


@functools.lru_cache(maxsize=64)
def _date_formatter(pattern: str) -> Callable[[datetime], str]:
    """Compile a pattern once into one ``str.format`` call per date (a sync formats every row's date)."""
    parts: list[str] = []
    getters: list[Callable[[datetime], object]] = []

    def field(getter: Callable[[datetime], object], spec: str = "") -> None:
        parts.append(f"{{{len(getters)}{spec}}}")
        getters.append(getter)

    for kind, text in _tokenize_pattern(pattern):
        if kind == "literal":
            parts.append(text.replace("{", "{{").replace("}", "}}"))
            continue
        letter, width = text[0], len(text)
        if letter == "y":
            if width == 2:
                field(lambda m: m.year % 100, ":02d")
            else:
                field(lambda m: m.year, f":0{max(width, 4)}d")
        elif letter == "M":
            if width >= 4:
                field(lambda m: _MONTHS[m.month - 1])
            elif width == 3:
                field(lambda m: _MONTHS[m.month - 1][:3])
            else:
                field(lambda m: m.month, f":0{width}d")
        elif letter == "d":
            field(lambda m: m.day, f":0{width}d")
        elif letter == "E":
            field((lambda m: _DAYS[m.weekday()]) if width >= 4 else (lambda m: _DAYS[m.weekday()][:3]))
        elif letter == "H":
            field(lambda m: m.hour, f":0{width}d")
        elif letter == "h":
            field(lambda m: (m.hour % 12) or 12, f":0{width}d")
        elif letter == "m":
            field(lambda m: m.minute, f":0{width}d")
        elif letter == "s":
            field(lambda m: m.second, f":0{width}d")
        elif letter == "S":
            field(lambda m: m.microsecond // 1000, f":0{max(width, 3)}d")
        elif letter == "a":
            field(lambda m: "AM" if m.hour < 12 else "PM")
    template = "".join(parts).format

    def format_date(moment: datetime) -> str:
        return template(*[get(moment) for get in getters])

    return format_date


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    for kind, text in _tokenize_pattern(pattern):
        if kind == "literal":
            parts.append(re.escape(text))
            continue
        letter, width = text[0], len(text)
        if letter == "y":
            parts.append(r"(?P<yy>\d{2})" if width == 2 else r"(?P<y>\d{4})")
        elif letter == "M":
            if width >= 4:
                parts.append("(?P<MMMM>" + "|".join(_MONTHS) + ")")
            elif width == 3:
                parts.append("(?P<MMM>" + "|".join(m[:3] for m in _MONTHS) + ")")
            else:
                parts.append(r"(?P<M>\d{1,2})")
        elif letter == "E":
            parts.append("(?:" + "|".join(_DAYS) + "|" + "|".join(d[:3] for d in _DAYS) + ")")
        elif letter in "dHhms":
            parts.append(rf"(?P<{letter}>\d{{1,2}})")
        elif letter == "S":
            parts.append(r"(?P<S>\d{1,3})")
        elif letter == "a":
            parts.append(r"(?P<a>AM|PM|am|pm)")
    return re.compile("".join(parts))


def parse_acton_date(text: str, pattern: str) -> datetime:
    """Parse a string written with a Java-style ``dateformat`` (English names, case-insensitive).

    :raises ValueError: when ``text`` does not match the pattern or is not a real date.
    """
    match = _pattern_regex(pattern).fullmatch(text.strip())
    if match is None:
        # names are matched case-sensitively by the regex; retry case-insensitively
        match = re.compile(_pattern_regex(pattern).pattern, re.IGNORECASE).fullmatch(text.strip())
    if match is None:
        raise ValueError("does not match the dateformat")
    groups = match.groupdict()
    if groups.get("y"):
        year = int(groups["y"])
    elif groups.get("yy"):
        year = 2000 + int(groups["yy"])
    else:
        year = 1970
    if groups.get("MMMM"):
        month = [m.lower() for m in _MONTHS].index(groups["MMMM"].lower()) + 1
    elif groups.get("MMM"):
        month = [m[:3].lower() for m in _MONTHS].index(groups["MMM"].lower()) + 1
    else:
        month = int(groups.get("M") or 1)
    hour = int(groups.get("H") or 0)
    if groups.get("h"):
        hour = int(groups["h"]) % 12 + (12 if (groups.get("a") or "").upper() == "PM" else 0)
    return datetime(
        year,
        month,
        int(groups.get("d") or 1),
        hour,
        int(groups.get("m") or 0),
        int(groups.get("s") or 0),
        int(groups.get("S") or 0) * 1000,
    )


# ------------------------------------------------------------------------------- CSV helpers
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
    out_dir = Path(directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(path).stem
    parts: list[Path] = []
    header = b""
    handle: Any = None
    size = 0
    records = iter_csv_records(path, layout)
    try:
        if layout.firstrow:
            header = next(records, b"")
            if header and not header.endswith(b"\n"):
                header += b"\r\n"
        for record in records:
            if len(header) + len(record) > max_bytes:
                raise ConfigurationError(
                    f"one CSV record of {len(record)} bytes does not fit in max_upload_bytes={max_bytes}"
                )
            if handle is None or size + len(record) > max_bytes:
                if handle is not None:
                    handle.close()
                part = out_dir / f"{stem}.part{len(parts) + 1:04d}.csv"
                parts.append(part)
                handle = open(part, "wb")  # noqa: SIM115 - closed when the part is full or at the end
                handle.write(header)
                size = len(header)
            line = record if record.endswith(b"\n") else record + b"\r\n"
            handle.write(line)
            size += len(line)
    finally:
        if handle is not None:
            handle.close()
    return parts


# ------------------------------------------------------------------------------- streamed upload
class MultipartFileBody:
    """A ``multipart/form-data`` body that streams one file part from disk.

    The form fields and the part headers are built in memory (a few hundred bytes); the file is read in
    64 KiB chunks as the HTTP client asks for them, so memory does not grow with the file. The length is
    known in advance, so the request carries a ``Content-Length`` (no chunked encoding). Build a new one
    for each attempt (the core's ``body_factory``): a stream cannot be rewound by the HTTP client.

    :param fields: the form fields, sent before the file (values are sent as UTF-8 text).
    :param file_path: the file to stream.
    :param file_field: the file part's name (Act-On: ``file``).
    :param filename: the file name announced in the part header.
    :param content_type: the file part's content type.
    """

    def __init__(
        self,
        fields: Sequence[tuple[str, str]],
        file_path: str | os.PathLike[str],
        *,
        file_field: str = "file",
        filename: str | None = None,
        content_type: str = "text/csv",
    ) -> None:
        self.boundary = f"----airflow-provider-events-{uuid.uuid4().hex}"
        self.file_path = os.fspath(file_path)
        safe_name = _header_safe(filename or os.path.basename(self.file_path))
        preamble = io.BytesIO()
        for name, value in fields:
            preamble.write(f"--{self.boundary}\r\n".encode())
            preamble.write(f'Content-Disposition: form-data; name="{_header_safe(name)}"\r\n\r\n'.encode())
            preamble.write(str(value).encode("utf-8"))
            preamble.write(b"\r\n")
        preamble.write(f"--{self.boundary}\r\n".encode())
        disposition = f'form-data; name="{_header_safe(file_field)}"; filename="{safe_name}"'
        preamble.write(f"Content-Disposition: {disposition}\r\n".encode())
        preamble.write(f"Content-Type: {content_type}\r\n\r\n".encode())
        self._preamble = preamble.getvalue()
        self._epilogue = f"\r\n--{self.boundary}--\r\n".encode()
        self._file_size = os.path.getsize(self.file_path)
        self._length = len(self._preamble) + self._file_size + len(self._epilogue)
        self._stage = 0  # 0 preamble, 1 file, 2 epilogue, 3 done
        self._buffer = b""
        self._file: Any = None

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def headers(self) -> dict[str, str]:
        """The request headers this body needs."""
        return {"Content-Type": self.content_type, "Content-Length": str(self._length)}

    def __len__(self) -> int:
        return self._length

    def _next_chunk(self) -> bytes:
        while self._stage < 3:
            if self._stage == 0:
                self._stage = 1
                return self._preamble
            if self._stage == 1:
                if self._file is None:
                    self._file = open(self.file_path, "rb")  # noqa: SIM115 - closed at end of file
                chunk: bytes = self._file.read(_STREAM_CHUNK)
                if chunk:
                    return chunk
                self._file.close()
                self._stage = 2
                continue
            self._stage = 3
            return self._epilogue
        return b""

    def read(self, size: int = -1) -> bytes:
        """File-like read used by the HTTP client (``size`` < 0 reads everything left: avoid it)."""
        if size is None or size < 0:
            return self._buffer + b"".join(iter(self._next_chunk, b""))
        while len(self._buffer) < size:
            chunk = self._next_chunk()
            if not chunk:
                break
            self._buffer += chunk
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def __iter__(self) -> Iterator[bytes]:
        if self._buffer:
            yield self._buffer
            self._buffer = b""
        yield from iter(self._next_chunk, b"")

    def close(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()
        self._stage = 3


def _header_safe(value: str) -> str:
    return value.replace("\\", "_").replace('"', "_").replace("\r", " ").replace("\n", " ")


# ------------------------------------------------------------------------------- pacing
_LIMITERS: dict[tuple[str, float], TokenBucket] = {}
_LIMITERS_LOCK = threading.Lock()


def shared_rate_limiter(account: str, rate: float | None) -> TokenBucket:
    """One token bucket per account and rate in this process, shared by every hook instance."""
    if not rate:
        return TokenBucket(None)
    with _LIMITERS_LOCK:
        bucket = _LIMITERS.get((account, float(rate)))
        if bucket is None:
            bucket = _LIMITERS[(account, float(rate))] = TokenBucket(float(rate))
        return bucket


# ------------------------------------------------------------------------------- hook
class ActOnHook(BaseEventsHook):
    """Talks to the Act-On REST API (US or EU gateway) with OAuth2 bearer tokens.

    Connection: ``host`` = base URL (default the US gateway, or extra ``region: eu``), ``login`` /
    ``password`` = the Act-On user, extras ``client_id`` and ``client_secret``, optionally
    ``refresh_token`` (an existing refresh token, used instead of a first password login),
    ``refresh_margin`` (older name ``token_refresh_margin``; seconds before ``expires_in`` at which a
    cached access token is renewed, default 120), ``max_requests_per_second`` (default 5) and the HTTP
    core's extras.

    Tokens are kept in a :class:`~airflow_provider_events.hooks.token_store.FileTokenStore` shared by every
    task and worker process on the host (``$AIRFLOW_PROVIDER_EVENTS_TOKEN_DIR``), keyed by the account
    (base URL, user, client id). A password login happens only when there is neither a usable access token
    nor a working refresh token; each refresh rotates the single-use refresh token and persists it at once,
    under the store's lock, so two tasks refreshing together do not burn each other's token.

    :param conn_id: the ``acton`` connection id.
    :param token_store: where tokens are shared (default: the per-host file store).
    :param kwargs: the HTTP core's options (``timeout``, ``retry_policy``, ``max_requests_per_second`` ...).
    """

    default_conn_name: ClassVar[str] = "acton_default"
    conn_type: ClassVar[str] = "acton"
    hook_name: ClassVar[str] = "Act-On"
    default_base_url: ClassVar[str] = REGION_BASE_URLS["us"]
    default_requests_per_second: ClassVar[float | None] = 5.0
    #: seconds before expiry at which a cached access token is no longer used.
    default_token_refresh_margin: ClassVar[float] = 120.0

    def __init__(
        self, conn_id: str | None = None, *, token_store: FileTokenStore | None = None, **kwargs: Any
    ) -> None:
        super().__init__(conn_id, **kwargs)
        self._token_store = token_store
        self._token: CachedToken | None = None
        self._rejected_access_token: str | None = None
        self._token_lock = threading.Lock()
        self._rate_limiter_override: TokenBucket | None = None
        #: what this hook instance did about tokens (for logs and tests).
        self.token_stats: dict[str, int] = {"password_grants": 0, "refresh_grants": 0, "store_hits": 0}

    def region_base_url(self) -> str | None:
        region = str(self.extra("region", "us")).strip().lower()
        if region not in REGION_BASE_URLS:
            raise ConfigurationError(f"connection {self.conn_id!r}: unknown region {region!r}; use us or eu")
        return REGION_BASE_URLS[region]

    # ------------------------------------------------------------------ account, pacing
    @property
    def token_store(self) -> FileTokenStore:
        if self._token_store is None:
            self._token_store = FileTokenStore()
        return self._token_store

    @property
    def username(self) -> str:
        return str(self.connection.login or "")

    @property
    def client_id(self) -> str:
        return str(self.extra("client_id", ""))

    @property
    def account(self) -> str:
        """The token-store key of this connection's account (a hash; never reveals the user)."""
        return account_key("acton", self.base_url, self.username, self.client_id)

    @property
    def token_refresh_margin(self) -> float:
        return self.number_extra(REFRESH_MARGIN_EXTRAS, self.default_token_refresh_margin)

    @property
    def rate_limiter(self) -> TokenBucket:  # type: ignore[override]
        """Paces requests at 5/s per Act-On account, shared by every hook instance of the process.

        Several worker processes each pace on their own; lower ``max_requests_per_second`` when many run
        at once against one account. Assigning a bucket replaces it for this hook only.
        """
        if self._rate_limiter_override is not None:
            return self._rate_limiter_override
        rate = self._rate_override
        if rate is None:
            rate = self.extra("max_requests_per_second", self.default_requests_per_second)
        return shared_rate_limiter(self.account, float(rate) if rate else None)

    @rate_limiter.setter
    def rate_limiter(self, bucket: TokenBucket) -> None:
        self._rate_limiter_override = bucket

    # ------------------------------------------------------------------ OAuth2
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.get_access_token()}"}

    def on_unauthorized(self) -> bool:
        """A 401 on an API call: forget the access token (the next call renews it) and retry once."""
        with self._token_lock:
            if self._token is not None:
                self._rejected_access_token = self._token.access_token
            self._token = None
        self.log.info("Act-On refused the access token; renewing it")
        return True

    def get_access_token(self) -> str:
        """A usable access token: from this hook, else the shared store, else refreshed or logged in."""
        margin = self.token_refresh_margin
        with self._token_lock:
            if self._token is not None and self._token.usable(margin):
                return self._token.access_token
            stored = self.token_store.peek(self.account)
            if self._acceptable(stored, margin):
                assert stored is not None
                self.token_stats["store_hits"] += 1
                return self._adopt(stored)
            with self.token_store.transaction(self.account) as slot:
                if self._acceptable(slot.token, margin):
                    assert slot.token is not None
                    self.token_stats["store_hits"] += 1
                    return self._adopt(slot.token)
                return self._adopt(self._renew(slot))

    def _acceptable(self, token: CachedToken | None, margin: float) -> bool:
        return (
            token is not None and token.usable(margin) and token.access_token != self._rejected_access_token
        )

    def _adopt(self, token: CachedToken) -> str:
        mask(token.access_token)
        mask(token.refresh_token)
        self._token = token
        return token.access_token

    def _renew(self, slot: TokenSlot) -> CachedToken:
        """Refresh (rotating the refresh token) or log in; persist the result. Called under the lock."""
        candidates: list[str] = []
        if slot.token is not None and slot.token.refresh_token:
            candidates.append(slot.token.refresh_token)
        bootstrap = self.extra("refresh_token")
        if bootstrap:
            mask(bootstrap)
            used = slot.token.extra.get("bootstrap_used") if slot.token is not None else None
            fingerprint = account_key(str(bootstrap))
            if used != fingerprint and bootstrap not in candidates:
                candidates.append(str(bootstrap))
        for refresh_token in candidates:
            try:
                body = self._token_request(
                    {"grant_type": "refresh_token", "refresh_token": refresh_token}, grant="refresh_token"
                )
            except VendorApiError as exc:
                if _is_invalid_grant(exc):
                    self.log.info(
                        "Act-On refresh token no longer valid (%s); trying the next way in", exc.message
                    )
                    continue
                raise
            self.token_stats["refresh_grants"] += 1
            token = self._token_from(body, bootstrap_fingerprint=_bootstrap_mark(bootstrap))
            slot.save(token)
            return token
        if not self.username or not self.connection.password:
            slot.clear()
            raise VendorAuthError(
                "acton",
                401,
                "no usable token and no login/password on the connection to log in with "
                "(set login and password, or a fresh refresh_token extra)",
            )
        body = self._token_request(
            {"grant_type": "password", "username": self.username, "password": self.connection.password},
            grant="password",
        )
        self.token_stats["password_grants"] += 1
        self.log.info("Act-On password login done for connection %s", self.conn_id)
        token = self._token_from(body, bootstrap_fingerprint=_bootstrap_mark(bootstrap))
        slot.save(token)
        return token

    def _token_request(self, form: dict[str, str], *, grant: str) -> Mapping[str, Any]:
        client_secret = self.extra("client_secret")
        mask(client_secret)
        fields = {**form, "client_id": self.client_id, "client_secret": str(client_secret or "")}
        # A password grant refused with 429 means the 5-logins-per-hour budget is spent: waiting out its
        # Retry-After (up to an hour) while holding the account's token lock would stall every task.
        policy = self.retry_policy
        if grant == "password":
            policy = dataclasses.replace(policy, retry_statuses=policy.retry_statuses - {429})
        body = self.request_json(
            "POST",
            "token",
            data=fields,
            authenticated=False,
            idempotent=False,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            retry_policy=policy,
        )
        if not isinstance(body, Mapping) or not body.get("access_token"):
            raise VendorApiError("acton", 200, f"token endpoint ({grant} grant) returned no access_token")
        mask(body.get("access_token"))
        mask(body.get("refresh_token"))
        return body

    @staticmethod
    def _token_from(body: Mapping[str, Any], *, bootstrap_fingerprint: str | None) -> CachedToken:
        expires_in = _as_int(body.get("expires_in")) or 3600
        extra: dict[str, Any] = {"obtained_at": time.time(), "expires_in": expires_in}
        if bootstrap_fingerprint:
            extra["bootstrap_used"] = bootstrap_fingerprint
        return CachedToken(
            access_token=str(body["access_token"]),
            expires_at=time.time() + expires_in,
            refresh_token=str(body["refresh_token"]) if body.get("refresh_token") else None,
            extra=extra,
        )

    def parse_error_body(self, body: Any) -> str:
        """One line from Act-On's three error families.

        ``{"errorCode", "message"}`` (API), ``{"httpCode", "httpMessage", "moreInformation"}`` (gateway) and
        ``{"error", "error_description"}`` (token endpoint).
        """
        if isinstance(body, Mapping):
            if body.get("errorCode") not in (None, "") or (body.get("message") and "httpCode" not in body):
                message = str(body.get("message") or "error")
                code = body.get("errorCode")
                return f"{message} (errorCode {code})" if code not in (None, "") else message
            if any(body.get(k) for k in ("httpCode", "httpMessage", "moreInformation")):
                head = str(body.get("httpMessage") or f"HTTP {body.get('httpCode')}")
                more = body.get("moreInformation")
                return f"{head}: {more}" if more else head
            if body.get("error") or body.get("error_description"):
                error = str(body.get("error") or "")
                description = str(body.get("error_description") or "")
                return f"{error}: {description}" if error and description else (error or description)
        return super().parse_error_body(body)

    # ------------------------------------------------------------------ custom-event uploads
    def upload_custom_events(
        self,
        file_path: str | os.PathLike[str],
        *,
        destination: str,
        customeventaction: str,
        email_col: int,
        date_col: int,
        title_col: int,
        note_col: int | None = None,
        title_count: int | None = None,
        dateformat: str,
        firstrow: bool = True,
        fieldseparator: str = "COMMA",
        quotecharacter: str = "DOUBLE_QUOTE",
        filename: str | None = None,
    ) -> str:
        """Upload one CSV file of custom events (at most the size limit) and return the job id.

        The file is streamed from disk as ``multipart/form-data`` (part ``file``). The POST creates a job,
        so it is retried only when the failure proves Act-On did not process it. Use
        :meth:`upload_custom_events_split` for files that may exceed the 400 MB limit.

        :param file_path: the CSV file.
        :param destination: the custom-event listing name (created by the first upload to it).
        :param customeventaction: one of :data:`CUSTOM_EVENT_ACTIONS` (one per upload).
        :param email_col: zero-based column index of the e-mail.
        :param date_col: zero-based column index of the event date.
        :param title_col: zero-based column index of the event title.
        :param note_col: zero-based column index of an optional note.
        :param title_count: number of new distinct titles in the file; ``None`` counts the distinct titles.
        :param dateformat: Java-style pattern of the date column (e.g. ``MM/dd/yyyy``).
        :param firstrow: the first row holds headings.
        :param fieldseparator: ``TAB``, ``COMMA``, ``SEMICOLON`` or ``SPACE``.
        :param quotecharacter: ``NONE``, ``SINGLE_QUOTE`` or ``DOUBLE_QUOTE``.
        :param filename: the file name sent to Act-On (default: the file's base name).
        :returns: the job id.
        """
        layout = CsvLayout(fieldseparator, quotecharacter, firstrow)
        action = str(customeventaction).strip().upper()
        if action not in CUSTOM_EVENT_ACTIONS:
            raise ConfigurationError(
                f"customeventaction {customeventaction!r} is not one of {sorted(CUSTOM_EVENT_ACTIONS)}"
            )
        if not str(destination).strip():
            raise ConfigurationError("destination must not be empty")
        for name, index in (("email_col", email_col), ("date_col", date_col), ("title_col", title_col)):
            if int(index) < 0:
                raise ConfigurationError(f"{name} must be a zero-based column index")
        if title_count is None:
            title_count = count_distinct_titles(file_path, layout, int(title_col))
        fields: list[tuple[str, str]] = [
            ("destination", str(destination)),
            ("firstrow", "Y" if layout.firstrow else "N"),
            ("fieldseparator", layout.fieldseparator),
            ("quotecharacter", layout.quotecharacter),
            ("customeventaction", action),
            ("emailcolidx", str(int(email_col))),
            ("datecolidx", str(int(date_col))),
            ("titlecolidx", str(int(title_col))),
        ]
        if note_col is not None:
            fields.append(("notecolidx", str(int(note_col))))
        name = filename or os.path.basename(os.fspath(file_path))
        fields += [
            ("titlecount", str(int(title_count))),
            ("dateformat", validate_dateformat(dateformat)),
            ("filename", name),
        ]

        def body_factory() -> tuple[Any, dict[str, str]]:
            body = MultipartFileBody(fields, file_path, file_field="file", filename=name)
            return body, body.headers()

        size = os.path.getsize(file_path)
        self.log.info("Uploading %d bytes of custom events to Act-On (%s)", size, action)
        result = self.request_json(
            "POST",
            "api/1/customevents",
            idempotent=False,
            body_factory=body_factory,
            timeout=(self.timeout[0], max(self.timeout[1], 300.0)),
        )
        job_id = result.get("jobId") if isinstance(result, Mapping) else None
        if job_id in (None, ""):
            raise VendorApiError("acton", 200, "upload answered without a jobId", body=_describe(result))
        self.log.info("Act-On accepted the upload as job %s", job_id)
        return str(job_id)

    def upload_custom_events_split(
        self,
        file_path: str | os.PathLike[str],
        *,
        max_upload_bytes: int | None = None,
        spool_dir: str | os.PathLike[str] | None = None,
        already_submitted: Sequence[str | None] = (),
        on_submitted: Callable[[list[str | None]], None] | None = None,
        **upload_kwargs: Any,
    ) -> list[str]:
        """Upload a CSV file of any size: split above ``max_upload_bytes`` into one job per part.

        The split is on record boundaries (quoted newlines stay inside their record), every part repeats
        the header row when ``firstrow``, and the same file always gives the same parts. ``titlecount`` is
        counted per part when not given.

        :param file_path: the CSV file.
        :param max_upload_bytes: size limit per job (default: the ``max_upload_bytes`` extra, else 400 MB).
        :param spool_dir: where the parts are written (default: a temporary directory, removed after).
        :param already_submitted: job ids of the parts an earlier attempt uploaded, by part index: those
            parts are skipped (a ``None`` entry, e.g. a job Act-On reported failed, is uploaded again).
        :param on_submitted: called with the job ids so far after each upload (to record them durably).
        :param upload_kwargs: the arguments of :meth:`upload_custom_events`.
        :returns: the job ids, one per part, in order (a single id when the file fits).
        """
        limit = int(max_upload_bytes or self.extra("max_upload_bytes", DEFAULT_MAX_UPLOAD_BYTES))
        job_ids: list[str | None] = list(already_submitted)
        if os.path.getsize(file_path) <= limit:
            if not job_ids or job_ids[0] is None:
                job_ids[:1] = [self.upload_custom_events(file_path, **upload_kwargs)]
                if on_submitted:
                    on_submitted(list(job_ids))
            return [str(j) for j in job_ids]
        layout = CsvLayout(
            upload_kwargs.get("fieldseparator", "COMMA"),
            upload_kwargs.get("quotecharacter", "DOUBLE_QUOTE"),
            upload_kwargs.get("firstrow", True),
        )
        with tempfile.TemporaryDirectory(prefix="acton-split-", dir=spool_dir) as tmp:
            parts = split_csv_file(file_path, layout, limit, tmp)
            self.log.info("File is above %d bytes: uploading it as %d jobs", limit, len(parts))
            base_name = upload_kwargs.pop("filename", None) or os.path.basename(os.fspath(file_path))
            for index, part in enumerate(parts):
                if index < len(job_ids) and job_ids[index] is not None:
                    continue
                stem, dot, ext = base_name.rpartition(".")
                part_name = f"{stem}.part{index + 1}.{ext}" if dot else f"{base_name}.part{index + 1}"
                job_id = self.upload_custom_events(part, filename=part_name, **upload_kwargs)
                if index < len(job_ids):
                    job_ids[index] = job_id
                else:
                    job_ids.append(job_id)
                if on_submitted:
                    on_submitted(list(job_ids))
                part.unlink()
        return [str(j) for j in job_ids]

    def get_custom_event_job(self, job_id: str) -> ActOnCustomEventJob:
        """The status of an upload job, classified by :func:`classify_job_status`.

        An unknown or expired job id (400, errorCode 10017) is returned as :attr:`ActOnJobStatus.EXPIRED`
        rather than raised; other errors raise the core's typed exceptions.
        """
        job = str(job_id).strip()
        if not job:
            raise ConfigurationError("job_id must not be empty")
        try:
            response = self.request(
                "GET",
                f"api/1/customevents/{quote(job, safe='')}/status",
                headers={"Cache-Control": "no-cache"},
            )
        except VendorBadRequestError as exc:
            if is_expired_job_error(exc.body):
                return classify_job_status(job, exc.body, exc.status_code)
            raise
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = response.text[:300]
        return classify_job_status(job, body, response.status_code)

    def wait_for_custom_event_jobs(
        self,
        job_ids: Sequence[str],
        *,
        poll_interval: float = 30.0,
        timeout: float | None = None,
        known: Mapping[str, ActOnCustomEventJob] | None = None,
        on_terminal: Callable[[ActOnCustomEventJob], None] | None = None,
    ) -> list[ActOnCustomEventJob]:
        """Poll jobs until each is terminal (succeeded, failed or expired) and return them in order.

        Transient errors while polling (429/5xx/unreachable after the core's retries) are logged and the
        job is polled again at the next interval; other errors raise.

        :param job_ids: the jobs to wait for.
        :param poll_interval: seconds between two polls of the pending jobs.
        :param timeout: seconds to wait at most (``None``: no limit).
        :param known: jobs already known terminal (an earlier attempt saw them finish): not polled.
        :param on_terminal: called once per job when it becomes terminal (to record it durably).
        :raises ActOnJobTimeoutError: when jobs are still pending at the deadline.
        """
        done: dict[str, ActOnCustomEventJob] = {
            jid: job for jid, job in (known or {}).items() if job.terminal and jid in job_ids
        }
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        while True:
            for job_id in job_ids:
                if job_id in done:
                    continue
                try:
                    job = self.get_custom_event_job(job_id)
                except (VendorApiError, EventsProviderError) as exc:
                    if not getattr(exc, "retryable", False):
                        raise
                    self.log.warning("Polling Act-On job %s failed (%s); polling again", job_id, exc)
                    continue
                if job.terminal:
                    done[job_id] = job
                    self.log.info(
                        "Act-On job %s %s (appended %s, rejected %s)",
                        job_id,
                        job.status.value,
                        job.append_count,
                        job.rejected_count,
                    )
                    if on_terminal is not None:
                        on_terminal(job)
            if len(done) == len(set(job_ids)):
                return [done[jid] for jid in job_ids]
            if deadline is not None and time.monotonic() + poll_interval > deadline:
                waiting = [jid for jid in job_ids if jid not in done]
                raise ActOnJobTimeoutError(f"Act-On jobs {waiting} not finished within {timeout} s")
            time.sleep(poll_interval)

    # ------------------------------------------------------------------ single events, listings
    def send_custom_event_fact(
        self,
        *,
        destination: str,
        customeventaction: str,
        email: str,
        when: str | date | datetime,
        title: str,
        note: str | None = None,
        dateformat: str = "yyyy-MM-dd",
        createlistingentry: bool | None = None,
    ) -> dict[str, Any]:
        """Record one custom event synchronously (``POST /api/1/customevents/fact``).

        Not retried once it may have reached Act-On (it is not idempotent).

        :param destination: custom-event listing name.
        :param customeventaction: one of :data:`CUSTOM_EVENT_ACTIONS`.
        :param email: the contact's e-mail.
        :param when: the event date: a date/datetime (formatted with ``dateformat``) or an already formatted
            string.
        :param title: the event title.
        :param note: optional note.
        :param dateformat: Java-style pattern of ``when``.
        :param createlistingentry: create the destination when missing (sent only when given).
        :returns: the decoded answer (``{}`` when Act-On answers without a JSON body).
        """
        action = str(customeventaction).strip().upper()
        if action not in CUSTOM_EVENT_ACTIONS:
            raise ConfigurationError(
                f"customeventaction {customeventaction!r} is not one of {sorted(CUSTOM_EVENT_ACTIONS)}"
            )
        validate_dateformat(dateformat)
        when_text = format_acton_date(when, dateformat) if isinstance(when, (date, datetime)) else str(when)
        form: dict[str, str] = {
            "destination": str(destination),
            "customeventaction": action,
            "email": str(email),
            "when": when_text,
            "title": str(title),
            "dateformat": dateformat,
        }
        if note not in (None, ""):
            form["note"] = str(note)
        if createlistingentry is not None:
            form["createlistingentry"] = "true" if createlistingentry else "false"
        response = self.request("POST", "api/1/customevents/fact", data=form, idempotent=False)
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = {}
        return dict(body) if isinstance(body, Mapping) else {"result": body}

    def list_custom_event_destinations(self, *, page_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Every custom-event listing (``GET /api/1/list?listingtype=custom_events``), one page at a time."""

        def fetch(offset: int, count: int) -> tuple[list[dict[str, Any]], int | None]:
            body = self.request_json(
                "GET", "api/1/list", params={"listingtype": "custom_events", "count": count, "offset": offset}
            )
            if not isinstance(body, Mapping):
                return [], 0
            items = [dict(item) for item in body.get("result") or [] if isinstance(item, Mapping)]
            return items, _as_int(body.get("totalCount"))

        return paginate_offset(fetch, page_size=min(max(1, page_size), 1000))

    def check_connection(self) -> str:
        """Log in (or reuse the shared token) and list one custom-event listing."""
        body = self.request_json(
            "GET", "api/1/list", params={"listingtype": "custom_events", "count": 1, "offset": 0}
        )
        total = _as_int(body.get("totalCount")) if isinstance(body, Mapping) else None
        found = f"{total} custom-event destination(s)" if total is not None else "list endpoint answered"
        return f"Connected to Act-On at {self.base_url}: {found}"


def _is_invalid_grant(exc: VendorApiError) -> bool:
    body = exc.body
    if isinstance(body, Mapping) and str(body.get("error") or "").lower() == "invalid_grant":
        return True
    return exc.status_code in (400, 401, 403) and "invalid_grant" in str(exc.message).lower()


def _bootstrap_mark(bootstrap: Any) -> str | None:
    """The fingerprint recorded once a token was obtained: any new token kills the bootstrap refresh token."""
    return account_key(str(bootstrap)) if bootstrap else None
