"""Act-On operators: upload a CSV file (or SQL rows) of custom events as jobs, send one, list the listings."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, Context, conf

from airflow_provider_events.exceptions import (
    ConfigurationError,
    RejectedThresholdExceededError,
    VendorApiError,
    VendorUnavailableError,
)
from airflow_provider_events.hooks.acton import (
    ActOnCustomEventJob,
    ActOnHook,
    ActOnJobStatus,
    summarize_jobs,
    validate_dateformat,
)
from airflow_provider_events.lineage import remember_result
from airflow_provider_events.links import ActOnListingLink, push_link_target
from airflow_provider_events.operators._listing import ListingLineage
from airflow_provider_events.operators.sync import RowMappingTemplating, row_template_globals
from airflow_provider_events.sync.thresholds import describe, exceeded_limits
from airflow_provider_events.utils.coerce import as_bool, as_float, as_int

if TYPE_CHECKING:
    from airflow_provider_events.sync.adapter import CheckpointState

#: the checkpoint key of the operator (the job ids submitted, the results seen, the validation counts).
STATE_KEY = "acton_upload_operator"

#: how long the upload operator waits for its jobs by default, in every mode: 7 days (as dbt Cloud's
#: operator, and ``[sensors] default_timeout`` for the sensor).
DEFAULT_TIMEOUT = 7 * 24 * 3600.0

#: engine settings of ``sync_options`` and how a rendered (textual) value of each is converted.
_ENGINE_INTS = ("chunk_size", "max_concurrency", "max_consecutive_failures")
_ENGINE_FLOATS = ("max_requests_per_second", "progress_interval")
_ENGINE_BOOLS = ("dry_run", "retry_ambiguous")


def _checkpoint(context: Context, checkpoint_path: str | None) -> CheckpointState:
    from airflow_provider_events.sync.checkpoint import CheckpointIdentity, open_checkpoint

    ti = context["ti"]
    identity = CheckpointIdentity(
        dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, map_index=getattr(ti, "map_index", -1)
    )
    # Airflow >= 3.3: the job handles live in the task state store and follow the task to any worker
    return open_checkpoint(identity, checkpoint_path, context.get("task_state_store"))  # type: ignore[misc]


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

    def execute(self, context: Context) -> Any:
        self._convert_rendered()
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
                on_terminal=lambda job: self._remember(state, job),
            )
        finally:
            hook.close()
        return self._finish(jobs, state)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        self._convert_rendered()
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
        from airflow_provider_events.operators.sync import source_hook_params
        from airflow_provider_events.sync.checkpoint import CheckpointIdentity
        from airflow_provider_events.sync.engine import SyncOptions
        from airflow_provider_events.sync.ledger import LedgerOptions
        from airflow_provider_events.sync.mapping import RowMapping
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
        engine = self._engine_settings()
        ledger = LedgerOptions(
            enabled=as_bool("sync_options.use_ledger", engine.pop("use_ledger", True)),
            resend_delivered=as_bool("sync_options.resend_delivered", engine.pop("resend_delivered", False)),
            path=engine.pop("ledger_path", None),
            retention_days=as_float(
                "sync_options.ledger_retention_days",
                engine.pop("ledger_retention_days", None),
                minimum=0,
                optional=True,
            ),
        )
        chunk_size = int(engine.pop("chunk_size", 1000))
        rejects_path = engine.pop("rejects_path", None)
        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        report = sync_rows(
            destination_conn_id=self.acton_conn_id,
            source=SqlSource(
                str(self.conn_id),
                str(self.sql),
                self.parameters,
                chunk_size,
                hook_params=source_hook_params(self.hook_params),
            ),
            mapping=RowMapping(self.mapping, template_globals=row_template_globals(context)),
            identity=CheckpointIdentity(
                ti.dag_id, ti.run_id, ti.task_id, -1 if map_index is None else map_index
            ),
            destination_options=options,
            # thresholds apply here once the jobs' rejected counts are known (ratio 1: none in the engine)
            options=SyncOptions(
                **engine, wait_for_completion=False, max_rejected=None, max_rejected_ratio=1.0
            ),
            rejects_path=rejects_path,
            checkpoint_path=self.checkpoint_path,
            log=self.log,
            task_state_store=context.get("task_state_store"),  # type: ignore[misc]
            ledger=ledger,
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

    def _engine_settings(self) -> dict[str, Any]:
        """``sync_options`` with rendered (textual) values converted; ``key_columns`` as a list."""
        from airflow_provider_events.utils.coerce import as_str_list

        given = self.sync_options
        if isinstance(given, str):  # the whole dict rendered from one template
            import json

            try:
                given = json.loads(given) if given.strip() else {}
            except ValueError:
                raise ConfigurationError(f"sync_options must be a mapping, got {given!r}") from None
        if not isinstance(given, Mapping):
            raise ConfigurationError(f"sync_options must be a mapping, got {type(given).__name__}")
        engine = dict(given)
        for name in _ENGINE_INTS:
            if name in engine:
                engine[name] = as_int(f"sync_options.{name}", engine[name], minimum=1, optional=True)
        for name in _ENGINE_FLOATS:
            if name in engine:
                engine[name] = as_float(f"sync_options.{name}", engine[name], minimum=0, optional=True)
        for name in _ENGINE_BOOLS:
            if name in engine:
                engine[name] = as_bool(f"sync_options.{name}", engine[name])
        if "key_columns" in engine:
            engine["key_columns"] = as_str_list("sync_options.key_columns", engine["key_columns"])
        if engine.get("chunk_size") is None:
            engine.pop("chunk_size", None)
        return engine

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
        remember_result(self, result)
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
        """Raise when ``rejected`` of ``rows`` exceeds the thresholds (the provider's one rule)."""
        limits = exceeded_limits(
            rejected,
            rows,
            as_int("max_rejected", self.max_rejected, minimum=0, optional=True),
            as_float("max_rejected_ratio", self.max_rejected_ratio, minimum=0, maximum=1, optional=True),
        )
        if limits:
            raise RejectedThresholdExceededError(f"{describe(rejected, rows, limits)} ({detail})")

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


class ActOnSendCustomEventOperator(BaseOperator):
    """Record one custom event through Act-On's fact endpoint (for event-driven DAGs).

    Returns (XCom) ``{"destination": ..., "customeventaction": ..., "status": "sent"}`` (never the e-mail).

    The fact endpoint has no idempotency key: a resent request records the event twice. When the outcome is
    unknown (a timeout after sending, a dropped connection, a 5xx), the task therefore fails *without*
    Airflow retries unless ``retry_ambiguous`` is set, as ``ExpertSenderCdpSegmentScenarioOperator`` does.
    A failure known not to have reached Act-On (refused connection, 429, 4xx) is retried as usual.

    :param destination: custom-event listing name (templated).
    :param customeventaction: the event type (templated).
    :param contact_email: the contact's e-mail (templated). (Not ``email``: that is BaseOperator's alert
        address list.)
    :param when: the event date: a date/datetime, or text already in ``dateformat`` (templated; default: the
        run's logical date, else now).
    :param title: the event title (templated).
    :param note: optional note (templated).
    :param dateformat: Java-style pattern of ``when`` (templated).
    :param createlistingentry: create the destination when it does not exist (templated).
    :param acton_conn_id: the ``acton`` connection id.
    :param retry_ambiguous: let Airflow retry the task after an ambiguous failure (at-least-once; the event
        may be recorded twice). Default False (at-most-once) (templated).
    """

    template_fields: Sequence[str] = (
        "destination",
        "customeventaction",
        "contact_email",
        "when",
        "title",
        "note",
        "dateformat",
        "createlistingentry",
        "retry_ambiguous",
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
        createlistingentry: bool | str | None = None,
        acton_conn_id: str = ActOnHook.default_conn_name,
        retry_ambiguous: bool | str = False,
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
        self.retry_ambiguous = retry_ambiguous

    def execute(self, context: Context) -> Any:
        from datetime import datetime, timezone

        when = self.when
        if when in (None, ""):
            when = context.get("logical_date") or datetime.now(timezone.utc)
        retry_ambiguous = as_bool("retry_ambiguous", self.retry_ambiguous)
        createlistingentry = (
            None
            if self.createlistingentry in (None, "")
            else as_bool("createlistingentry", self.createlistingentry)
        )
        hook = ActOnHook(self.acton_conn_id)
        try:
            # log in first, outside the guard below: a lost login answer is safe to retry and must not be
            # mistaken for a lost event
            hook.get_access_token()
        except BaseException:
            hook.close()
            raise
        try:
            hook.send_custom_event_fact(
                destination=self.destination,
                customeventaction=self.customeventaction,
                email=self.contact_email,
                when=when,
                title=self.title,
                note=self.note,
                dateformat=self.dateformat,
                createlistingentry=createlistingentry,
            )
        except (VendorApiError, VendorUnavailableError) as exc:
            if getattr(exc, "ambiguous", False) and not retry_ambiguous:
                from airflow.sdk.exceptions import AirflowFailException

                raise AirflowFailException(
                    f"the Act-On custom event's outcome is unknown ({type(exc).__name__}); not retrying, "
                    "since a retry could record it twice. Check the contact's events in Act-On, or set "
                    "retry_ambiguous=True to allow retries."
                ) from exc
            raise
        finally:
            hook.close()
        self.log.info("Act-On custom event sent to %s", self.destination)
        return {
            "destination": self.destination,
            "customeventaction": self.customeventaction,
            "status": "sent",
        }

    # ------------------------------------------------------------------ OpenLineage
    def get_openlineage_facets_on_start(self) -> Any:
        """OpenLineage: the Act-On listing as output."""
        from airflow_provider_events import lineage

        return lineage.delivery_lineage(
            destination_conn_id=self.acton_conn_id, destination_options={"destination": self.destination}
        )

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """As on start, with ``rowCount`` 1 (the event sent)."""
        from airflow_provider_events import lineage

        return lineage.delivery_lineage(
            destination_conn_id=self.acton_conn_id,
            destination_options={"destination": self.destination},
            row_count=1,
        )


#: columns of a CSV export of custom-event listings, in order.
DESTINATION_CSV_COLUMNS = ("id", "name", "title", "folderName", "description", "sourceSize", "tsLastModified")


class ActOnListCustomEventDestinationsOperator(ListingLineage, BaseOperator):
    """Stream Act-On's custom-event listings (destinations) and their titles to a JSON Lines or CSV file.

    Reads ``GET /api/1/list?listingtype=custom_events`` page by page (``count``/``offset``, up to 1000 per
    request) and writes each listing as it comes. Each record keeps the fields Act-On returns (``id``,
    ``name``, ``folderName``, ``description``, ``sourceSize`` = its number of events, ``tsLastModified``
    ...) plus ``title``: the title Act-On gives the listing, else its name (the unique display name the UI
    shows, and what ``destination`` of the upload operators refers to). The API has no filters: ``names``,
    ``name_pattern`` and ``folder_name`` are applied here. Returns ``{"count": N, "path": output_path}``.

    :param output_path: a local path or any ``ObjectStoragePath`` URI (templated).
    :param file_format: ``jsonl`` or ``csv``; default from the path's suffix (templated).
    :param names: only these listings (exact names) (templated).
    :param name_pattern: only listings whose name matches this shell-style pattern, case-insensitively,
        e.g. ``"Webinar*"`` (templated).
    :param folder_name: only listings in this folder (templated).
    :param page_size: listings per request, 1..1000.
    :param acton_conn_id: the ``acton`` connection id.
    """

    template_fields: Sequence[str] = ("output_path", "file_format", "names", "name_pattern", "folder_name")
    ui_color = "#e8f1fb"

    def __init__(
        self,
        *,
        output_path: str,
        file_format: str | None = None,
        names: Sequence[str] | None = None,
        name_pattern: str | None = None,
        folder_name: str | None = None,
        page_size: int = 1000,
        acton_conn_id: str = ActOnHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not 1 <= page_size <= 1000:
            raise ConfigurationError("page_size must be between 1 and 1000")
        self.output_path = output_path
        self.file_format = file_format
        self.names = names
        self.name_pattern = name_pattern
        self.folder_name = folder_name
        self.page_size = page_size
        self.acton_conn_id = acton_conn_id

    def _selected(self, listings: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        from fnmatch import fnmatchcase

        names = {self.names} if isinstance(self.names, str) else set(self.names or ())
        pattern = str(self.name_pattern).casefold() if self.name_pattern else None
        for listing in listings:
            name = str(listing.get("name") or "")
            if names and name not in names:
                continue
            if pattern is not None and not fnmatchcase(name.casefold(), pattern):
                continue
            if self.folder_name and listing.get("folderName") != self.folder_name:
                continue
            if listing.get("title") in (None, ""):
                listing["title"] = name
            yield listing

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_events.operators._listing import export_records, resolve_format

        path = str(self.output_path)
        fmt = resolve_format(path, self.file_format)
        hook = ActOnHook(self.acton_conn_id)
        try:
            listings = hook.list_custom_event_destinations(page_size=self.page_size)
            count = export_records(self._selected(listings), path, fmt, DESTINATION_CSV_COLUMNS)
        finally:
            hook.close()
        self.log.info("Wrote %d Act-On custom-event listings as %s", count, fmt)
        result = {"count": count, "path": path}
        remember_result(self, result)
        return result

    def _lineage_source(self) -> tuple[str, dict[str, Any]]:
        """OpenLineage (see :class:`ListingLineage`): the account's custom-event listings."""
        return self.acton_conn_id, {}
