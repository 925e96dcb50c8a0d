"""Act-On operators: upload a CSV file (or SQL rows) of custom events as jobs, and send one custom event."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, Context, conf

from airflow_provider_events.exceptions import ConfigurationError, RejectedThresholdExceededError
from airflow_provider_events.hooks.acton import (
    ActOnCustomEventJob,
    ActOnHook,
    ActOnJobStatus,
    summarize_jobs,
    validate_dateformat,
)
from airflow_provider_events.links import ActOnListingLink, push_link_target

if TYPE_CHECKING:
    from airflow_provider_events.sync.adapter import CheckpointState

#: the checkpoint key of the operator (the job ids submitted, the results seen, the validation counts).
STATE_KEY = "acton_upload_operator"


def _checkpoint(context: Context, checkpoint_path: str | None) -> CheckpointState:
    from airflow_provider_events.sync.checkpoint import CheckpointIdentity, open_checkpoint

    ti = context["ti"]
    identity = CheckpointIdentity(
        dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, map_index=getattr(ti, "map_index", -1)
    )
    return open_checkpoint(identity, checkpoint_path)


class ActOnUploadCustomEventsOperator(BaseOperator):
    """Upload custom events to Act-On as CSV upload jobs, and (by default) wait for them.

    Two sources:

    - **a CSV file** (``file_path``): a local path or any ``ObjectStoragePath`` URI (``s3://...``,
      ``gs://...``; copied to local disk in chunks first), described by the zero-based column indexes,
      ``fieldseparator``, ``quotecharacter``, ``firstrow`` and the ``dateformat`` of its date column. The
      file is streamed to Act-On, never loaded in memory; files above ``max_upload_bytes`` (400 MB) are
      split on row boundaries into several jobs, each part with the header row.
    - **rows from SQL** (``conn_id`` + ``sql``): streamed, mapped (``mapping`` to the fields ``email``,
      ``date``, ``title``, ``note``) and validated by the delivery engine, then written to CSV by
      :class:`~airflow_provider_events.adapters.acton.ActOnAdapter` (quoting, date formatting, titlecount).

    The submitted job ids are recorded in the task's checkpoint (the delivery engine's, per DAG run and task)
    *before* waiting: a retried or cleared task of the same DAG run re-attaches to them instead of uploading
    again. Exception: a file-source job that Act-On reported *failed* (nothing appended) has its part
    uploaded again by the next attempt. A job that expired before it was seen finishing is not re-uploaded
    (its outcome is unknown): the task fails; a new DAG run uploads anew.

    Rejected rows: Act-On's ``rejectedCount`` of every job, plus (SQL source) the rows the engine found
    invalid before the upload (written to the rejects file). ``max_rejected_ratio`` divides by the rows
    read (SQL) or by appended + rejected (file).

    Returns (XCom) ``{"job_ids": [...], "status": "succeeded", "appended": N, "rejected": M,
    "rejected_by_vendor": V}`` (SQL source also ``rows_read``, ``invalid_rows``, ``rejects_path``), or
    ``{"job_ids": [...], "status": "submitted"}`` without ``wait_for_completion``.

    :param destination: the custom-event listing name (templated).
    :param customeventaction: ``CUSTOM_DOWNLOADED``, ``CUSTOM_REGISTERED``, ``CUSTOM_ATTENDED``,
        ``CUSTOM_GENERAL`` or ``CUSTOM_GENERAL1``..``5``: one per upload (templated).
    :param file_path: the CSV file: local path or object-storage URI (templated).
    :param email_col: zero-based column of the e-mail in the file.
    :param date_col: zero-based column of the date in the file.
    :param title_col: zero-based column of the title in the file.
    :param note_col: zero-based column of an optional note in the file.
    :param firstrow: the file's first row is a header.
    :param fieldseparator: ``TAB``, ``COMMA``, ``SEMICOLON`` or ``SPACE``.
    :param quotecharacter: ``NONE``, ``SINGLE_QUOTE`` or ``DOUBLE_QUOTE``.
    :param dateformat: Java-style pattern of the dates (file: as written in it; SQL: the format to write,
        default ``yyyy-MM-dd``) (templated).
    :param titlecount: new distinct titles in the upload; default: counted from the data.
    :param conn_id: SQL connection of the rows source (instead of ``file_path``).
    :param sql: the query (templated).
    :param parameters: query parameters (templated).
    :param mapping: vendor field (``email``, ``date``, ``title``, ``note``) -> column name or Jinja2 row
        template such as ``"{{ row.mail | lower }}"`` (SQL source; default: the columns of those names).
        Rendered per row by the engine, not by Airflow's templating.
    :param acton_conn_id: the ``acton`` connection id.
    :param max_upload_bytes: size limit per job; larger uploads are split (default 400 MB).
    :param wait_for_completion: wait until the jobs finish (default True).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: seconds between job status polls.
    :param timeout: seconds to wait for the jobs at most (``None``: no limit).
    :param max_rejected: fail when Act-On rejected more rows than this.
    :param max_rejected_ratio: fail when the rejected fraction (of appended + rejected) exceeds this.
    :param checkpoint_path: where the checkpoint lives (default: the local state directory); an object
        storage URI makes retries on other workers re-attach too.
    :param sync_options: further settings of the delivery engine (SQL source): ``chunk_size``,
        ``rejects_path``, ``key_columns``, ``dry_run``, ``progress_interval`` (see ``SqlToEventsOperator``).
    """

    template_fields: Sequence[str] = (
        "destination",
        "customeventaction",
        "file_path",
        "dateformat",
        "sql",
        "parameters",
    )
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers = {"sql": "sql", "parameters": "json"}
    ui_color = "#e8f1fb"
    operator_extra_links = (ActOnListingLink(),)

    def __init__(
        self,
        *,
        destination: str,
        customeventaction: str,
        file_path: str | None = None,
        email_col: int = 0,
        date_col: int = 1,
        title_col: int = 2,
        note_col: int | None = None,
        firstrow: bool = True,
        fieldseparator: str = "COMMA",
        quotecharacter: str = "DOUBLE_QUOTE",
        dateformat: str | None = None,
        titlecount: int | None = None,
        conn_id: str | None = None,
        sql: str | None = None,
        parameters: Mapping[str, Any] | Sequence[Any] | None = None,
        mapping: Mapping[str, Any] | None = None,
        acton_conn_id: str = ActOnHook.default_conn_name,
        max_upload_bytes: int | None = None,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 30.0,
        timeout: float | None = None,
        max_rejected: int | None = None,
        max_rejected_ratio: float | None = None,
        checkpoint_path: str | None = None,
        sync_options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (file_path is None) == (sql is None):
            raise ConfigurationError("give exactly one source: file_path, or conn_id + sql")
        if sql is not None and not conn_id:
            raise ConfigurationError("a sql source needs conn_id")
        self.destination = destination
        self.customeventaction = customeventaction
        self.file_path = file_path
        self.email_col = email_col
        self.date_col = date_col
        self.title_col = title_col
        self.note_col = note_col
        self.firstrow = firstrow
        self.fieldseparator = fieldseparator
        self.quotecharacter = quotecharacter
        self.dateformat = dateformat
        self.titlecount = titlecount
        self.conn_id = conn_id
        self.sql = sql
        self.parameters = parameters
        self.mapping = mapping
        self.acton_conn_id = acton_conn_id
        self.max_upload_bytes = max_upload_bytes
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = float(poll_interval)
        self.timeout = timeout
        self.max_rejected = max_rejected
        self.max_rejected_ratio = max_rejected_ratio
        self.checkpoint_path = checkpoint_path
        self.sync_options = dict(sync_options or {})

    # ------------------------------------------------------------------ execute
    def execute(self, context: Context) -> Any:
        push_link_target(context, "acton", ActOnHook(self.acton_conn_id).extra("region"), self.destination)
        state = _checkpoint(context, self.checkpoint_path)
        job_ids = self._submit_rows(context, state) if self.sql is not None else self._submit_file(state)
        if not job_ids:
            self.log.info("Nothing was uploaded")
            return self._result([], state)
        if not self.wait_for_completion:
            return self._submitted(job_ids, state)
        hook = ActOnHook(self.acton_conn_id)
        known = self._known_results(state)
        if self.deferrable:
            jobs = [known.get(j) or hook.get_custom_event_job(j) for j in job_ids]
            if all(job.terminal for job in jobs):
                return self._finish(jobs, state)
            deadline = time.time() + float(self.timeout) if self.timeout else None
            from airflow_provider_events.triggers.acton import ActOnCustomEventJobTrigger

            self.defer(
                trigger=ActOnCustomEventJobTrigger(job_ids, self.acton_conn_id, self.poll_interval, deadline),
                method_name="execute_complete",
            )
        try:
            jobs = hook.wait_for_custom_event_jobs(
                job_ids,
                poll_interval=self.poll_interval,
                timeout=self.timeout,
                known=known,
                on_terminal=lambda job: self._remember(state, job),
            )
        finally:
            hook.close()
        return self._finish(jobs, state)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        state = _checkpoint(context, self.checkpoint_path)
        from airflow_provider_events.triggers.acton import jobs_from_event

        jobs = jobs_from_event(event)
        for job in jobs:
            self._remember(state, job)
        return self._finish(jobs, state)

    # ------------------------------------------------------------------ file source
    def _submit_file(self, state: CheckpointState) -> list[str]:
        record: dict[str, Any] = dict(state.get(STATE_KEY) or {})
        job_ids: list[str | None] = list(record.get("job_ids") or [])
        results: dict[str, Any] = dict(record.get("results") or {})
        failed = [j for j in job_ids if j and results.get(j, {}).get("status") == ActOnJobStatus.FAILED.value]
        if record.get("submitted") and not failed:
            self.log.info("Re-attaching to Act-On jobs %s submitted by an earlier attempt", job_ids)
            return [str(j) for j in job_ids]
        if failed:
            # a job Act-On reports failed appended nothing: upload its part again, keep the others
            self.log.info("Act-On jobs %s failed in an earlier attempt: uploading their parts again", failed)
            job_ids = [None if j in failed else j for j in job_ids]
            record["results"] = {k: v for k, v in results.items() if k not in failed}
        elif job_ids:
            self.log.info("Resuming an upload interrupted after jobs %s", job_ids)
        if not self.dateformat:
            raise ConfigurationError("a file source needs the dateformat of its date column")
        validate_dateformat(self.dateformat)
        hook = ActOnHook(self.acton_conn_id)

        def on_submitted(ids: list[str | None]) -> None:
            record["job_ids"] = ids
            state.put(STATE_KEY, record)

        local, temporary = self._local_file(str(self.file_path), state.spool_dir)
        try:
            submitted = hook.upload_custom_events_split(
                local,
                max_upload_bytes=self.max_upload_bytes,
                spool_dir=state.spool_dir,
                already_submitted=job_ids,
                on_submitted=on_submitted,
                destination=self.destination,
                customeventaction=self.customeventaction,
                email_col=self.email_col,
                date_col=self.date_col,
                title_col=self.title_col,
                note_col=self.note_col,
                title_count=self.titlecount,
                dateformat=self.dateformat,
                firstrow=self.firstrow,
                fieldseparator=self.fieldseparator,
                quotecharacter=self.quotecharacter,
                filename=os.path.basename(str(self.file_path).rstrip("/")) or None,
            )
        finally:
            if temporary:
                Path(local).unlink(missing_ok=True)
            hook.close()
        record.update(job_ids=submitted, submitted=True)
        state.put(STATE_KEY, record)
        return submitted

    def _local_file(self, path: str, spool_dir: str) -> tuple[str, bool]:
        """A local path for ``path``; an object-storage URI is copied to the spool directory in chunks."""
        if path.startswith("file://"):
            return path[len("file://") :], False
        if "://" not in path:
            return path, False
        from airflow.sdk import ObjectStoragePath

        target = Path(spool_dir) / f"source-{uuid.uuid4().hex[:12]}.csv"
        source = ObjectStoragePath(path)
        with source.open("rb") as src, open(target, "wb") as dst:  # type: ignore[no-untyped-call]
            shutil.copyfileobj(src, dst, 1024 * 1024)
        return str(target), True

    # ------------------------------------------------------------------ SQL source
    def _submit_rows(self, context: Context, state: CheckpointState) -> list[str]:
        """Stream, map, validate and upload the rows through the delivery engine (without waiting)."""
        from airflow_provider_events.sync.checkpoint import CheckpointIdentity
        from airflow_provider_events.sync.engine import SyncOptions
        from airflow_provider_events.sync.runner import sync_rows
        from airflow_provider_events.sync.source import SqlSource

        record: dict[str, Any] = dict(state.get(STATE_KEY) or {})
        if record.get("submitted"):
            self.log.info("Re-attaching to Act-On jobs %s submitted by an earlier attempt", record["job_ids"])
            return [str(j) for j in record.get("job_ids") or []]
        options: dict[str, Any] = {
            "destination": self.destination,
            "customeventaction": self.customeventaction,
            "fieldseparator": self.fieldseparator,
            "quotecharacter": self.quotecharacter,
        }
        for name in ("dateformat", "titlecount", "max_upload_bytes"):
            if getattr(self, name) is not None:
                options[name] = getattr(self, name)
        engine = dict(self.sync_options)
        chunk_size = int(engine.pop("chunk_size", 1000))
        rejects_path = engine.pop("rejects_path", None)
        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        report = sync_rows(
            destination_conn_id=self.acton_conn_id,
            source=SqlSource(str(self.conn_id), str(self.sql), self.parameters, chunk_size),
            mapping=self.mapping,
            identity=CheckpointIdentity(
                ti.dag_id, ti.run_id, ti.task_id, -1 if map_index is None else map_index
            ),
            destination_options=options,
            # thresholds are applied here once the jobs' rejected counts are known
            options=SyncOptions(
                **engine, wait_for_completion=False, max_rejected=None, max_rejected_ratio=None
            ),
            rejects_path=rejects_path,
            checkpoint_path=self.checkpoint_path,
            log=self.log,
        )
        record.update(
            job_ids=list(report.job_ids),
            submitted=True,
            rows_read=report.rows_read,
            invalid_rows=report.rejected - report.rejected_by_vendor,
            rejects_path=report.rejects_path,
        )
        state.put(STATE_KEY, record)
        return list(report.job_ids)

    # ------------------------------------------------------------------ results
    @staticmethod
    def _known_results(state: CheckpointState) -> dict[str, ActOnCustomEventJob]:
        record = state.get(STATE_KEY) or {}
        return {jid: ActOnCustomEventJob.from_dict(d) for jid, d in (record.get("results") or {}).items()}

    @staticmethod
    def _remember(state: CheckpointState, job: ActOnCustomEventJob) -> None:
        record = dict(state.get(STATE_KEY) or {})
        results = dict(record.get("results") or {})
        results[job.job_id] = job.to_dict()
        record["results"] = results
        state.put(STATE_KEY, record)

    def _result(self, jobs: list[ActOnCustomEventJob], state: CheckpointState) -> dict[str, Any]:
        summary = summarize_jobs(jobs)  # raises for a failed or expired job
        record = state.get(STATE_KEY) or {}
        invalid = int(record.get("invalid_rows") or 0)
        rejected = summary.rejected + invalid
        rows = (
            int(record["rows_read"]) if record.get("rows_read") is not None else summary.appended + rejected
        )
        result = {
            **summary.to_dict(),
            "status": "succeeded",
            "rejected": rejected,
            "rejected_by_vendor": summary.rejected,
        }
        if self.sql is not None:
            result.update(rows_read=rows, invalid_rows=invalid, rejects_path=record.get("rejects_path"))
        self._check_rejected(
            rejected,
            rows,
            f"{summary.rejected} by Act-On in jobs {summary.job_ids}, {invalid} invalid before upload",
        )
        return result

    def _submitted(self, job_ids: list[str], state: CheckpointState) -> dict[str, Any]:
        """The result when not waiting: job ids and, from SQL rows, what was read and rejected before upload.

        The thresholds apply to the rows rejected before upload; Act-On's own rejects are the sensor's to
        judge (``ActOnCustomEventJobSensor(max_rejected=...)``).
        """
        result: dict[str, Any] = {"job_ids": job_ids, "status": "submitted"}
        if self.sql is not None:
            record = state.get(STATE_KEY) or {}
            invalid = int(record.get("invalid_rows") or 0)
            rows = int(record.get("rows_read") or 0)
            result.update(rows_read=rows, invalid_rows=invalid, rejects_path=record.get("rejects_path"))
            self._check_rejected(
                invalid, rows, f"{invalid} invalid before upload, jobs {job_ids} not awaited"
            )
        return result

    def _check_rejected(self, rejected: int, rows: int, detail: str) -> None:
        """Raise when ``rejected`` of ``rows`` exceeds ``max_rejected`` or ``max_rejected_ratio``."""
        ratio = rejected / rows if rows else 0.0
        over = []
        if self.max_rejected is not None and rejected > self.max_rejected:
            over.append(f"max_rejected={self.max_rejected}")
        if self.max_rejected_ratio is not None and ratio > self.max_rejected_ratio:
            over.append(f"max_rejected_ratio={self.max_rejected_ratio:g}")
        if over:
            raise RejectedThresholdExceededError(
                f"{rejected} of {rows} rows rejected ({ratio:.2%}; {detail}): over {' and '.join(over)}"
            )

    def _finish(self, jobs: list[ActOnCustomEventJob], state: CheckpointState) -> dict[str, Any]:
        result = self._result(jobs, state)
        self.log.info(
            "Act-On jobs %s succeeded: %d rows appended, %d rejected",
            result["job_ids"],
            result["appended"],
            result["rejected"],
        )
        return result


class ActOnSendCustomEventOperator(BaseOperator):
    """Record one custom event through Act-On's fact endpoint (for event-driven DAGs).

    Returns (XCom) ``{"destination": ..., "customeventaction": ..., "status": "sent"}`` (never the e-mail).

    :param destination: custom-event listing name (templated).
    :param customeventaction: the event type (templated).
    :param contact_email: the contact's e-mail (templated). (Not ``email``: that is BaseOperator's alert
        address list.)
    :param when: the event date: a date/datetime, or text already in ``dateformat`` (templated; default: the
        run's logical date, else now).
    :param title: the event title (templated).
    :param note: optional note (templated).
    :param dateformat: Java-style pattern of ``when`` (templated).
    :param createlistingentry: create the destination when it does not exist.
    :param acton_conn_id: the ``acton`` connection id.
    """

    template_fields: Sequence[str] = (
        "destination",
        "customeventaction",
        "contact_email",
        "when",
        "title",
        "note",
        "dateformat",
    )
    ui_color = "#e8f1fb"

    def __init__(
        self,
        *,
        destination: str,
        customeventaction: str,
        contact_email: str,
        title: str,
        when: Any = None,
        note: str | None = None,
        dateformat: str = "yyyy-MM-dd",
        createlistingentry: bool | None = None,
        acton_conn_id: str = ActOnHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.destination = destination
        self.customeventaction = customeventaction
        self.contact_email = contact_email
        self.title = title
        self.when = when
        self.note = note
        self.dateformat = dateformat
        self.createlistingentry = createlistingentry
        self.acton_conn_id = acton_conn_id

    def execute(self, context: Context) -> Any:
        from datetime import datetime, timezone

        when = self.when
        if when in (None, ""):
            when = context.get("logical_date") or datetime.now(timezone.utc)
        hook = ActOnHook(self.acton_conn_id)
        try:
            hook.send_custom_event_fact(
                destination=self.destination,
                customeventaction=self.customeventaction,
                email=self.contact_email,
                when=when,
                title=self.title,
                note=self.note,
                dateformat=self.dateformat,
                createlistingentry=self.createlistingentry,
            )
        finally:
            hook.close()
        self.log.info("Act-On custom event sent to %s", self.destination)
        return {
            "destination": self.destination,
            "customeventaction": self.customeventaction,
            "status": "sent",
        }
