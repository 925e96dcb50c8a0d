"""Act-On custom-event uploads that run as jobs: upload (split above the size limit), job status, wait.

:class:`ActOnCustomEventUploads` is the upload half of :class:`~airflow_provider_events.hooks.acton.ActOnHook`
(which adds the OAuth2 tokens and the single-event calls); use the hook, not this class.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from airflow_provider_events.exceptions import (
    ConfigurationError,
    EventsProviderError,
    VendorApiError,
    VendorBadRequestError,
)
from airflow_provider_events.hooks.acton_csv import (
    DEFAULT_MAX_UPLOAD_BYTES,
    CsvLayout,
    count_distinct_titles,
    part_filename,
    split_csv_file,
)
from airflow_provider_events.hooks.acton_dates import validate_dateformat
from airflow_provider_events.hooks.acton_job_poll import ActOnJobPoll, is_transient_poll_error
from airflow_provider_events.hooks.acton_jobs import (
    ActOnCustomEventJob,
    ActOnJobTimeoutError,
    classify_job_status,
    describe_job_body,
    is_expired_job_error,
)
from airflow_provider_events.hooks.base import BaseEventsHook
from airflow_provider_events.utils.multipart import MultipartFileBody

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


def check_custom_event_action(customeventaction: str) -> str:
    """The action upper-cased, when it is one of :data:`CUSTOM_EVENT_ACTIONS`.

    :raises ConfigurationError: for any other value.
    """
    action = str(customeventaction).strip().upper()
    if action not in CUSTOM_EVENT_ACTIONS:
        raise ConfigurationError(
            f"customeventaction {customeventaction!r} is not one of {sorted(CUSTOM_EVENT_ACTIONS)}"
        )
    return action


class ActOnCustomEventUploads(BaseEventsHook):
    """The custom-event upload-job endpoints of the Act-On hook (``/api/1/customevents``)."""

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
        action = check_custom_event_action(customeventaction)
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
            raise VendorApiError(
                "acton", 200, "upload answered without a jobId", body=describe_job_body(result)
            )
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
                part_name = part_filename(base_name, index, len(parts))
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
        poll = ActOnJobPoll(job_ids, known)
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        while True:
            for job_id in poll.pending():
                try:
                    job = self.get_custom_event_job(job_id)
                except EventsProviderError as exc:
                    if not is_transient_poll_error(exc):
                        raise
                    self.log.warning("Polling Act-On job %s failed (%s); polling again", job_id, exc)
                    continue
                if poll.record(job_id, job):
                    self.log.info(
                        "Act-On job %s %s (appended %s, rejected %s)",
                        job_id,
                        job.status.value,
                        job.append_count,
                        job.rejected_count,
                    )
                    if on_terminal is not None:
                        on_terminal(job)
            if poll.finished():
                return poll.jobs()
            if poll.out_of_time(time.monotonic(), poll_interval, deadline):
                raise ActOnJobTimeoutError(f"Act-On jobs {poll.waiting()} not finished within {timeout} s")
            time.sleep(poll_interval)
