"""Act-On delivery adapter: mapped rows -> a CSV written here -> upload jobs -> (optionally) their outcome.

Record fields (the mapping's vendor field names):

- ``email`` (required): a plausible address (``local@domain.tld``, no blanks, at most 254 characters);
- ``date`` (required): a ``date``/``datetime`` (formatted with the ``dateformat`` option), or a string that
  is ISO 8601 (``2024-01-25``, ``2024-01-25T10:00:00Z``: parsed, then formatted) or already written in the
  ``dateformat`` (passed as is). Anything else rejects the row. Aware datetimes are written in their own
  offset (no conversion);
- ``title`` (required): non-blank text (numbers are written as text);
- ``note`` (optional): text.

Any other field is a configuration error. Options (``destination_options``): ``destination`` (required),
``customeventaction`` (required), ``dateformat`` (default ``yyyy-MM-dd``), ``titlecount`` (default: the
distinct titles of each uploaded part), ``fieldseparator`` (``COMMA``), ``quotecharacter``
(``DOUBLE_QUOTE``), ``max_upload_bytes`` (400 MB, Act-On's limit per file), ``part_bytes`` (8 MiB: the rows
are uploaded in parts of about this size, each as its own job, while the next part is written; see
``adapters/acton_parts.py``), ``poll_interval`` (30 s), ``timeout`` (seconds to wait for the jobs; default
none) and ``filename``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from airflow_provider_events.adapters.acton_job_results import ActOnJobResults
from airflow_provider_events.adapters.acton_parts import (
    HEADER,
    ActOnValues,
    BackgroundUpload,
    PartSpool,
    SpooledPart,
    UploadedParts,
)
from airflow_provider_events.exceptions import ConfigurationError, EventsProviderError, InvalidRecordError
from airflow_provider_events.hooks.acton import CUSTOM_EVENT_ACTIONS, ActOnHook
from airflow_provider_events.hooks.acton_csv import (
    DEFAULT_MAX_UPLOAD_BYTES,
    CsvLayout,
    part_filename,
)
from airflow_provider_events.hooks.acton_dates import format_acton_date, parse_acton_date, validate_dateformat
from airflow_provider_events.hooks.acton_jobs import summarize_jobs
from airflow_provider_events.sync.adapter import (
    BatchAdapter,
    BatchOutcome,
    BlockPreparer,
    CheckpointState,
    PreparedBlock,
)

#: the checkpoint key under which the adapter records its spool and jobs.
STATE_KEY = "acton_batch"
FIELDS = frozenset(HEADER)
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_match_email = _EMAIL_RE.match
#: :data:`_EMAIL_RE` for many addresses at once, one a line: each line is matched on its own (a pattern
#: repeated over the lines would backtrack across them, exponentially on a bad line); a blank fails a line.
_email_lines = re.compile(_EMAIL_RE.pattern, re.MULTILINE).findall
#: the default size of one uploaded part: small enough that Act-On reads part k while part k+1 is written.
DEFAULT_PART_BYTES = 8 * 1024 * 1024
#: the date values a block is validated with (each distinct value once): text, dates and naive datetimes.
_DATE_TYPES = (str, date, datetime)
#: distinct date texts whose CSV form an adapter remembers (dates repeat: many events a day).
_DATE_CACHE_SIZE = 4096


class ActOnRow(NamedTuple):
    """One validated custom event, as written to the CSV (a tuple: the CSV writer takes it as it is)."""

    email: str
    date: str
    title: str
    note: str


def coerce_date(value: Any, dateformat: str) -> str:
    """The date text for the CSV, per the rules in the module docstring.

    :raises ValueError: with a payload-free reason when the value is not a usable date.
    """
    if isinstance(value, (datetime, date)):
        return format_acton_date(value, dateformat)
    if not isinstance(value, str):
        raise ValueError(f"expected a date, datetime or text, got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise ValueError("is empty")
    try:
        iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
        return format_acton_date(datetime.fromisoformat(iso), dateformat)
    except ValueError:
        pass
    try:
        parse_acton_date(text, dateformat)
    except ValueError:
        raise ValueError(f"is neither ISO 8601 nor written as {dateformat!r}") from None
    return text


def _note_texts(notes: Sequence[Any]) -> Sequence[str]:
    """The CSV text of each ``note`` value (as ``prepare`` makes it)."""
    try:
        "".join(notes)
    except TypeError:
        return ["" if note is None else note if type(note) is str else str(note) for note in notes]
    return notes


class ActOnAdapter(BatchAdapter[ActOnHook, ActOnValues]):
    """Writes the events to CSV files and uploads each as an Act-On custom-event job."""

    conn_type: ClassVar[str] = "acton"
    default_max_requests_per_second: ClassVar[float | None] = 5.0
    default_max_concurrency: ClassVar[int] = 1
    option_names: ClassVar[frozenset[str]] = frozenset(
        {
            "destination",
            "customeventaction",
            "dateformat",
            "titlecount",
            "poll_interval",
            "timeout",
            "fieldseparator",
            "quotecharacter",
            "max_upload_bytes",
            "part_bytes",
            "filename",
        }
    )

    def __init__(self, hook: ActOnHook, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(hook, options)
        opts = self.options
        self.destination = str(opts.get("destination") or "").strip()
        if not self.destination:
            raise ConfigurationError("acton destination_options need a 'destination' (custom-event listing)")
        self.action = str(opts.get("customeventaction") or "").strip().upper()
        if self.action not in CUSTOM_EVENT_ACTIONS:
            raise ConfigurationError(
                f"acton destination_options 'customeventaction' must be one of {sorted(CUSTOM_EVENT_ACTIONS)}"
            )
        self.dateformat = validate_dateformat(str(opts.get("dateformat") or "yyyy-MM-dd"))
        self.layout = CsvLayout(
            str(opts.get("fieldseparator") or "COMMA"),
            str(opts.get("quotecharacter") or "DOUBLE_QUOTE"),
            True,
        )
        titlecount = opts.get("titlecount")
        self.titlecount = None if titlecount in (None, "") else int(titlecount)
        self.max_upload_bytes = int(opts.get("max_upload_bytes") or DEFAULT_MAX_UPLOAD_BYTES)
        part_bytes = int(opts.get("part_bytes") or DEFAULT_PART_BYTES)
        if part_bytes < 1:
            raise ConfigurationError(f"acton destination_options 'part_bytes' must be positive: {part_bytes}")
        self.part_bytes = min(part_bytes, self.max_upload_bytes)
        self.poll_interval = float(opts.get("poll_interval") or 30.0)
        timeout = opts.get("timeout")
        self.timeout = None if timeout in (None, "") else float(timeout)
        self.filename = str(opts.get("filename") or "custom-events.csv")
        self._dates: dict[str, tuple[str | None, str]] = {}
        self._unquoted = self.layout.quotechar is None

    def destination_object(self) -> str:
        """The custom-event listing and action (the delivery ledger's destination)."""
        return f"listing={self.destination}/action={self.action}"

    # ------------------------------------------------------------------ validation
    def prepare(self, record: dict[str, Any], key: str) -> ActOnRow:
        if not FIELDS.issuperset(record):
            unknown = set(record) - FIELDS
            raise ConfigurationError(
                f"acton records take the fields {sorted(FIELDS)}; the mapping also gives {sorted(unknown)}"
            )
        email = record.get("email")
        if not isinstance(email, str) or not (email := email.strip()):
            raise InvalidRecordError("email", "is missing")
        if len(email) > 254 or not _match_email(email):
            raise InvalidRecordError("email", "is not a valid e-mail address")
        when = record.get("date")
        # the date text seen before (dates repeat: many events a day): its CSV form, else the full rules
        known = self._dates.get(when) if type(when) is str else None
        when = known[0] if known is not None and known[0] is not None else self._date_text(when)
        title = record.get("title")
        if type(title) is not str:
            if title is None or isinstance(title, bool):
                raise InvalidRecordError("title", "is missing")
            title = str(title)
        if not title.strip():
            raise InvalidRecordError("title", "is missing")
        note = record.get("note")
        row = ActOnRow(email, when, title, "" if note is None else note if type(note) is str else str(note))
        if self._unquoted:
            for name, value in zip(HEADER, row, strict=True):
                if self._breaks_unquoted(value):
                    raise InvalidRecordError(
                        name, "holds the field separator or a line break, and quotecharacter is NONE"
                    )
        return row

    def block_preparer(self, fields: Sequence[str]) -> BlockPreparer[ActOnValues] | None:
        """Validates a block of records of these fields at once (see ``BatchAdapter.block_preparer``)."""
        if not FIELDS.issuperset(fields) or not {"email", "date", "title"}.issubset(fields):
            return None  # prepare() names the unknown or missing field
        position = {name: index for index, name in enumerate(fields)}
        email_at, date_at, title_at = position["email"], position["date"], position["title"]
        note_at = position.get("note")

        def prepare_block(values: Sequence[Sequence[Any]], keys: Sequence[str]) -> list[ActOnValues] | None:
            emails = values[email_at]
            if not emails:
                return []
            if not self._emails_valid(emails):
                return None
            dates = self._date_texts(values[date_at])
            if dates is None:
                return None
            titles = values[title_at]
            try:  # every title text and not blank (else prepare() converts or rejects it)
                if not all(map(str.strip, titles)):
                    return None
            except TypeError:
                return None
            notes = _note_texts(values[note_at]) if note_at is not None else ("",) * len(emails)
            rows = list(zip(emails, dates, titles, notes, strict=True))
            if self._unquoted and not self._unquoted_values_fit(emails, dates, titles, notes):
                return None
            return rows

        return prepare_block

    def _emails_valid(self, emails: Sequence[Any]) -> bool:
        """Every value a plausible address of at most 254 characters, with no blank to strip (one regex
        over the block's addresses, a line each; the length first, which bounds the regex's work)."""
        try:
            text = "\n".join(emails)
        except TypeError:
            return False
        count = len(emails)
        return (
            max(map(len, emails)) <= 254
            and text.count("\n") == count - 1  # no address holds a line break of its own
            and len(_email_lines(text)) == count
        )

    def _date_texts(self, dates: Sequence[Any]) -> list[str] | None:
        """The CSV date text of each value, each distinct value worked out once; ``None``: a value that is
        not valid (``prepare`` names it), or an aware datetime (equal ones across offsets write differently).
        """
        texts: dict[Any, str] = {}
        try:
            distinct = set(dates)
        except TypeError:  # an unhashable value: not a date either
            return None
        for value in distinct:
            kind = type(value)
            if (kind is datetime and value.tzinfo is not None) or kind not in _DATE_TYPES:
                return None
            try:
                texts[value] = self._date_text(value)
            except InvalidRecordError:
                return None
        return list(map(texts.__getitem__, dates))

    def _unquoted_values_fit(self, *columns: Sequence[str]) -> bool:
        """With ``quotecharacter`` NONE, no value holds the separator or a line break."""
        return not any(self._breaks_unquoted("".join(column)) for column in columns)

    def _breaks_unquoted(self, text: str) -> bool:
        """The text holds the field separator or a line break (it cannot be written without quotes)."""
        return self.layout.delimiter in text or "\n" in text or "\r" in text

    def _date_text(self, value: Any) -> str:
        """:func:`coerce_date` of the value; text values are remembered (the same text, the same answer)."""
        if value is None:
            raise InvalidRecordError("date", "is missing")
        if type(value) is not str:  # dates and datetimes: aware ones equal across offsets, so not cached
            try:
                return coerce_date(value, self.dateformat)
            except ValueError as exc:
                raise InvalidRecordError("date", str(exc)) from None
        known = self._dates.get(value)
        if known is None:
            try:
                known = (coerce_date(value, self.dateformat), "")
            except ValueError as exc:
                known = (None, str(exc))
            if len(self._dates) >= _DATE_CACHE_SIZE:
                self._dates.clear()
            self._dates[value] = known
        text, reason = known
        if text is None:
            raise InvalidRecordError("date", reason)
        return text

    # ------------------------------------------------------------------ delivery
    def deliver(
        self,
        blocks: Iterable[PreparedBlock[ActOnValues]],
        state: CheckpointState,
        *,
        wait: bool,
        retry_ambiguous: bool = False,
        on_held: Callable[[int], None] | None = None,
    ) -> BatchOutcome:
        uploaded = UploadedParts(dict(state.get(STATE_KEY) or {}))
        interrupted = uploaded.settle_interrupted(retry_ambiguous)
        if interrupted:
            state.put(STATE_KEY, uploaded.record)
            self.hook.log.warning(
                "An earlier attempt ended while uploading a part of %d rows (Act-On may or may not hold "
                "them): %s",
                interrupted,
                "uploading them again (retry_ambiguous): counted as possible duplicates"
                if retry_ambiguous
                else "not uploading them again (at most once): counted as in doubt",
            )
        if uploaded.complete:
            if uploaded.job_ids:
                self.hook.log.info(
                    "Re-attaching to Act-On jobs %s submitted by an earlier attempt", uploaded.job_ids
                )
        else:
            if uploaded.job_ids:
                self.hook.log.info(
                    "Resuming the Act-On upload after %d parts (%d rows) uploaded earlier as jobs %s",
                    len(uploaded.parts),
                    uploaded.rows,
                    uploaded.job_ids,
                )
            self._upload_parts(uploaded.not_yet_uploaded(blocks), state, uploaded, on_held, wait)
        job_ids, sent = list(uploaded.job_ids), uploaded.rows
        in_doubt, possible_duplicates = uploaded.in_doubt, uploaded.possible_duplicates
        if not wait or not job_ids:
            return BatchOutcome(
                sent=sent,
                job_ids=job_ids,
                pending=bool(job_ids),
                in_doubt=in_doubt,
                possible_duplicates=possible_duplicates,
            )
        results = ActOnJobResults(state, STATE_KEY)
        jobs = self.hook.wait_for_custom_event_jobs(
            job_ids,
            poll_interval=self.poll_interval,
            timeout=self.timeout,
            known=results.known(),
            on_terminal=results.remember,
        )
        summary = summarize_jobs(jobs)
        return BatchOutcome(
            sent=sent,
            accepted=summary.appended,
            rejected_by_vendor=summary.rejected,
            job_ids=job_ids,
            in_doubt=in_doubt,
            possible_duplicates=possible_duplicates,
        )

    def _upload_parts(
        self,
        blocks: Iterable[PreparedBlock[ActOnValues]],
        state: CheckpointState,
        uploaded: UploadedParts,
        on_held: Callable[[int], None] | None,
        wait: bool,
    ) -> None:
        """Write the events as CSV parts, each uploaded while the next is written; every job recorded.

        When the jobs are to be waited for, the upload thread also looks once at the previous part's job
        after each upload: a job Act-On already finished is recorded then and not polled again in the wait.
        """

        def upload(part: SpooledPart) -> str:  # in the upload thread
            job_id = self._upload_part(part)
            if part.check_job is not None:
                try:
                    part.seen_job = self.hook.get_custom_event_job(part.check_job)
                except EventsProviderError:  # polled again in the wait
                    part.seen_job = None
            return job_id

        def starting(part: SpooledPart) -> None:  # in this thread, before the upload starts
            uploaded.starting(part)
            state.put(STATE_KEY, uploaded.record)
            if wait and uploaded.job_ids and uploaded.job_ids[-1] not in uploaded.finished:
                part.check_job = uploaded.job_ids[-1]

        def record(part: SpooledPart, job_id: str) -> None:  # in this thread, in part order
            uploaded.add(part, job_id)
            if part.seen_job is not None and part.seen_job.terminal:
                uploaded.finish(part.seen_job)
            state.put(STATE_KEY, uploaded.record)
            part.path.unlink(missing_ok=True)

        def held(part: SpooledPart) -> None:  # in this thread, once the next part is going up
            if on_held is not None:
                on_held(part.last_row)

        spool = PartSpool(
            Path(state.spool_dir) / f"acton-{uuid.uuid4().hex[:12]}",
            self.layout,
            self.part_bytes,
            first_index=uploaded.next_index,
        )
        background = BackgroundUpload(upload, record, starting, held)
        try:
            spool.write_all(blocks, background.hand)
        finally:
            background.close()
        uploaded.mark_complete()
        state.put(STATE_KEY, uploaded.record)

    def _upload_part(self, part: SpooledPart) -> str:
        """Upload one part as a job (in the upload thread); its job id."""
        return self.hook.upload_custom_events(
            part.path,
            destination=self.destination,
            customeventaction=self.action,
            email_col=0,
            date_col=1,
            title_col=2,
            note_col=3 if part.has_note else None,
            title_count=self.titlecount if self.titlecount is not None else len(part.titles),
            dateformat=self.dateformat,
            firstrow=True,
            fieldseparator=self.layout.fieldseparator,
            quotecharacter=self.layout.quotecharacter,
            # a part alone (the first, and the last) keeps the file name; else name.partN.csv
            filename=part_filename(self.filename, part.index, 1 if part.index == 0 and part.final else 2),
        )
