"""The Act-On upload operator: custom events from a CSV file or SQL rows, uploaded as jobs and awaited.

The sources live in :mod:`~airflow_provider_events.operators.acton_upload_file` and
:mod:`~airflow_provider_events.operators.acton_upload_sql`, the resume state in
:mod:`~airflow_provider_events.operators.acton_upload_state`; this module takes the arguments, waits for the
jobs (in the worker or deferred to the triggerer) and judges their outcome.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, Context, conf

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.hooks.acton import ActOnCustomEventJob, ActOnHook, summarize_jobs
from airflow_provider_events.lineage import remember_result
from airflow_provider_events.links import ActOnListingLink, push_link_target
from airflow_provider_events.operators._common import check_rejected, task_checkpoint
from airflow_provider_events.operators.acton_upload_file import submit_file
from airflow_provider_events.operators.acton_upload_sql import submit_rows
from airflow_provider_events.operators.acton_upload_state import job_results, upload_record
from airflow_provider_events.operators.sync import RowMappingTemplating
from airflow_provider_events.utils.coerce import as_bool, as_float, as_int

if TYPE_CHECKING:
    from airflow_provider_events.sync.adapter import CheckpointState

#: how long the upload operator waits for its jobs by default, in every mode: 7 days (as dbt Cloud's
#: operator, and ``[sensors] default_timeout`` for the sensor).
DEFAULT_TIMEOUT = 7 * 24 * 3600.0


class ActOnUploadCustomEventsOperator(RowMappingTemplating, BaseOperator):
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
    without ``wait_for_completion`` ``{"job_ids": [...], "status": "submitted"}`` (SQL source also
    ``rows_read``, ``invalid_rows``, ``rejects_path``, and the thresholds apply to the rows rejected before
    the upload).

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
    :param conn_id: SQL connection of the rows source (instead of ``file_path``); the operator's only SQL
        connection, so it keeps common.sql's name, as ``SqlToEventsOperator`` does.
    :param sql: the query (templated).
    :param parameters: query parameters (templated).
    :param hook_params: keyword arguments of the SQL connection's hook (``conn.get_hook(hook_params=...)``),
        e.g. a BigQuery ``location`` or a Snowflake ``role`` (templated).
    :param mapping: vendor field (``email``, ``date``, ``title``, ``note``) -> column name or Jinja2 row
        template such as ``"{{ row.mail | lower }}"`` (SQL source; default: the columns of those names)
        (templated). As for ``SqlToEventsOperator``: templates using ``row`` are rendered per row by the
        engine (with ``params``, ``ds``, ``ts``, ``run_id`` ...), the others once by Airflow.
    :param acton_conn_id: the ``acton`` connection id.
    :param max_upload_bytes: size limit per job; larger uploads are split (default 400 MB) (templated).
    :param part_bytes: SQL source: size of each uploaded part (default 8 MiB, at most ``max_upload_bytes``);
        each part is uploaded as its own job while the next is written (templated).
    :param wait_for_completion: wait until the jobs finish (default True) (templated).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: seconds between job status polls (templated).
    :param timeout: seconds to wait for the jobs at most, in every mode (default 7 days; ``None``: no limit)
        (templated).
    :param max_rejected: fail when more rows than this were rejected (templated).
    :param max_rejected_ratio: fail when the rejected fraction exceeds this (templated). Neither given: any
        rejected row fails the task (:mod:`~airflow_provider_events.sync.thresholds`).
    :param checkpoint_path: where the checkpoint lives (default: the local state directory); an object
        storage URI makes retries on other workers re-attach too.
    :param sync_options: further settings of the delivery engine (SQL source): ``chunk_size``,
        ``rejects_path``, ``key_columns``, ``dry_run``, ``progress_interval``, and the delivery ledger's
        ``resend_delivered``, ``ledger_path``, ``ledger_retention_days``, ``use_ledger`` (see
        ``SqlToEventsOperator``): rows an earlier DAG run delivered to the same listing are left out of
        the CSV (templated).

    Templated numbers and flags may render as text (``"5"``, ``"true"``): they are converted when the task
    runs, and a value that is not one fails with an error naming the argument.
    """

    template_fields: Sequence[str] = (
        "destination",
        "customeventaction",
        "file_path",
        "dateformat",
        "sql",
        "parameters",
        "hook_params",
        "mapping",
        "titlecount",
        "max_upload_bytes",
        "part_bytes",
        "wait_for_completion",
        "poll_interval",
        "timeout",
        "max_rejected",
        "max_rejected_ratio",
        "sync_options",
    )
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers = {
        "sql": "sql",
        "parameters": "json",
        "hook_params": "json",
        "mapping": "json",
        "sync_options": "json",
    }
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
        titlecount: int | str | None = None,
        conn_id: str | None = None,
        sql: str | None = None,
        parameters: Mapping[str, Any] | Sequence[Any] | None = None,
        hook_params: Mapping[str, Any] | None = None,
        mapping: Mapping[str, Any] | None = None,
        acton_conn_id: str = ActOnHook.default_conn_name,
        max_upload_bytes: int | str | None = None,
        part_bytes: int | str | None = None,
        wait_for_completion: bool | str = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | str = 30.0,
        timeout: float | str | None = DEFAULT_TIMEOUT,
        max_rejected: int | str | None = None,
        max_rejected_ratio: float | str | None = None,
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
        self.titlecount: Any = titlecount  # templated: converted when the task runs
        self.conn_id = conn_id
        self.sql = sql
        self.parameters = parameters
        self.hook_params = hook_params
        self.mapping = mapping
        self.acton_conn_id = acton_conn_id
        self.max_upload_bytes: Any = max_upload_bytes
        self.part_bytes: Any = part_bytes
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval: Any = poll_interval
        self.timeout: Any = timeout
        self.max_rejected = max_rejected
        self.max_rejected_ratio = max_rejected_ratio
        self.checkpoint_path = checkpoint_path
        self.sync_options = dict(sync_options or {})

    # ------------------------------------------------------------------ execute
    def _convert_rendered(self) -> None:
        """Turn rendered (possibly textual) numbers and flags into their types, naming a bad argument."""
        self.titlecount = as_int("titlecount", self.titlecount, minimum=0, optional=True)
        self.max_upload_bytes = as_int("max_upload_bytes", self.max_upload_bytes, minimum=1, optional=True)
        self.part_bytes = as_int("part_bytes", self.part_bytes, minimum=1, optional=True)
        self.wait_for_completion = as_bool("wait_for_completion", self.wait_for_completion)
        poll_interval = as_float("poll_interval", self.poll_interval, optional=True)
        if poll_interval is None or poll_interval <= 0:
            raise ConfigurationError(f"poll_interval must be more than 0, got {self.poll_interval!r}")
        self.poll_interval = poll_interval
        timeout = as_float("timeout", self.timeout, optional=True)
        if timeout is not None and timeout <= 0:
            raise ConfigurationError(f"timeout must be more than 0 (or None: no limit), got {timeout:g}")
        self.timeout = timeout
        self.max_rejected = as_int("max_rejected", self.max_rejected, minimum=0, optional=True)
        self.max_rejected_ratio = as_float(
            "max_rejected_ratio", self.max_rejected_ratio, minimum=0, maximum=1, optional=True
        )

    def execute(self, context: Context) -> dict[str, Any]:
        self._convert_rendered()
        push_link_target(context, "acton", ActOnHook(self.acton_conn_id).extra("region"), self.destination)
        state = task_checkpoint(context, self.checkpoint_path)
        job_ids = submit_rows(self, context, state) if self.sql is not None else submit_file(self, state)
        if not job_ids:
            self.log.info("Nothing was uploaded")
            return self._result([], state)
        if not self.wait_for_completion:
            return self._submitted(job_ids, state)
        hook = ActOnHook(self.acton_conn_id)
        results = job_results(state)
        known = results.known()
        if self.deferrable:
            jobs = [known.get(j) or hook.get_custom_event_job(j) for j in job_ids]
            if all(job.terminal for job in jobs):
                return self._finish(jobs, state)
            deadline = time.time() + float(self.timeout) if self.timeout else None
            from airflow_provider_events.triggers.acton import ActOnCustomEventJobTrigger

            self.defer(
                trigger=ActOnCustomEventJobTrigger(
                    job_ids,
                    acton_conn_id=self.acton_conn_id,
                    poll_interval=self.poll_interval,
                    deadline=deadline,
                ),
                method_name="execute_complete",
            )
        try:
            jobs = hook.wait_for_custom_event_jobs(
                job_ids,
                poll_interval=self.poll_interval,
                timeout=self.timeout,
                known=known,
                on_terminal=results.remember,
            )
        finally:
            hook.close()
        return self._finish(jobs, state)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        self._convert_rendered()
        state = task_checkpoint(context, self.checkpoint_path)
        from airflow_provider_events.triggers.acton import jobs_from_event

        jobs = jobs_from_event(event)
        results = job_results(state)
        for job in jobs:
            results.remember(job)
        return self._finish(jobs, state)

    # ------------------------------------------------------------------ results
    def _result(self, jobs: list[ActOnCustomEventJob], state: CheckpointState) -> dict[str, Any]:
        summary = summarize_jobs(jobs)  # raises for a failed or expired job
        record = upload_record(state)
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
        remember_result(self, result)
        return result

    def _submitted(self, job_ids: list[str], state: CheckpointState) -> dict[str, Any]:
        """The result when not waiting: job ids and, from SQL rows, what was read and rejected before upload.

        The thresholds apply to the rows rejected before upload; Act-On's own rejects are the sensor's to
        judge (``ActOnCustomEventJobSensor(max_rejected=...)``).
        """
        result: dict[str, Any] = {"job_ids": job_ids, "status": "submitted"}
        if self.sql is not None:
            record = upload_record(state)
            invalid = int(record.get("invalid_rows") or 0)
            rows = int(record.get("rows_read") or 0)
            result.update(rows_read=rows, invalid_rows=invalid, rejects_path=record.get("rejects_path"))
            self._check_rejected(
                invalid, rows, f"{invalid} invalid before upload, jobs {job_ids} not awaited"
            )
        return result

    def _check_rejected(self, rejected: int, rows: int, detail: str) -> None:
        """Raise when ``rejected`` of ``rows`` exceeds the thresholds (the provider's one rule)."""
        check_rejected(
            rejected, rows, self.max_rejected, self.max_rejected_ratio, lambda over: f"{over} ({detail})"
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

    # ------------------------------------------------------------------ OpenLineage
    def get_openlineage_facets_on_start(self) -> Any:
        """OpenLineage: the CSV file or the source SQL's tables in, the Act-On listing out."""
        return self._lineage(complete=False)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """As on start, with the rows Act-On appended as the output's ``rowCount``."""
        return self._lineage(complete=True)

    def _lineage(self, *, complete: bool) -> Any:
        from airflow_provider_events import lineage

        inputs: list[Any] = lineage.sql_lineage_inputs(self.conn_id, self.sql)
        if self.file_path:
            inputs.append(lineage.file_dataset(str(self.file_path)))
        return lineage.delivery_lineage(
            destination_conn_id=self.acton_conn_id,
            destination_options={"destination": self.destination},
            inputs=inputs,
            result=lineage.task_result(self) if complete else None,
            count_key="appended",
        )
