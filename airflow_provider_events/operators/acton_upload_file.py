"""The CSV file source of the Act-On upload operator: a local or object-storage file uploaded as jobs.

The file is streamed to Act-On, never loaded in memory; an object-storage URI is first copied to the spool
directory in chunks. Files above ``max_upload_bytes`` are split on row boundaries by the hook. Every job id is
recorded as soon as it is known, so a retry re-attaches to the jobs instead of uploading again, and uploads
again only the parts whose job Act-On reported failed (nothing appended).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_events.exceptions import ConfigurationError
from airflow_provider_events.hooks.acton import ActOnHook, ActOnJobStatus, validate_dateformat
from airflow_provider_events.operators.acton_upload_state import save_upload_record, upload_record

if TYPE_CHECKING:
    from airflow_provider_events.operators.acton_upload import ActOnUploadCustomEventsOperator
    from airflow_provider_events.sync.adapter import CheckpointState

#: the chunk size of copying an object-storage file to local disk.
_COPY_CHUNK_BYTES = 1024 * 1024


def submit_file(operator: ActOnUploadCustomEventsOperator, state: CheckpointState) -> list[str]:
    """Upload the operator's file as jobs (without waiting); re-attach to the jobs of an earlier attempt."""
    log = operator.log
    record = upload_record(state)
    job_ids: list[str | None] = list(record.get("job_ids") or [])
    results: dict[str, Any] = dict(record.get("results") or {})
    failed = [j for j in job_ids if j and results.get(j, {}).get("status") == ActOnJobStatus.FAILED.value]
    if record.get("submitted") and not failed:
        log.info("Re-attaching to Act-On jobs %s submitted by an earlier attempt", job_ids)
        return [str(j) for j in job_ids]
    if failed:
        # a job Act-On reports failed appended nothing: upload its part again, keep the others
        log.info("Act-On jobs %s failed in an earlier attempt: uploading their parts again", failed)
        job_ids = [None if j in failed else j for j in job_ids]
        record["results"] = {k: v for k, v in results.items() if k not in failed}
    elif job_ids:
        log.info("Resuming an upload interrupted after jobs %s", job_ids)
    if not operator.dateformat:
        raise ConfigurationError("a file source needs the dateformat of its date column")
    validate_dateformat(operator.dateformat)
    hook = ActOnHook(operator.acton_conn_id)

    def on_submitted(ids: list[str | None]) -> None:
        record["job_ids"] = ids
        save_upload_record(state, record)

    file_path = str(operator.file_path)
    local, temporary = local_copy(file_path, state.spool_dir)
    try:
        submitted = hook.upload_custom_events_split(
            local,
            max_upload_bytes=operator.max_upload_bytes,
            spool_dir=state.spool_dir,
            already_submitted=job_ids,
            on_submitted=on_submitted,
            destination=operator.destination,
            customeventaction=operator.customeventaction,
            email_col=operator.email_col,
            date_col=operator.date_col,
            title_col=operator.title_col,
            note_col=operator.note_col,
            title_count=operator.titlecount,
            dateformat=operator.dateformat,
            firstrow=operator.firstrow,
            fieldseparator=operator.fieldseparator,
            quotecharacter=operator.quotecharacter,
            filename=os.path.basename(file_path.rstrip("/")) or None,
        )
    finally:
        if temporary:
            Path(local).unlink(missing_ok=True)
        hook.close()
    record.update(job_ids=submitted, submitted=True)
    save_upload_record(state, record)
    return submitted


def local_copy(path: str, spool_dir: str) -> tuple[str, bool]:
    """``(a local path for path, whether it is a temporary copy)``: an object-storage URI is copied to the
    spool directory in chunks; a local path or ``file://`` URI is used as is."""
    if path.startswith("file://"):
        return path[len("file://") :], False
    if "://" not in path:
        return path, False
    from airflow.sdk import ObjectStoragePath

    target = Path(spool_dir) / f"source-{uuid.uuid4().hex[:12]}.csv"
    source = ObjectStoragePath(path)
    with source.open("rb") as src, open(target, "wb") as dst:  # type: ignore[no-untyped-call]
        shutil.copyfileobj(src, dst, _COPY_CHUNK_BYTES)
    return str(target), True
