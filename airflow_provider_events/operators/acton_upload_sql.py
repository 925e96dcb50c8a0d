"""The SQL source of the Act-On upload operator: rows streamed, mapped and validated by the delivery engine,
then written to CSV and uploaded as jobs by the Act-On adapter (without waiting: the operator waits).

Also converts the operator's ``sync_options`` (the engine settings, possibly rendered as text) to their types.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk import Context

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.operators._common import task_identity, task_state_store
from airflow_provider_events.operators.acton_upload_state import save_upload_record, upload_record
from airflow_provider_events.operators.sync import row_template_globals, source_hook_params
from airflow_provider_events.utils.coerce import as_bool, as_float, as_int, as_str_list

if TYPE_CHECKING:
    from airflow_provider_events.operators.acton_upload import ActOnUploadCustomEventsOperator
    from airflow_provider_events.sync.adapter import CheckpointState
    from airflow_provider_events.sync.ledger import LedgerOptions

#: engine settings of ``sync_options`` and how a rendered (textual) value of each is converted.
_ENGINE_INTS = ("chunk_size", "max_concurrency", "max_consecutive_failures")
_ENGINE_FLOATS = ("max_requests_per_second", "progress_interval")
_ENGINE_BOOLS = ("dry_run", "retry_ambiguous")


def submit_rows(
    operator: ActOnUploadCustomEventsOperator, context: Context, state: CheckpointState
) -> list[str]:
    """Stream, map, validate and upload the rows through the delivery engine (without waiting)."""
    from airflow_provider_events.sync.engine import SyncOptions
    from airflow_provider_events.sync.mapping import RowMapping
    from airflow_provider_events.sync.runner import sync_rows
    from airflow_provider_events.sync.source import SqlSource

    record = upload_record(state)
    if record.get("submitted"):
        operator.log.info("Re-attaching to Act-On jobs %s submitted by an earlier attempt", record["job_ids"])
        return [str(j) for j in record.get("job_ids") or []]
    engine = engine_settings(operator.sync_options)
    ledger = _ledger_options(engine)
    chunk_size = int(engine.pop("chunk_size", 1000))
    rejects_path = engine.pop("rejects_path", None)
    report = sync_rows(
        destination_conn_id=operator.acton_conn_id,
        source=SqlSource(
            str(operator.conn_id),
            str(operator.sql),
            operator.parameters,
            chunk_size,
            hook_params=source_hook_params(operator.hook_params),
        ),
        mapping=RowMapping(operator.mapping, template_globals=row_template_globals(context)),
        identity=task_identity(context),
        destination_options=_destination_options(operator),
        # thresholds apply here once the jobs' rejected counts are known (ratio 1: none in the engine)
        options=SyncOptions(**engine, wait_for_completion=False, max_rejected=None, max_rejected_ratio=1.0),
        rejects_path=rejects_path,
        checkpoint_path=operator.checkpoint_path,
        log=operator.log,
        task_state_store=task_state_store(context),
        ledger=ledger,
    )
    record.update(
        job_ids=list(report.job_ids),
        submitted=True,
        rows_read=report.rows_read,
        invalid_rows=report.rejected - report.rejected_by_vendor,
        rejects_path=report.rejects_path,
    )
    save_upload_record(state, record)
    return list(report.job_ids)


def _destination_options(operator: ActOnUploadCustomEventsOperator) -> dict[str, Any]:
    """The Act-On adapter's options: listing, action, CSV layout and the optional upload settings."""
    options: dict[str, Any] = {
        "destination": operator.destination,
        "customeventaction": operator.customeventaction,
        "fieldseparator": operator.fieldseparator,
        "quotecharacter": operator.quotecharacter,
    }
    optional = {
        "dateformat": operator.dateformat,
        "titlecount": operator.titlecount,
        "max_upload_bytes": operator.max_upload_bytes,
        "part_bytes": operator.part_bytes,
    }
    options.update({name: value for name, value in optional.items() if value is not None})
    return options


def _ledger_options(engine: dict[str, Any]) -> LedgerOptions:
    """The delivery ledger's settings, taken out of the engine settings."""
    from airflow_provider_events.sync.ledger import LedgerOptions

    return LedgerOptions(
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


def engine_settings(sync_options: Mapping[str, Any] | str) -> dict[str, Any]:
    """``sync_options`` with rendered (textual) values converted; ``key_columns`` as a list."""
    given: object = sync_options
    if isinstance(given, str):  # the whole dict rendered from one template
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
