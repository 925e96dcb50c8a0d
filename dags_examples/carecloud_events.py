"""
### Purchases -> CRM CareCloud events, and an export of them

- **purchases_to_carecloud** creates one CareCloud event of the type `event_type_id` per purchase of the
  data interval, on the customer found by e-mail, with the order as property records (checked against the
  event type's properties before sending). The order id is the event's `external_id`: CareCloud refuses a
  second event with the same one, so retries and reruns never duplicate an event.
- **export_events** then lists every event of that type created in the data interval, page by page, into a
  JSON Lines file under `export_dir` (a local directory or an object-storage URI such as `s3://bucket/x`).

Connections: `events_warehouse` (any SQL connection) and `carecloud_default`.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from airflow.sdk import CronDataIntervalTimetable, Param, dag

from airflow_provider_events.operators.carecloud import (
    CareCloudCreateEventsOperator,
    CareCloudListEventsOperator,
)

WAREHOUSE_CONN_ID = "events_warehouse"
# The warehouse keeps UTC timestamps as text "YYYY-MM-DDTHH:MM:SS": bind the data interval in that form.
WINDOW = {
    "start": "{{ data_interval_start.strftime('%Y-%m-%dT%H:%M:%S') }}",
    "end": "{{ data_interval_end.strftime('%Y-%m-%dT%H:%M:%S') }}",
}


@dag(
    dag_id="carecloud_events",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    params={
        "event_type_id": Param(
            "8a0f5e3c1d2b4a6978e5c0d1f2",
            type="string",
            description="the CareCloud event type (Marketing automation > Event types) of a purchase",
        ),
        "export_dir": Param(
            str(Path(tempfile.gettempdir()) / "carecloud-exports"),
            type="string",
            description="where the exports go: a local directory or an object-storage URI (s3://...)",
        ),
    },
    tags=["events", "carecloud", "example"],
    doc_md=__doc__,
)
def carecloud_events() -> None:
    create = CareCloudCreateEventsOperator(
        task_id="purchases_to_carecloud",
        conn_id=WAREHOUSE_CONN_ID,
        carecloud_conn_id="carecloud_default",
        sql="""
            SELECT id, email, order_id, amount, currency, product, purchased_at
            FROM purchases
            WHERE purchased_at >= :start AND purchased_at < :end
            ORDER BY id
        """,
        parameters=WINDOW,
        event_type_id="{{ params.event_type_id }}",
        customer_identifier_type="email",
        mapping={
            "customer_identifier_value": "email",
            "external_id": "order_id",
            "created_at": "{{ row.purchased_at }}Z",  # UTC; converted to the project's zone
            "data": {"source": "{{ 'warehouse' }}"},
            "property_records": {
                "amount": "amount",
                "currency": "currency",
                "product": "product",
                "purchased_at": "{{ row.purchased_at }}Z",
            },
        },
        key_columns=["order_id"],
        max_rejected_ratio=0.05,
    )

    export = CareCloudListEventsOperator(
        task_id="export_events",
        carecloud_conn_id="carecloud_default",
        event_type_id="{{ params.event_type_id }}",
        time_from="{{ data_interval_start }}",
        time_to="{{ data_interval_end }}",
        include_property_records=True,
        sort_field="created_at",
        sort_direction="ASC",
        page_size=100,
        output_path="{{ params.export_dir }}/carecloud_events/{{ data_interval_start | ds }}.jsonl",
    )

    create >> export


carecloud_events()
