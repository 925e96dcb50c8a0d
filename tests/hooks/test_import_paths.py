"""The Act-On and CareCloud hook splits keep the old import paths working."""

from __future__ import annotations

from airflow_provider_events.hooks import (
    acton,
    acton_csv,
    acton_dates,
    acton_jobs,
    acton_uploads,
    carecloud,
    carecloud_events,
)
from airflow_provider_events.utils import multipart


def test_old_import_paths_name_the_moved_objects() -> None:
    assert acton.ActOnJobStatus is acton_jobs.ActOnJobStatus
    assert acton.classify_job_status is acton_jobs.classify_job_status
    assert acton.summarize_jobs is acton_jobs.summarize_jobs
    assert acton.format_acton_date is acton_dates.format_acton_date
    assert acton.CsvLayout is acton_csv.CsvLayout
    assert acton.split_csv_file is acton_csv.split_csv_file
    assert acton.MultipartFileBody is multipart.MultipartFileBody
    assert acton.CUSTOM_EVENT_ACTIONS is acton_uploads.CUSTOM_EVENT_ACTIONS
    assert issubclass(acton.ActOnHook, acton_uploads.ActOnCustomEventUploads)
    assert carecloud.IDENTIFIER_TYPES is carecloud_events.IDENTIFIER_TYPES
    for name in acton.__all__:
        assert hasattr(acton, name), name
