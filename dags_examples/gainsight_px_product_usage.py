"""
### Product usage -> Gainsight PX custom events

Every day, the product-usage rows of the data interval become Gainsight PX custom events, one request per
event, paced below the API's ~200 requests per second. Each event's `eventId` is derived from the row id,
so a resent event keeps its id. Rows without a user are rejected and written to the rejects file; more than
`max_rejected_ratio` of them fails the task. With `verify_delivery=True` the events are read back from
Gainsight PX after sending, and the report says how many were found.

`property_key` is the product's tag key (`AP-XXXXXXXXXX-2`); left empty, the `gainsight_px_default`
connection's `property_key` extra is used. Connections: `events_warehouse` (any SQL connection) and
`gainsight_px_default` (a REST API key with read and write permissions).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import CronDataIntervalTimetable, Param, dag

from airflow_provider_events.operators.gainsight_px import GainsightPXSendCustomEventsOperator

WAREHOUSE_CONN_ID = "events_warehouse"
# The warehouse keeps UTC timestamps as text "YYYY-MM-DDTHH:MM:SS": bind the data interval in that form.
WINDOW = {
    "start": "{{ data_interval_start.strftime('%Y-%m-%dT%H:%M:%S') }}",
    "end": "{{ data_interval_end.strftime('%Y-%m-%dT%H:%M:%S') }}",
}


@dag(
    dag_id="gainsight_px_product_usage",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    params={
        "property_key": Param("", type="string", description="product tag key; empty: the connection's"),
    },
    tags=["events", "gainsight_px", "example"],
    doc_md=__doc__,
)
def gainsight_px_product_usage() -> None:
    GainsightPXSendCustomEventsOperator(
        task_id="usage_to_gainsight_px",
        conn_id=WAREHOUSE_CONN_ID,
        gainsight_px_conn_id="gainsight_px_default",
        sql="""
            SELECT id, user_id, account_id, event_name, feature, duration_seconds, occurred_at
            FROM product_usage
            WHERE occurred_at >= :start AND occurred_at < :end
            ORDER BY id
        """,
        parameters=WINDOW,
        property_key="{{ params.property_key }}",
        mapping={
            "identifyId": "user_id",
            "accountId": "account_id",
            "eventName": "event_name",
            "date": "occurred_at",  # UTC text; naive timestamps are taken as UTC
            "attributes": {"feature": "feature", "duration_seconds": "duration_seconds"},
        },
        key_columns=["id"],
        max_rejected_ratio=0.05,
        verify_delivery=True,
        verify_timeout=120,  # Gainsight PX may index events with a delay
    )


gainsight_px_product_usage()
