"""
### Export what the vendors hold: Act-On listings, Gainsight PX custom events, CareCloud events

Every day, three independent exports land under `export_dir/<date>/` (a local directory or an
object-storage URI such as `s3://bucket/exports`), each written as it is read, one page in memory:

- **acton_listings**: Act-On's custom-event listings (destinations) whose name matches
  `acton_name_pattern`, with their titles, as CSV.
- **gainsight_px_events**: the Gainsight PX custom events of the data interval (optionally of one
  `gainsight_px_event_name`), oldest first, as JSON Lines. Windows longer than the API's 190 days are read
  in several parts.
- **carecloud_events**: the CareCloud events of the data interval whose event type is named
  `carecloud_event_type` (a name or a `text_id`, looked up once), as JSON Lines.

Each task returns only `{"count": N, "path": ...}` to XCom. Connections: `acton_default`,
`gainsight_px_default` (a REST API key with the read permission) and `carecloud_default`.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from airflow.sdk import CronDataIntervalTimetable, Param, dag

from airflow_provider_events.operators.acton import ActOnListCustomEventDestinationsOperator
from airflow_provider_events.operators.carecloud import CareCloudListEventsOperator
from airflow_provider_events.operators.gainsight_px import GainsightPXListCustomEventsOperator

EXPORT_DIR = "{{ params.export_dir }}/{{ data_interval_start | ds }}"


@dag(
    dag_id="list_vendor_events",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    params={
        "export_dir": Param(
            str(Path(tempfile.gettempdir()) / "vendor-exports"),
            type="string",
            description="where the exports go: a local directory or an object-storage URI (s3://...)",
        ),
        "acton_name_pattern": Param(
            "*", type="string", description="Act-On listings to export: a shell-style name pattern"
        ),
        "gainsight_px_event_name": Param(
            "", type="string", description="only Gainsight PX custom events of this name; empty: all"
        ),
        "carecloud_event_type": Param(
            "Online purchase", type="string", description="the CareCloud event type, by name or text_id"
        ),
    },
    tags=["events", "acton", "gainsight_px", "carecloud", "example"],
    doc_md=__doc__,
)
def list_vendor_events() -> None:
    # --8<-- [start:listing]
    ActOnListCustomEventDestinationsOperator(
        task_id="acton_listings",
        name_pattern="{{ params.acton_name_pattern }}",
        output_path=EXPORT_DIR + "/acton_listings.csv",
    )

    GainsightPXListCustomEventsOperator(
        task_id="gainsight_px_events",
        # start/end default to the data interval; give them (templated) for any other window
        event_name="{{ params.gainsight_px_event_name }}",
        sort="date",
        output_path=EXPORT_DIR + "/gainsight_px_events.jsonl",
    )

    CareCloudListEventsOperator(
        task_id="carecloud_events",
        event_type="{{ params.carecloud_event_type }}",
        time_from="{{ data_interval_start }}",
        time_to="{{ data_interval_end }}",
        sort_field="created_at",
        sort_direction="ASC",
        output_path=EXPORT_DIR + "/carecloud_events.jsonl",
    )
    # --8<-- [end:listing]


list_vendor_events()
